package analyzer

import (
	"go/token"

	"golang.org/x/tools/go/ssa"
)

// valueUses returns the instructions that use the value read from a map
// (or values derived from it), other than comparisons with nil.
func valueUses(v ssa.Value) []ssa.Instruction {
	if v == nil {
		return nil
	}
	var out []ssa.Instruction
	walkDerived(v, 4, func(r ssa.Instruction, v ssa.Value, depth int, visit func(ssa.Value, int)) {
		switch r := r.(type) {
		case *ssa.Extract:
			if r.Index == 0 {
				visit(r, depth+1)
			}
		case *ssa.TypeAssert, *ssa.ChangeType, *ssa.MakeInterface, *ssa.ChangeInterface:
			visit(r.(ssa.Value), depth+1)
		case *ssa.Store:
			// Copied into a local variable: its loads are the uses.
			if al, ok := r.Addr.(*ssa.Alloc); ok && r.Val == v {
				visit(al, depth+1)
			} else {
				out = append(out, r)
			}
		case *ssa.FieldAddr:
			if _, ok := v.(*ssa.Alloc); ok {
				visit(r, depth+1)
			} else {
				out = append(out, r)
			}
		case *ssa.UnOp:
			if _, ok := v.(*ssa.Alloc); ok && r.Op == token.MUL {
				visit(r, depth+1)
			} else if _, ok := v.(*ssa.FieldAddr); ok && r.Op == token.MUL {
				visit(r, depth+1)
			} else {
				out = append(out, r)
			}
		case *ssa.BinOp:
			// Comparisons (call == nil) only look at the entry.
		case *ssa.DebugRef:
		case *ssa.Phi:
			visit(r, depth+1)
		case *ssa.If:
		default:
			out = append(out, r)
		}
	})
	return out
}

// absentBlocks returns the blocks entered when a lookup found no entry:
// the false edge of `_, ok := m[k]; if ok`, the true edge of `v == nil`.
func absentBlocks(v ssa.Value) []*ssa.BasicBlock {
	if v == nil || v.Referrers() == nil {
		return nil
	}
	var out []*ssa.BasicBlock
	var visitCond func(cond ssa.Value, absentIfTrue bool, depth int)
	visitCond = func(cond ssa.Value, absentIfTrue bool, depth int) {
		if depth > 3 || cond.Referrers() == nil {
			return
		}
		for _, r := range *cond.Referrers() {
			switch r := r.(type) {
			case *ssa.If:
				out = append(out, branch{r.Block(), cond}.succ(absentIfTrue))
			case *ssa.UnOp:
				if r.Op == token.NOT {
					visitCond(r, !absentIfTrue, depth+1)
				}
			}
		}
	}
	walkDerived(v, 3, func(r ssa.Instruction, v ssa.Value, depth int, visit func(ssa.Value, int)) {
		switch r := r.(type) {
		case *ssa.Extract:
			if r.Index == 1 {
				visitCond(r, false, 0) // if ok {...}: absent on the false edge
			} else if r.Index == 0 {
				visit(r, depth+1)
			}
		case *ssa.TypeAssert, *ssa.ChangeType:
			visit(r.(ssa.Value), depth+1)
		case *ssa.Field, *ssa.FieldAddr:
			// if v.s == nil: the entry holds nothing yet.
			if depth <= 2 {
				visit(r.(ssa.Value), depth+1)
			}
		case *ssa.UnOp:
			if r.Op == token.MUL {
				visit(r, depth+1)
			}
		case *ssa.Store:
			// The value copied into a local variable.
			if al, ok := r.Addr.(*ssa.Alloc); ok && r.Val == v {
				visit(al, depth)
			}
		case *ssa.BinOp:
			if r.Op == token.EQL && (isNilConst(r.X) || isNilConst(r.Y) || isZeroConst(r.X) || isZeroConst(r.Y)) {
				visitCond(r, true, 0)
			} else if r.Op == token.NEQ && (isNilConst(r.X) || isNilConst(r.Y) || isZeroConst(r.X) || isZeroConst(r.Y)) {
				visitCond(r, false, 0)
			}
		}
	})
	return out
}

// walkDerived calls visit for each referrer r of v, then of the values
// visit follows (derived from v: an extract, a conversion, a load...),
// with from the value r refers to and depth its distance from v, up to
// maxDepth.
func walkDerived(v ssa.Value, maxDepth int, visit func(r ssa.Instruction, from ssa.Value, depth int, follow func(ssa.Value, int))) {
	var walk func(v ssa.Value, depth int)
	walk = func(v ssa.Value, depth int) {
		if depth > maxDepth || v.Referrers() == nil {
			return
		}
		for _, r := range *v.Referrers() {
			visit(r, v, depth, walk)
		}
	}
	walk(v, 0)
}
