package analyzer

import (
	"go/parser"
	"go/types"
	"strings"
)

// A mutexRef is the lock that guards a map, as the fix would spell it.
type mutexRef struct {
	canon string
	src   releaseSource // mapSrc holds the mutex expression
}

// guard returns the mutex that guards op's map: held at op, or held where
// the package's other operations on the map run. ok is false when a lock
// guards the map but the fix cannot name it.
func (a *checker) guard(fi *funcInfo, op *mapOp, src releaseSource) (*mutexRef, bool) {
	// The lock held at the operation itself.
	for _, lo := range fi.locks {
		if !lo.lock || lo.deferred || a.lockSource(lo) == "" {
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
	if hit.ofi == fi && a.lockSource(hit.lo) != "" {
		return a.mutexFrom(hit.lo), true
	}
	// Spell the sibling mutex of the map's field: c.pending -> c.mu.
	mu := siblingMutex(hit.lo.mu, hit.other.m, src.mapSrc)
	if mu == "" {
		return nil, false
	}
	return &mutexRef{canon: siblingCanon(hit.lo.mu, hit.other.m, op.m), src: mutexSource(mu, src)}, true
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
				if other.kind == opLookup || !other.direct() || other.syncMap || other.mapVar == nil || a.guards[other.mapVar] != nil {
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
		if other.kind == opLookup || !other.direct() || other.syncMap || !same(other.m, op.m) {
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

func (a *checker) mutexFrom(lo *lockOp) *mutexRef {
	ref := &mutexRef{canon: lo.mu}
	ref.src = releaseSource{mapSrc: a.lockSource(lo), after: lo.instr.Pos()}
	if e, err := parser.ParseExpr(ref.src.mapSrc); err == nil {
		scope := a.innermost(lo.instr.Pos())
		for _, id := range baseIdents(e) {
			if scope == nil {
				break
			}
			if _, obj := scope.LookupParent(id.Name, lo.instr.Pos()); obj != nil {
				ref.src.vars = append(ref.src.vars, namedObj{id.Name, obj})
			}
		}
	}
	return ref
}

// siblingMutex spells, from the map expression mapSrc (c.pending), the
// mutex that sits next to the map's field in the same struct (c.mu).
func siblingMutex(muCanon string, otherMap *expr, mapSrc string) string {
	if otherMap.Kind != kField {
		return ""
	}
	base := otherMap.Args[0].String()
	prefix := "&(" + base + "."
	if !strings.HasPrefix(muCanon, prefix) || !strings.HasSuffix(muCanon, ")") {
		return ""
	}
	muField := strings.TrimSuffix(strings.TrimPrefix(muCanon, prefix), ")")
	if strings.ContainsAny(muField, ".()[]*&") {
		return ""
	}
	i := strings.LastIndexByte(mapSrc, '.')
	if i < 0 {
		return ""
	}
	return mapSrc[:i+1] + muField
}

// siblingCanon translates the mutex of another function to fi's function.
func siblingCanon(muCanon string, otherMap, m *expr) string {
	if otherMap.Kind != kField || m.Kind != kField {
		return ""
	}
	base := otherMap.Args[0].String()
	field := strings.TrimSuffix(strings.TrimPrefix(muCanon, "&("+base+"."), ")")
	return "&(" + m.Args[0].String() + "." + field + ")"
}

func mutexSource(mu string, mapSrc releaseSource) releaseSource {
	return releaseSource{mapSrc: mu, vars: mapSrc.vars, fields: mapSrc.fields, after: mapSrc.after}
}
