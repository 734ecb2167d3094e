package analyzer

import (
	"go/types"
	"slices"
	"sort"

	"golang.org/x/tools/go/ssa"
)

// releases reports whether release op r removes the entry inserted by ins.
func (r *mapOp) releases(ins *mapOp) bool {
	if r.kind != opRelease {
		return false
	}
	if r.is(flagAnyMap) {
		return ins.is(flagFresh) || same(r.k, ins.k)
	}
	if !sameMap(r, ins) {
		return false
	}
	if r.is(flagWhole) || ins.is(flagFresh) || r.k.Kind == kAny || ins.k.Kind == kAny {
		return true
	}
	return same(r.k, ins.k)
}

// sameMap reports whether two operations concern the same map: the same
// access path, or the same declared field of the same type.
func sameMap(x, y *mapOp) bool {
	if same(x.m, y.m) {
		return true
	}
	return x.mapVar != nil && x.mapVar == y.mapVar
}

// addReleaseKills kills the bits of inserts at the operations that
// release them, and at hand-offs of their keys.
func (a *checker) addReleaseKills(fi *funcInfo, g *flow, inserts []*mapOp) {
	idx := newInsertIndex(inserts)
	for _, r := range fi.ops {
		if r.kind != opRelease || r.cond == condOnSuccess || r.is(flagAsync) && !namesKey(r) {
			continue
		}
		mask := newBitset(len(inserts))
		for _, i := range idx.candidates(r) {
			if r.releases(inserts[i]) {
				mask.set(i)
			}
		}
		g.kill(r.block, r.index, mask)
	}
	for _, out := range fi.outs {
		mask := newBitset(len(inserts))
		for _, k := range out.keys {
			for _, i := range idx.byKey.positions(k) {
				if a.handsOff(out, inserts[i].k) {
					mask.set(i)
				}
			}
		}
		if out.elem != nil && len(a.releaseKeyFields) > 0 {
			// A value carrying the key in a field.
			for i, ins := range inserts {
				if !mask.has(i) && a.handsOff(out, ins.k) {
					mask.set(i)
				}
			}
		}
		g.kill(out.block, out.index, mask)
	}
}

// An insertIndex finds the inserts a release may concern without
// comparing every release with every insert.
type insertIndex struct {
	byMap  exprIndex
	byVar  map[*types.Var][]int
	byKey  exprIndex
	fresh  []int
	anyKey []int // fresh or under kAny: a release of any key may concern them
}

func newInsertIndex(inserts []*mapOp) *insertIndex {
	x := &insertIndex{byVar: make(map[*types.Var][]int)}
	for i, ins := range inserts {
		x.byMap.add(ins.m, i)
		if ins.mapVar != nil {
			x.byVar[ins.mapVar] = append(x.byVar[ins.mapVar], i)
		}
		x.byKey.add(ins.k, i)
		if ins.is(flagFresh) {
			x.fresh = append(x.fresh, i)
		}
		if ins.is(flagFresh) || ins.k == nil || ins.k.Kind == kAny {
			x.anyKey = append(x.anyKey, i)
		}
	}
	return x
}

// candidates returns the inserts r may release, in increasing order: a
// superset of them, for releases to decide.
func (x *insertIndex) candidates(r *mapOp) []int {
	var out []int
	switch {
	case r.is(flagAnyMap):
		out = append(slices.Clone(x.byKey.positions(r.k)), x.fresh...)
	case r.is(flagWhole) || r.k == nil || r.k.Kind == kAny:
		out = slices.Clone(x.byMap.positions(r.m))
		if r.mapVar != nil {
			out = append(out, x.byVar[r.mapVar]...)
		}
	default:
		// One key: the inserts under it and those any key may concern,
		// whatever their map (releases compares the maps). Comparing
		// every insert of the map would make a function with many
		// inserts and deletes quadratic.
		out = append(slices.Clone(x.byKey.positions(r.k)), x.anyKey...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// concerned returns the set of ops (indexed by key in byKey, see keyIndex)
// on op's map, under op's key unless anyKey.
func concerned(op *mapOp, ops []*mapOp, byKey *exprIndex, anyKey bool) bitset {
	mask := newBitset(len(ops))
	if anyKey {
		for i, x := range ops {
			if sameMap(op, x) {
				mask.set(i)
			}
		}
		return mask
	}
	for _, i := range byKey.positions(op.k) {
		if sameMap(op, ops[i]) {
			mask.set(i)
		}
	}
	return mask
}

// killConcerned kills, at each operation of fi's function that kills
// selects, the bits of the ops of rels on the same map, under the same key
// unless kills says any key.
func killConcerned(fi *funcInfo, g *flow, rels []*mapOp, kills func(op *mapOp) (kill, anyKey bool)) {
	byKey := keyIndex(rels)
	for _, op := range fi.ops {
		if kill, anyKey := kills(op); kill {
			g.kill(op.block, op.index, concerned(op, rels, byKey, anyKey))
		}
	}
}

// keyIndex indexes ops by key, to match operations by key without
// comparing every pair.
func keyIndex(ops []*mapOp) *exprIndex {
	idx := new(exprIndex)
	for i, op := range ops {
		idx.add(op.k, i)
	}
	return idx
}

// dropCovered removes the inserts released by a deferred release or a
// hand-off registered before them on every path (xmpp's FetchIQ starts the
// goroutine that removes the entry before inserting it).
func dropCovered(fi *funcInfo, inserts []*mapOp) []*mapOp {
	covered := make([]bool, len(inserts))
	var idx *insertIndex // built for the first deferred or async release
	for _, r := range fi.ops {
		if r.kind != opRelease || !(r.is(flagDeferred) && r.cond != condOnSuccess || r.is(flagAsync)) || r.is(flagAsync) && !namesKey(r) {
			continue
		}
		if idx == nil {
			idx = newInsertIndex(inserts)
		}
		for _, i := range idx.candidates(r) {
			if !covered[i] && instrDominates(r.instr, inserts[i].instr) && r.releases(inserts[i]) {
				covered[i] = true
			}
		}
	}
	return unmarked(inserts, covered)
}

// preexisting reports, for each release, whether it may remove an entry
// that existed before the function ran: some path reaches it from where
// its key is known without passing an insert of that entry by the
// function itself.
func (a *checker) preexisting(fi *funcInfo, rels []*mapOp) []bool {
	out := make([]bool, len(rels))
	if len(rels) == 0 {
		return out
	}
	g := newFlow(fi.fn, len(rels))
	for i, r := range rels {
		if r.is(flagWhole) || r.k == nil || r.k.Kind == kAny {
			out[i] = true
			continue
		}
		if r.k.portable() && !a.unstableKey(fi, r.k) {
			g.entry.set(i)
		} else {
			for _, instr := range keyPoints(fi, r.k) {
				g.gen(instr.Block(), indexOf(instr), i)
			}
		}
	}
	// An insert of the entry by the function itself.
	killConcerned(fi, g, rels, func(op *mapOp) (bool, bool) {
		if op.kind != opInsert {
			return false, false
		}
		return true, op.is(flagFresh) || op.k.Kind == kAny
	})
	g.solve()
	for i, r := range rels {
		if !out[i] && r.block != nil {
			out[i] = g.stateAt(r.block, r.index, nil).has(i)
		}
	}
	return out
}

// keyPoints returns the instructions of fi's function that compute key k.
func keyPoints(fi *funcInfo, k *expr) []ssa.Instruction {
	var out []ssa.Instruction
	for v, e := range fi.canon.memo {
		instr, ok := v.(ssa.Instruction)
		if !ok || instr.Parent() != fi.fn || instr.Block() == nil || !same(e, k) {
			continue
		}
		out = append(out, instr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pos() < out[j].Pos() })
	return out
}
