package analyzer

import (
	"go/types"
	"strings"
)

// A mutexRef is the lock that guards a map, as the fix would spell it.
type mutexRef struct {
	canon *expr         // the mutex's address in the function of the fix
	src   releaseSource // mapSrc holds the mutex expression
}

// guard returns the mutex that guards op's map: held at op, or held where
// the package's other operations on the map run. ok is false when a lock
// guards the map but the fix cannot name it.
func (a *checker) guard(fi *funcInfo, op *mapOp, src releaseSource) (*mutexRef, bool) {
	// The lock held at the operation itself.
	for _, lo := range fi.locks {
		if !lo.lock || lo.deferred || a.lockSyntax(lo) == nil {
			continue
		}
		if op.instr != nil && a.lockStateAt(fi, lo.mu, op.instr) == lockHeld {
			if lo.read {
				return nil, false // a read lock does not protect a write
			}
			return a.mutexFrom(lo), true
		}
	}
	// A lock held at other operations on the same map, in this function
	// or elsewhere in the package.
	var hit *guardHit
	if op.mapVar != nil {
		hit = a.guardOf(op.mapVar)
	} else {
		hit = a.localGuard(fi, op)
	}
	if hit == nil {
		return nil, true
	}
	if hit.ofi == fi && a.lockSyntax(hit.lo) != nil {
		return a.mutexFrom(hit.lo), true
	}
	// Spell the sibling mutex of the map's field: c.pending -> c.mu.
	muField, ok := siblingField(hit.lo.mu, hit.other.m)
	i := strings.LastIndexByte(src.mapSrc, '.')
	if !ok || i < 0 {
		return nil, false
	}
	ref := &mutexRef{src: releaseSource{mapSrc: src.mapSrc[:i+1] + muField, vars: src.vars, fields: src.fields, after: src.after}}
	if op.m.Kind == kField { // &c.mu, to look its state up in fi
		ref.canon = node(kAddr, "", node(kField, muField, op.m.Args[0]))
	}
	return ref, true
}

// A guardHit is an operation on a map made while holding a mutex.
type guardHit struct {
	ofi   *funcInfo
	lo    *lockOp
	other *mapOp
}

// guardOf returns an operation on the map held in v made under a mutex,
// if any (computed once for all maps of the package).
func (a *checker) guardOf(v *types.Var) *guardHit {
	if a.guards == nil {
		a.guards = make(map[*types.Var]*guardHit)
		for _, fn := range a.funcs {
			ofi := a.infos[fn]
			for _, other := range ofi.ops {
				if other.kind == opLookup || !other.direct() || other.is(flagSyncMap) || other.mapVar == nil || a.guards[other.mapVar] != nil {
					continue
				}
				if lo := a.heldAt(ofi, other); lo != nil {
					a.guards[other.mapVar] = &guardHit{ofi, lo, other}
				}
			}
		}
	}
	return a.guards[v]
}

// localGuard looks for a guarded operation on op's map in fi's function.
func (a *checker) localGuard(fi *funcInfo, op *mapOp) *guardHit {
	for _, other := range fi.ops {
		if other.kind == opLookup || !other.direct() || other.is(flagSyncMap) || !same(other.m, op.m) {
			continue
		}
		if lo := a.heldAt(fi, other); lo != nil {
			return &guardHit{fi, lo, other}
		}
	}
	return nil
}

// heldAt returns a (write) lock held at op, if any.
func (a *checker) heldAt(fi *funcInfo, op *mapOp) *lockOp {
	for _, lo := range fi.locks {
		if lo.lock && !lo.read && !lo.deferred && a.lockStateAt(fi, lo.mu, op.instr) == lockHeld {
			return lo
		}
	}
	return nil
}

// mutexFrom spells the mutex lo locks as its own call does (c.mu in
// c.mu.Lock()).
func (a *checker) mutexFrom(lo *lockOp) *mutexRef {
	syntax := a.lockSyntax(lo)
	ref := &mutexRef{canon: lo.mu}
	ref.src = releaseSource{mapSrc: exprString(syntax), after: lo.instr.Pos()}
	scope := a.innermost(lo.instr.Pos())
	for _, id := range baseIdents(syntax) {
		if scope == nil {
			break
		}
		if _, obj := scope.LookupParent(id.Name, lo.instr.Pos()); obj != nil {
			ref.src.vars = append(ref.src.vars, namedObj{id.Name, obj})
		}
	}
	return ref
}

// siblingField returns the name of the mutex field mu (the address
// &base.mu) that sits next to the map's field otherMap (base.pending) in
// the same struct, if it does.
func siblingField(mu, otherMap *expr) (string, bool) {
	if otherMap.Kind != kField || mu.Kind != kAddr || mu.Args[0].Kind != kField {
		return "", false
	}
	field := mu.Args[0]
	if !same(field.Args[0], otherMap.Args[0]) {
		return "", false
	}
	return field.Name, true
}
