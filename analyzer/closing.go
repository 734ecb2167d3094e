package analyzer

import (
	"go/token"
	"go/types"
	"slices"

	"golang.org/x/tools/go/ssa"
)

// A fieldState is a field holding a constant: closed == true,
// state == stateClosed.
type fieldState struct {
	field *types.Var
	value string // constant.Value.ExactString
}

// A stateStore is a store of a constant into a field.
type stateStore struct {
	fieldState
	store *ssa.Store
}

// computeClosing finds the "closed" markers of maps: a bool field set to
// true, a field set to a constant state that the function keeps until it
// empties the map (nc.status = CLOSED ... nc.subs = nil), or a channel
// closed, by a function that empties the map. A path that sees the
// marker may leave the entry: the map is (being) emptied. Assigning a
// fresh map (c.connected = true; c.pending = make(...)) prepares the map
// for new entries, it does not close it: a value set by a function that
// only does that to the map is the open one, whether a bool or another
// constant, and marks nothing.
func (a *checker) computeClosing() {
	for _, fn := range a.funcs {
		fi := a.infos[fn]
		var emptied []*types.Var
		var empties []*mapOp
		for _, op := range fi.ops {
			if op.kind == opRelease && op.is(flagWhole) && !op.is(flagInitOnly) && op.mapVar != nil {
				empties = append(empties, op)
				if !slices.Contains(emptied, op.mapVar) {
					emptied = append(emptied, op.mapVar)
				}
			}
		}
		if len(emptied) == 0 {
			continue
		}
		// The maps a flag set here marks closed: those emptied in place,
		// not only given a fresh map.
		var emptiedInPlace []*types.Var
		for _, op := range empties {
			if !freshMapStore(op) && !slices.Contains(emptiedInPlace, op.mapVar) {
				emptiedInPlace = append(emptiedInPlace, op.mapVar)
			}
		}
		if len(emptiedInPlace) > 0 {
			for _, s := range fi.flagSet {
				if s.value == "true" || keptUntilEmptied(fi, s, empties) {
					a.closingFlags[s.fieldState] = append(a.closingFlags[s.fieldState], emptiedInPlace...)
				}
			}
		}
		for _, ch := range fi.closes {
			if v := a.classOf(fi, ch); v != nil {
				a.closingChans[v] = append(a.closingChans[v], emptied...)
			}
		}
	}
}

// keptUntilEmptied reports whether a state other than closed = true is a
// closing marker: its store runs before an emptying of the map on every
// path to it, and no later store of the function changes the field again
// (a reconnect that empties the map between "reconnecting" and
// "connected" marks neither). Assigning a fresh map (c.pending =
// make(...)) prepares the map for new entries: the state set with it is
// the one new requests run in (connected), no closing marker.
func keptUntilEmptied(fi *funcInfo, s stateStore, empties []*mapOp) bool {
	if !slices.ContainsFunc(empties, func(op *mapOp) bool {
		if op.block == nil || op.index >= len(op.block.Instrs) {
			return false
		}
		return !freshMapStore(op) && instrDominates(s.store, op.block.Instrs[op.index])
	}) {
		return false
	}
	for _, o := range fi.flagSet {
		if o.store != s.store && o.field == s.field && reachableAfter(s.store, o.store) {
			return false
		}
	}
	// Stores of non-constant values to the field.
	for _, b := range fi.fn.Blocks {
		for _, instr := range b.Instrs {
			if st, ok := instr.(*ssa.Store); ok && st != s.store {
				if _, isConst := st.Val.(*ssa.Const); isConst {
					continue
				}
				if fa, ok := st.Addr.(*ssa.FieldAddr); ok && fieldVar(fa.X.Type(), fa.Field) == s.field && reachableAfter(s.store, st) {
					return false
				}
			}
		}
	}
	return true
}

// freshMapStore reports whether op, an emptying of a map, assigns a
// fresh map to it (c.pending = make(...), c.pending = map[K]V{}): the map
// is made ready for new entries rather than emptied for good.
func freshMapStore(op *mapOp) bool {
	if op.block == nil || op.index >= len(op.block.Instrs) {
		return false
	}
	st, ok := op.block.Instrs[op.index].(*ssa.Store)
	if !ok {
		return false
	}
	_, fresh := st.Val.(*ssa.MakeMap)
	return fresh
}

// closingEdges returns, for fi's function, the blocks entered only when a
// closing marker is seen, with the maps that marker says are emptied.
func (a *checker) closingEdges(fi *funcInfo) map[*ssa.BasicBlock][]*types.Var {
	if len(a.closingFlags) == 0 && len(a.closingChans) == 0 {
		return nil
	}
	out := make(map[*ssa.BasicBlock][]*types.Var)
	for _, b := range fi.fn.Blocks {
		br, ok := branchAt(b)
		if !ok {
			continue
		}
		onTrue, onFalse := a.closingCond(br.cond, 0)
		for i, maps := range [2][]*types.Var{onTrue, onFalse} {
			if succ := br.only(i == 0); len(maps) > 0 && succ != nil {
				out[succ] = append(out[succ], maps...)
			}
		}
	}
	return out
}

// closingCond returns the maps a branch condition says are (being)
// emptied when it holds and when it does not: a closed flag or state
// (c.closed, !c.closed, nc.status == CLOSED, nc.status != CLOSED), a
// select case on a closed channel, or a predicate of this package whose
// body is one such condition (nc.isClosed()).
func (a *checker) closingCond(cond ssa.Value, depth int) (onTrue, onFalse []*types.Var) {
	state := func(v ssa.Value, value string) []*types.Var {
		switch v := v.(type) {
		case *ssa.UnOp:
			if fa, ok := v.X.(*ssa.FieldAddr); ok && v.Op == token.MUL {
				return a.closingFlags[fieldState{fieldVar(fa.X.Type(), fa.Field), value}]
			}
		case *ssa.Field:
			return a.closingFlags[fieldState{fieldVar(v.X.Type(), v.Field), value}]
		}
		return nil
	}
	switch c := cond.(type) {
	case *ssa.UnOp:
		if c.Op == token.NOT {
			f, t := a.closingCond(c.X, depth)
			return t, f
		}
		return state(c, "true"), state(c, "false")
	case *ssa.Field:
		return state(c, "true"), state(c, "false")
	case *ssa.Call:
		callee := c.Call.StaticCallee()
		if depth > 0 || callee == nil || a.infos[callee] == nil || len(callee.Blocks) != 1 {
			return nil, nil
		}
		if ret, ok := callee.Blocks[0].Instrs[len(callee.Blocks[0].Instrs)-1].(*ssa.Return); ok && len(ret.Results) == 1 {
			return a.closingCond(ret.Results[0], depth+1)
		}
	case *ssa.BinOp:
		if c.Op != token.EQL && c.Op != token.NEQ {
			return nil, nil
		}
		// Select case on a closed channel.
		if sel, i, ok := selectCase(c); ok {
			if i >= 0 && i < len(sel.States) {
				if u, ok := sel.States[i].Chan.(*ssa.UnOp); ok && u.Op == token.MUL {
					if fa, ok := u.X.(*ssa.FieldAddr); ok {
						return a.closingChans[fieldVar(fa.X.Type(), fa.Field)], nil
					}
				}
			}
			return nil, nil
		}
		x, y := c.X, c.Y
		if _, ok := x.(*ssa.Const); ok {
			x, y = y, x
		}
		k, ok := y.(*ssa.Const)
		if !ok || k.Value == nil {
			return nil, nil
		}
		maps := state(x, k.Value.ExactString())
		if c.Op == token.EQL {
			return maps, nil
		}
		return nil, maps
	}
	return nil, nil
}

// closingKill returns the edge kills of closing markers for inserts.
func (a *checker) closingKill(fi *funcInfo, ops []*mapOp) func(p, s *ssa.BasicBlock) bitset {
	edges := a.closingEdges(fi)
	if len(edges) == 0 {
		return nil
	}
	masks := make(map[*ssa.BasicBlock]bitset)
	for b, maps := range edges {
		mask := newBitset(len(ops))
		for i, op := range ops {
			if op.mapVar != nil && slices.Contains(maps, op.mapVar) {
				mask.set(i)
			}
		}
		masks[b] = mask
	}
	return func(p, s *ssa.BasicBlock) bitset { return masks[s] }
}
