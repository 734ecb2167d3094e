package analyzer

import (
	"go/constant"
	"go/token"
	"slices"
	"strings"

	"golang.org/x/tools/go/ssa"
)

// isCgoOrAsm reports functions whose SSA does not reflect what they do.
func isCgoOrAsm(fn *ssa.Function) bool {
	return strings.HasPrefix(fn.Name(), "_cgo") || strings.HasPrefix(fn.Name(), "_Cfunc")
}

func isInitFunc(fn *ssa.Function) bool {
	for fn.Parent() != nil {
		fn = fn.Parent()
	}
	return fn.Synthetic == "package initializer" || strings.HasPrefix(fn.Name(), "init#") || fn.Name() == "init"
}

func isBoundWrapper(fn *ssa.Function) bool {
	return strings.HasPrefix(fn.Synthetic, "bound method wrapper")
}

// closureValue returns v if it is a function value whose body the
// analysis knows: a closure or a function literal without free variables.
func closureValue(v ssa.Value) ssa.Value {
	switch v := v.(type) {
	case *ssa.MakeClosure:
		return v
	case *ssa.Function:
		if v.Parent() != nil {
			return v
		}
	case *ssa.ChangeType:
		return closureValue(v.X)
	}
	return nil
}

func isBuiltin(v ssa.Value, name string) bool {
	b, ok := v.(*ssa.Builtin)
	return ok && b.Name() == name
}

func isNilConst(v ssa.Value) bool {
	c, ok := v.(*ssa.Const)
	return ok && c.Value == nil
}

// isZeroConst reports whether v is a constant zero value: nil, 0, "" or
// false.
func isZeroConst(v ssa.Value) bool {
	c, ok := v.(*ssa.Const)
	if !ok {
		return false
	}
	if c.IsNil() {
		return true
	}
	if c.Value == nil {
		return false
	}
	switch c.Value.Kind() {
	case constant.Int, constant.Float:
		return constant.Sign(c.Value) == 0
	case constant.String:
		return constant.StringVal(c.Value) == ""
	case constant.Bool:
		return !constant.BoolVal(c.Value)
	}
	return false
}

// indexOf returns the index of instr in its block.
func indexOf(instr ssa.Instruction) int {
	b := instr.Block()
	if b == nil {
		return -1
	}
	for i, x := range b.Instrs {
		if x == instr {
			return i
		}
	}
	return -1
}

// instrDominates reports whether x runs before y on every path to y.
func instrDominates(x, y ssa.Instruction) bool {
	bx, by := x.Block(), y.Block()
	if bx == nil || by == nil {
		return false
	}
	if bx == by {
		return indexOf(x) < indexOf(y)
	}
	return bx.Dominates(by)
}

// reachableAfter reports whether y may run after x in their function.
func reachableAfter(x, y ssa.Instruction) bool {
	bx, by := x.Block(), y.Block()
	if bx == by && indexOf(x) < indexOf(y) {
		return true
	}
	seen := map[*ssa.BasicBlock]bool{}
	work := slices.Clone(bx.Succs)
	for len(work) > 0 {
		b := work[len(work)-1]
		work = work[:len(work)-1]
		if seen[b] {
			continue
		}
		if b == by {
			return true
		}
		seen[b] = true
		work = append(work, b.Succs...)
	}
	return false
}

// blockPos returns the position of some instruction of b.
func blockPos(b *ssa.BasicBlock) token.Pos {
	for _, instr := range b.Instrs {
		if p := instr.Pos(); p.IsValid() {
			return p
		}
	}
	return token.NoPos
}

func callPos(instr ssa.Instruction) token.Pos {
	if c, ok := instr.(ssa.CallInstruction); ok {
		return c.Common().Pos()
	}
	return instr.Pos()
}
