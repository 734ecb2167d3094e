package analyzer

import (
	"go/token"

	"golang.org/x/tools/go/ssa"
)

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
			if !ok || cmp.Op != token.EQL || cmp.Referrers() == nil {
				continue
			}
			k, ok := cmp.Y.(*ssa.Const)
			if !ok || k.Value == nil || int(k.Int64()) != i {
				continue
			}
			for _, use := range *cmp.Referrers() {
				if ifi, ok := use.(*ssa.If); ok {
					succ := ifi.Block().Succs[0]
					if len(succ.Preds) == 1 {
						return succ
					}
				}
			}
		}
	}
	return nil
}

// nilOnEdge reports whether v is known nil on the edge p -> s because p
// branches on v == nil / v != nil and s is the nil side.
func nilOnEdge(v ssa.Value, p, s *ssa.BasicBlock) bool {
	if len(p.Instrs) == 0 || len(p.Succs) != 2 {
		return false
	}
	ifi, ok := p.Instrs[len(p.Instrs)-1].(*ssa.If)
	if !ok {
		return false
	}
	cmp, ok := ifi.Cond.(*ssa.BinOp)
	if !ok || (cmp.Op != token.EQL && cmp.Op != token.NEQ) {
		return false
	}
	x, y := cmp.X, cmp.Y
	if isNilConst(x) {
		x, y = y, x
	}
	if x != v || !isNilConst(y) {
		return false
	}
	nilEdge := p.Succs[0]
	if cmp.Op == token.NEQ {
		nilEdge = p.Succs[1]
	}
	return nilEdge == s && p.Succs[0] != p.Succs[1]
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
		if !ok || (cmp.Op != token.EQL && cmp.Op != token.NEQ) || cmp.Referrers() == nil {
			continue
		}
		other := cmp.Y
		if other == v {
			other = cmp.X
		}
		if !isNilConst(other) {
			continue
		}
		for _, rr := range *cmp.Referrers() {
			ifi, ok := rr.(*ssa.If)
			if !ok {
				continue
			}
			p := ifi.Block()
			// The true edge is the nil side of ==, the non-nil side of !=.
			succ := p.Succs[0]
			if (cmp.Op == token.EQL) != nilSide {
				succ = p.Succs[1]
			}
			if len(succ.Preds) == 1 && p.Succs[0] != p.Succs[1] {
				out = append(out, succ)
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
		if !ok || (cmp.Op != token.EQL && cmp.Op != token.NEQ) || cmp.Referrers() == nil {
			continue
		}
		other := cmp.Y
		if other == v {
			other = cmp.X
		}
		var nonNilOnTrue bool
		switch {
		case isNilConst(other):
			nonNilOnTrue = cmp.Op == token.NEQ
		case isSentinel(other) && cmp.Op == token.EQL:
			nonNilOnTrue = true
		default:
			continue
		}
		for _, rr := range *cmp.Referrers() {
			ifi, ok := rr.(*ssa.If)
			if !ok {
				continue
			}
			succ := ifi.Block().Succs[1]
			if nonNilOnTrue {
				succ = ifi.Block().Succs[0]
			}
			if len(succ.Preds) == 1 {
				out = append(out, succ)
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
		if !ok || ex.Index != 1 || ex.Referrers() == nil {
			continue
		}
		for _, rr := range *ex.Referrers() {
			if ifi, ok := rr.(*ssa.If); ok && len(ifi.Block().Succs[0].Preds) == 1 {
				out = append(out, ifi.Block().Succs[0])
			}
		}
	}
	return out
}
