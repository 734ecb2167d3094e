package analyzer

import (
	"go/ast"
	"go/token"
	"go/types"

	"golang.org/x/tools/go/ssa"
)

// An astLoop is a loop statement of a function: owner loops are
// for { ... } and for x := range ch.
type astLoop struct {
	lo, hi token.Pos
	owner  bool
}

// loops returns the loop statements of fi's function (not of its
// closures).
func (a *checker) loops(fi *funcInfo) []astLoop {
	if fi.loops != nil {
		return fi.loops
	}
	fi.loops = []astLoop{}
	var body *ast.BlockStmt
	switch syn := fi.fn.Syntax().(type) {
	case *ast.FuncDecl:
		body = syn.Body
	case *ast.FuncLit:
		body = syn.Body
	}
	if body == nil {
		return fi.loops
	}
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit:
			return false
		case *ast.ForStmt:
			fi.loops = append(fi.loops, astLoop{n.Body.Lbrace, n.Body.Rbrace, n.Cond == nil})
		case *ast.RangeStmt:
			owner := false
			if tv, ok := a.pass.TypesInfo.Types[n.X]; ok {
				_, owner = typeparamCore(tv.Type).(*types.Chan)
			}
			fi.loops = append(fi.loops, astLoop{n.Body.Lbrace, n.Body.Rbrace, owner})
		}
		return true
	})
	return fi.loops
}

// innermostLoop returns the innermost loop whose body contains pos.
func innermostLoop(loops []astLoop, pos token.Pos) *astLoop {
	var best *astLoop
	for i := range loops {
		l := &loops[i]
		if l.lo < pos && pos < l.hi && (best == nil || l.lo > best.lo) {
			best = l
		}
	}
	return best
}

// inOwnerLoop reports whether pos lies in the body of an owner loop.
// An owner loop (a connection's reader or writer) handles one request per
// iteration; it returns only when the owner shuts down, and its failing
// returns abandon the owner's state as a whole, not one entry.
func (a *checker) inOwnerLoop(fi *funcInfo, pos token.Pos) bool {
	for _, l := range a.loops(fi) {
		if l.owner && l.lo < pos && pos < l.hi {
			return true
		}
	}
	return false
}

// loopLocalKill ends the tracking of an entry whose key is computed inside
// an owner loop (for { ... }, for cond { ... }, for x := range ch) when
// the iteration completes (the back edge): such a loop handles one request
// per iteration, and its later returns concern other keys. Loops over a
// collection or a counter keep tracking: a later failing return there
// abandons the work of earlier iterations too.
func (a *checker) loopLocalKill(fi *funcInfo, inserts []*mapOp) func(p, s *ssa.BasicBlock) bitset {
	masks := make(map[[2]*ssa.BasicBlock]bitset)
	loops := a.loops(fi)
	for _, b := range fi.fn.Blocks {
		for _, h := range b.Succs {
			if !h.Dominates(b) {
				continue // not a back edge
			}
			pos := blockPos(b)
			if !pos.IsValid() {
				pos = blockPos(h)
			}
			if l := innermostLoop(loops, pos); l == nil || !l.owner {
				continue
			}
			for i, ins := range inserts {
				def, ok := ins.keyVal.(ssa.Instruction)
				if !ok && ins.via != "" {
					def, ok = ins.instr, true // a helper's insert: made by the call
				}
				if !ok || def == nil || def.Block() == nil || !h.Dominates(def.Block()) || !def.Block().Dominates(b) {
					continue
				}
				key := [2]*ssa.BasicBlock{b, h}
				setMask(masks, key, len(inserts), i)
			}
		}
	}
	if len(masks) == 0 {
		return nil
	}
	return func(p, s *ssa.BasicBlock) bitset { return masks[[2]*ssa.BasicBlock{p, s}] }
}
