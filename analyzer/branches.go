package analyzer

import (
	"go/token"
	"iter"

	"golang.org/x/tools/go/ssa"
)

// This file decodes conditional branches: which block a branch enters
// when its condition holds, which conditions hold on every path to a
// block, and the two conditions the analysis reads everywhere: a value
// compared with nil, and the case a select chose.

// A branch is the two-way jump that ends a block: if cond, to Succs[0],
// else to Succs[1].
type branch struct {
	from *ssa.BasicBlock
	cond ssa.Value
}

// branchAt returns the branch that ends b, if b ends in one.
func branchAt(b *ssa.BasicBlock) (branch, bool) {
	if len(b.Instrs) == 0 || len(b.Succs) != 2 {
		return branch{}, false
	}
	ifi, ok := b.Instrs[len(b.Instrs)-1].(*ssa.If)
	if !ok {
		return branch{}, false
	}
	return branch{b, ifi.Cond}, true
}

// succ returns the block br enters when its condition is onTrue.
func (br branch) succ(onTrue bool) *ssa.BasicBlock {
	if onTrue {
		return br.from.Succs[0]
	}
	return br.from.Succs[1]
}

// only returns the block br enters when its condition is onTrue if no
// other edge enters it (what runs there knows the condition), else nil.
func (br branch) only(onTrue bool) *ssa.BasicBlock {
	if s := br.succ(onTrue); len(s.Preds) == 1 {
		return s
	}
	return nil
}

// twoWay reports whether br's edges enter different blocks.
func (br branch) twoWay() bool {
	return br.from.Succs[0] != br.from.Succs[1]
}

// branchesOn yields the branches whose condition is cond.
func branchesOn(cond ssa.Value) iter.Seq[branch] {
	return func(yield func(branch) bool) {
		if cond.Referrers() == nil {
			return
		}
		for _, r := range *cond.Referrers() {
			if ifi, ok := r.(*ssa.If); ok {
				if !yield(branch{ifi.Block(), cond}) {
					return
				}
			}
		}
	}
}

// A branchEdge is one side of a branch: the block entered when the
// branch's condition is onTrue.
type branchEdge struct {
	branch
	onTrue bool
}

// dominatingConditions yields, nearest first, the branch edges every path
// to b takes: for each dominator of b (b included) entered only from a
// branch, that edge.
func dominatingConditions(b *ssa.BasicBlock) iter.Seq[branchEdge] {
	return func(yield func(branchEdge) bool) {
		for d := b; d != nil; d = d.Idom() {
			if len(d.Preds) != 1 {
				continue
			}
			br, ok := branchAt(d.Preds[0])
			if !ok {
				continue
			}
			if !yield(branchEdge{br, d == br.from.Succs[0]}) {
				return
			}
		}
	}
}

// nilComparison decodes cond as x == nil or x != nil (in either operand
// order): it returns x, and whether cond holds when x is nil.
func nilComparison(cond ssa.Value) (x ssa.Value, nilIfTrue, ok bool) {
	cmp, isCmp := cond.(*ssa.BinOp)
	if !isCmp || cmp.Op != token.EQL && cmp.Op != token.NEQ {
		return nil, false, false
	}
	x, y := cmp.X, cmp.Y
	if isNilConst(x) {
		x, y = y, x
	}
	if !isNilConst(y) {
		return nil, false, false
	}
	return x, cmp.Op == token.EQL, true
}

// selectCase decodes cond as the test of which case a select chose
// (index == i, the form go/ssa gives a select statement's cases).
func selectCase(cond ssa.Value) (sel *ssa.Select, i int, ok bool) {
	cmp, isCmp := cond.(*ssa.BinOp)
	if !isCmp || cmp.Op != token.EQL {
		return nil, 0, false
	}
	x, y := cmp.X, cmp.Y
	if _, isConst := x.(*ssa.Const); isConst {
		x, y = y, x
	}
	ex, isExtract := x.(*ssa.Extract)
	k, isConst := y.(*ssa.Const)
	if !isExtract || ex.Index != 0 || !isConst || k.Value == nil {
		return nil, 0, false
	}
	if sel, ok = ex.Tuple.(*ssa.Select); !ok {
		return nil, 0, false
	}
	return sel, int(k.Int64()), true
}

// selectCaseBody returns the block that runs when case i of sel is
// chosen, if it can be found.
func selectCaseBody(sel *ssa.Select, i int) *ssa.BasicBlock {
	if sel.Referrers() == nil {
		return nil
	}
	for _, r := range *sel.Referrers() {
		ex, ok := r.(*ssa.Extract)
		if !ok || ex.Index != 0 || ex.Referrers() == nil {
			continue
		}
		for _, rr := range *ex.Referrers() {
			cmp, ok := rr.(*ssa.BinOp)
			if !ok {
				continue
			}
			if _, j, ok := selectCase(cmp); !ok || j != i {
				continue
			}
			for br := range branchesOn(cmp) {
				if body := br.only(true); body != nil {
					return body
				}
			}
		}
	}
	return nil
}

// nilOnEdge reports whether v is known nil on the edge p -> s because p
// branches on v == nil / v != nil and s is the nil side.
func nilOnEdge(v ssa.Value, p, s *ssa.BasicBlock) bool {
	br, ok := branchAt(p)
	if !ok {
		return false
	}
	x, nilIfTrue, ok := nilComparison(br.cond)
	return ok && x == v && br.succ(nilIfTrue) == s && br.twoWay()
}

// nilSideBlocks returns the single-predecessor blocks entered when v is
// nil (or non-nil, for nilSide false) by a branch comparing v with nil.
func nilSideBlocks(v ssa.Value, nilSide bool) []*ssa.BasicBlock {
	if v.Referrers() == nil {
		return nil
	}
	var out []*ssa.BasicBlock
	for _, r := range *v.Referrers() {
		cmp, ok := r.(*ssa.BinOp)
		if !ok {
			continue
		}
		x, nilIfTrue, ok := nilComparison(cmp)
		if !ok || x != v {
			continue
		}
		for br := range branchesOn(cmp) {
			if s := br.only(nilIfTrue == nilSide); s != nil && br.twoWay() {
				out = append(out, s)
			}
		}
	}
	return out
}

// nonNilEdges returns the single-predecessor blocks entered only when v
// is non-nil: the true edge of v != nil, the false edge of v == nil, the
// true edge of v == errSentinel.
func nonNilEdges(v ssa.Value) []*ssa.BasicBlock {
	var out []*ssa.BasicBlock
	if v.Referrers() == nil {
		return nil
	}
	for _, r := range *v.Referrers() {
		// x, err = f() into a variable that lives in a cell (a named
		// result captured by a defer): the loads that follow in the
		// same block see v.
		if st, ok := r.(*ssa.Store); ok && st.Val == v {
			if cell, ok := st.Addr.(*ssa.Alloc); ok {
				b := st.Block()
				for i := indexOf(st) + 1; i < len(b.Instrs); i++ {
					if x, ok := b.Instrs[i].(*ssa.Store); ok && x.Addr == cell {
						break
					}
					if load, ok := b.Instrs[i].(*ssa.UnOp); ok && load.Op == token.MUL && load.X == cell {
						out = append(out, nonNilEdges(load)...)
					}
				}
			}
			continue
		}
		cmp, ok := r.(*ssa.BinOp)
		if !ok {
			continue
		}
		var nonNilOnTrue bool
		if x, nilIfTrue, ok := nilComparison(cmp); ok && x == v {
			nonNilOnTrue = !nilIfTrue
		} else if cmp.Op == token.EQL && (isSentinel(cmp.X) && cmp.Y == v || isSentinel(cmp.Y) && cmp.X == v) {
			nonNilOnTrue = true
		} else {
			continue
		}
		for br := range branchesOn(cmp) {
			if s := br.only(nonNilOnTrue); s != nil {
				out = append(out, s)
			}
		}
	}
	return out
}

// isSentinel reports whether v loads a package-level error variable.
func isSentinel(v ssa.Value) bool {
	u, ok := v.(*ssa.UnOp)
	if !ok || u.Op != token.MUL {
		return false
	}
	_, ok = u.X.(*ssa.Global)
	return ok
}

// loadedEdges returns the blocks entered only when a sync.Map LoadOrStore
// found an existing entry (and so inserted nothing).
func loadedEdges(call *ssa.Call) []*ssa.BasicBlock {
	callee := call.Call.StaticCallee()
	if callee == nil || callee.Name() != "LoadOrStore" || call.Referrers() == nil {
		return nil
	}
	var out []*ssa.BasicBlock
	for _, r := range *call.Referrers() {
		ex, ok := r.(*ssa.Extract)
		if !ok || ex.Index != 1 {
			continue
		}
		for br := range branchesOn(ex) {
			if s := br.only(true); s != nil {
				out = append(out, s)
			}
		}
	}
	return out
}
