package analyzer

import (
	"go/token"

	"golang.org/x/tools/go/ssa"
)

// outer rewrites e, an expr in a closure, in terms of the enclosing
// functions, as far as the closures' bindings allow.
func (a *checker) outer(fi *funcInfo, e *expr) (*funcInfo, *expr) {
	for depth := 0; fi.isClosure && e.mentionsFree() && depth < 8; depth++ {
		mc := a.closures[fi.fn]
		parent := a.infos[fi.fn.Parent()]
		if mc == nil || parent == nil {
			return fi, e
		}
		frees := make([]*expr, len(mc.Bindings))
		for i, b := range mc.Bindings {
			frees[i] = parent.canon.of(b)
		}
		ne := substFrees(e, frees)
		if ne == nil {
			return fi, e
		}
		fi, e = parent, ne
	}
	return fi, e
}

// How a value made in a function outlives the call.
const (
	escNone   = iota
	escReturn // only by being returned (directly or inside returned values)
	escOther  // stored into a field or global, sent, captured by a stored closure
)

// escapes reports whether a map (or struct holding one) made in fi's
// function outlives the call: stored into a field or global, returned,
// sent on a channel, or captured by a closure that is returned or stored.
// A map shared only with goroutines the function starts, or passed to
// calls, is not considered to escape.
func (a *checker) escapes(fi *funcInfo, v ssa.Value, depth int) bool {
	return a.escapeKind(fi, v, depth) != escNone
}

func (a *checker) escapeKind(fi *funcInfo, v ssa.Value, depth int) int {
	if depth > 6 {
		return escNone
	}
	refs := v.Referrers()
	if refs == nil {
		return escNone
	}
	kind := escNone
	note := func(k int) {
		if k > kind {
			kind = k
		}
	}
	for _, r := range *refs {
		if kind == escOther {
			break
		}
		switch r := r.(type) {
		case *ssa.Store:
			if r.Val != v {
				continue
			}
			switch addr := r.Addr.(type) {
			case *ssa.Alloc:
				// A local variable: follow its loads and captures.
				note(a.escapeKind(fi, addr, depth+1))
				note(a.cellEscapeKind(fi, addr, depth+1))
			case *ssa.FieldAddr:
				if base, ok := addr.X.(*ssa.Alloc); ok && base.Parent() == fi.fn {
					note(a.escapeKind(fi, base, depth+1))
					continue
				}
				note(escOther)
			default:
				note(escOther)
			}
		case *ssa.Return:
			note(escReturn)
		case *ssa.Send:
			note(escOther)
		case *ssa.MapUpdate:
			if r.Value == v {
				// Stored into another map: as long-lived as that map.
				if isLocalValue(r.Map, fi.fn) {
					note(a.escapeKind(fi, localBase(r.Map), depth+1))
				} else {
					note(escOther)
				}
			}
		case *ssa.MakeInterface, *ssa.ChangeType, *ssa.Phi, *ssa.UnOp:
			note(a.escapeKind(fi, r.(ssa.Value), depth+1))
		case *ssa.MakeClosure:
			note(a.escapeKind(fi, r, depth+1))
		}
	}
	return kind
}

// isLocalValue reports whether v is a map made in fn, possibly loaded from
// a local variable.
func isLocalValue(v ssa.Value, fn *ssa.Function) bool {
	switch v := v.(type) {
	case *ssa.MakeMap:
		return v.Parent() == fn
	case *ssa.UnOp:
		if al, ok := v.X.(*ssa.Alloc); ok {
			return al.Parent() == fn
		}
	}
	return false
}

// localBase returns the value to follow for a local map: the variable it
// is loaded from, or the map itself.
func localBase(v ssa.Value) ssa.Value {
	if u, ok := v.(*ssa.UnOp); ok {
		return u.X
	}
	return v
}

// localRootKind returns how the local map at the root of m escapes, or
// escOther when m is not rooted in a local value.
func (a *checker) localRootKind(fi *funcInfo, m *expr) int {
	ofi, om := a.outer(fi, m)
	root, _ := om.root()
	if root == nil || root.Kind != kLocal || ofi != fi {
		return escOther // (a closure's map outlives the closure's returns)
	}
	v := ofi.canon.locals[root.Name]
	if v == nil {
		return escOther
	}
	return a.escapeKind(ofi, v, 0)
}

// cellEscapeKind reports how the local variable cell escapes through the
// values loaded from it and the closures that capture it.
func (a *checker) cellEscapeKind(fi *funcInfo, cell *ssa.Alloc, depth int) int {
	kind := escNone
	for _, r := range *cell.Referrers() {
		k := escNone
		switch r := r.(type) {
		case *ssa.UnOp:
			if r.Op == token.MUL {
				k = a.escapeKind(fi, r, depth+1)
			}
		case *ssa.MakeClosure:
			k = a.escapeKind(fi, r, depth+1)
		}
		if k > kind {
			kind = k
		}
	}
	return kind
}
