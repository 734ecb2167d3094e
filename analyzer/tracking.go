package analyzer

import (
	"go/token"
	"go/types"
	"slices"

	"golang.org/x/tools/go/ssa"
)

// This file decides what mapleak tracks (doc.go, "What is tracked"): the
// operations each rule follows, and the facts about maps those decisions
// rest on: long-lived, per-request state by name, key or directive,
// caches, tables nothing removes single entries from, swept maps.

// followsInsert reports whether rule 1 follows the entry ins inserts: a
// tracked map that the package removes single entries from (rule 3
// covers the others), not a cache filled on a miss, not a map a sweeper
// reaps.
func (a *checker) followsInsert(fi *funcInfo, ins *mapOp) bool {
	return ins.kind == opInsert && a.tracked(fi, ins) && !a.neverRemoved(ins) && !memoizing(fi, ins) &&
		a.removedByKey(ins) && !a.swept[ins.mapVar]
}

// followsRelease reports whether rule 2 takes the release r as a sign that
// its function completes the entry: a tracked map, released on the
// function's own paths (not only after a timeout or cancellation, where a
// waiter gives up), not a map a sweeper reaps.
func (a *checker) followsRelease(fi *funcInfo, r *mapOp) bool {
	return r.kind == opRelease && !r.is(flagAbandon) && !a.abandonAt(fi, r.block) && a.tracked(fi, r) &&
		!(r.mapVar != nil && a.swept[r.mapVar])
}

// reportsNeverRemoved reports whether rule 3 reports the insert op: a
// direct insert, outside initialization, into a tracked map that nothing
// in the package removes from, named like per-request state (or marked),
// under an ID-like key (a map named like per-request state but keyed by
// something else, a node name or a peer, is bounded by that domain).
func (a *checker) reportsNeverRemoved(fi *funcInfo, op *mapOp) bool {
	if op.kind != opInsert || !op.direct() || !a.neverRemoved(op) || isInitFunc(fi.fn) {
		return false
	}
	if !a.tracked(fi, op) || !a.trackedByName(op) {
		return false
	}
	return a.cfg.trackAll || op.is(flagTrackDir) || a.dirs.tracked(op.mapVar) || a.keyIsID(op)
}

// tracked reports whether the map operation concerns a long-lived map
// whose entries are per-request state: by the map's name or declaration,
// or by its key's.
func (a *checker) tracked(fi *funcInfo, op *mapOp) bool {
	if op.is(flagAnyMap) || op.m == nil || !a.longLived(fi, op.m) {
		return false
	}
	return a.trackedByName(op) || a.keyIsID(op)
}

// keyIsID reports whether op's key is named (or typed) like a request ID.
func (a *checker) keyIsID(op *mapOp) bool {
	for _, n := range op.keyNames {
		if a.cfg.keys.MatchString(n) {
			return true
		}
	}
	return false
}

// trackedByName reports whether the map itself (not only its key) says it
// holds per-request state: its name matches -maps, its declaration says
// //mapleak:track, or -track-all is set. Rule 3 needs this stronger
// signal: a map keyed by IDs may be a registry bounded by design.
func (a *checker) trackedByName(op *mapOp) bool {
	return a.cfg.trackAll || op.is(flagTrackDir) || a.dirs.tracked(op.mapVar) ||
		op.mapName != "" && a.cfg.maps.MatchString(op.mapName)
}

// relevant reports whether an operation can matter to a caller: its map
// may be tracked there (by its name, its ID-like key, a directive, or
// -track-all). Others (context's children, a set keyed by pointers) would
// only crowd the summaries.
func (a *checker) relevant(op *mapOp) bool {
	return a.trackedByName(op) || len(op.keyNames) > 0 || op.is(flagWhole) && mapKeyIDLike(op.mapType)
}

// mapKeyIDLike reports whether a map type's keys can be IDs (sync.Map's
// can).
func mapKeyIDLike(t types.Type) bool {
	if t == nil || isSyncMapType(t) {
		return true
	}
	if m, ok := typeparamCore(t).(*types.Map); ok {
		return idLikeType(m.Key())
	}
	return true
}

// idLikeType reports whether values of t can be request IDs: strings,
// numbers, byte arrays (UUIDs), and structs of those.
func idLikeType(t types.Type) bool {
	switch u := typeparamCore(t).(type) {
	case *types.Basic:
		return u.Info()&(types.IsString|types.IsInteger) != 0
	case *types.Array:
		return idLikeType(u.Elem())
	case *types.Struct:
		for i := 0; i < u.NumFields(); i++ {
			if !idLikeType(u.Field(i).Type()) {
				return false
			}
		}
		return u.NumFields() > 0
	case nil:
		return true // a type parameter without a core type
	}
	return false
}

// longLived reports whether the map at path m outlives the call of fi's
// function: a package variable, a field of a parameter or receiver, a
// captured variable, or a local map that escapes.
func (a *checker) longLived(fi *funcInfo, m *expr) bool {
	ofi, om := a.outer(fi, m)
	root, fields := om.root()
	if root == nil {
		return false
	}
	switch root.Kind {
	case kGlobal:
		return true
	case kParam, kCall:
		return fields > 0
	case kFree:
		return true
	case kLocal:
		v := ofi.canon.locals[root.Name]
		return v != nil && a.escapes(ofi, v, 0)
	}
	return false
}

// removedByKey reports whether the package removes single entries from
// op's map somewhere (delete, sync.Map Delete, a releasing helper). A map
// of this package that is only ever filled (or emptied wholesale) is a
// table, not per-request state, and failure paths do not leak from it;
// rule 3 covers the ones named like per-request state.
func (a *checker) removedByKey(op *mapOp) bool {
	v := op.mapVar
	if v == nil || v.Pkg() != a.pass.Pkg || v.Exported() {
		return true
	}
	return a.keyRemoved[v]
}

// neverRemoved reports whether rule 3 covers op's map, in which case the
// other rules stay quiet about it.
func (a *checker) neverRemoved(op *mapOp) bool {
	return op.mapVar != nil && a.noRemoval[op.mapVar]
}

// memoizing reports whether ins fills a cache: it runs only when a lookup
// of the same entry found nothing, and the lookup's value is used when it
// finds one (if v, ok := m[k]; ok { return v }; m[k] = compute()). The
// entry is meant to stay.
func memoizing(fi *funcInfo, ins *mapOp) bool {
	if ins.instr == nil || ins.block == nil {
		return false
	}
	for _, op := range fi.ops {
		if op.kind != opLookup || op.lookup == nil || !sameMap(op, ins) || !same(op.k, ins.k) {
			continue
		}
		if !instrDominates(op.instr, ins.instr) {
			continue
		}
		onAbsent := false
		for _, b := range absentBlocks(op.lookup) {
			if b.Dominates(ins.block) {
				onAbsent = true
				break
			}
		}
		if onAbsent && len(valueUses(op.lookup)) > 0 {
			return true
		}
	}
	return false
}

// computeSwept finds the maps a sweeper reaps: a range loop that deletes
// some of the keys it visits, deciding by time (expiry), in a function
// that reads the clock or waits on a timer. Entries left on failing paths
// expire there; the labelling rule counts a timer as local cleanup.
func (a *checker) computeSwept() {
	a.swept = make(map[*types.Var]bool)
	for _, fn := range a.funcs {
		fi := a.infos[fn]
		var swept []*types.Var
		for _, op := range fi.ops {
			if op.kind == opRelease && op.is(flagSweep) && op.mapVar != nil {
				swept = append(swept, op.mapVar)
			}
		}
		if len(swept) == 0 || !usesClock(fn) {
			continue
		}
		for _, v := range swept {
			a.swept[v] = true
		}
	}
}

// usesClock reports whether fn reads the clock (time.Now, time.Since,
// t.Before...) or receives from a timer or ticker channel.
func usesClock(fn *ssa.Function) bool {
	for _, b := range fn.Blocks {
		for _, instr := range b.Instrs {
			switch instr := instr.(type) {
			case ssa.CallInstruction:
				if callee := instr.Common().StaticCallee(); callee != nil && callee.Pkg != nil && callee.Pkg.Pkg.Path() == "time" {
					return true
				}
			case *ssa.UnOp:
				if instr.Op == token.ARROW {
					if isTimeType(chanElem(instr.X.Type())) {
						return true
					}
				}
			case *ssa.Select:
				for _, st := range instr.States {
					if isTimeType(chanElem(st.Chan.Type())) {
						return true
					}
				}
			}
		}
	}
	return false
}

// computeNoRemoval finds the unexported maps of the package that receive
// inserts and are never removed from, and do not escape the package's
// sight.
func (a *checker) computeNoRemoval() {
	a.noRemoval = make(map[*types.Var]bool)
	a.keyRemoved = make(map[*types.Var]bool)
	inserted := make(map[*types.Var]bool)
	removed := make(map[*types.Var]bool)
	var removedTypes []types.Type
	anyCleanup := false
	for _, fn := range a.funcs {
		for _, op := range a.infos[fn].ops {
			switch op.kind {
			case opInsert:
				if op.mapVar != nil && op.direct() {
					inserted[op.mapVar] = true
				}
			case opRelease:
				if op.mapVar != nil && !op.is(flagWhole) && !op.is(flagAnyMap) {
					a.keyRemoved[op.mapVar] = true
				}
				switch {
				case op.is(flagAnyMap):
					anyCleanup = true
				case op.is(flagInitOnly):
				case op.mapVar != nil:
					removed[op.mapVar] = true
				case op.mapType != nil:
					removedTypes = append(removedTypes, op.mapType)
				}
			}
		}
	}
	if anyCleanup {
		return
	}
	escaped := a.escapedMaps()
	for v := range inserted {
		if removed[v] || escaped[v] || v.Exported() || v.Pkg() != a.pass.Pkg {
			continue
		}
		if slices.ContainsFunc(removedTypes, func(t types.Type) bool { return types.Identical(t, v.Type()) }) {
			continue
		}
		a.noRemoval[v] = true
	}
}

// escapedMaps finds map variables and fields whose value flows where the
// analysis cannot follow it: passed to an unknown function, stored
// elsewhere, returned, sent.
func (a *checker) escapedMaps() map[*types.Var]bool {
	out := make(map[*types.Var]bool)
	for _, fn := range a.funcs {
		fi := a.infos[fn]
		for _, b := range fn.Blocks {
			for _, instr := range b.Instrs {
				switch v := instr.(type) {
				case *ssa.UnOp:
					if v.Op == token.MUL && (isMap(v.Type()) || isSyncMapType(v.Type())) {
						if mapValueEscapes(v) {
							if cv := a.classOf(fi, fi.canon.of(v)); cv != nil {
								out[cv] = true
							}
						}
					}
				case *ssa.FieldAddr:
					if isSyncMapType(derefType(v.Type())) && syncMapAddrEscapes(v) {
						if cv := fieldVar(v.X.Type(), v.Field); cv != nil {
							out[cv] = true
						}
					}
				}
			}
		}
	}
	return out
}

func mapValueEscapes(v ssa.Value) bool {
	if v.Referrers() == nil {
		return false
	}
	for _, r := range *v.Referrers() {
		switch r := r.(type) {
		case *ssa.MapUpdate:
			if r.Value == v {
				return true
			}
		case *ssa.Lookup, *ssa.Range, *ssa.DebugRef, *ssa.BinOp, *ssa.If:
		case *ssa.Call:
			if bi, ok := r.Call.Value.(*ssa.Builtin); ok {
				switch bi.Name() {
				case "delete", "clear", "len":
					continue
				}
			}
			return true
		default:
			return true
		}
	}
	return false
}

func syncMapAddrEscapes(v ssa.Value) bool {
	for _, r := range *v.Referrers() {
		call, ok := r.(ssa.CallInstruction)
		if !ok {
			if _, isStore := r.(*ssa.Store); isStore {
				continue
			}
			return true
		}
		callee := call.Common().StaticCallee()
		if callee == nil || callee.Pkg == nil || callee.Pkg.Pkg.Path() != "sync" {
			return true
		}
	}
	return false
}
