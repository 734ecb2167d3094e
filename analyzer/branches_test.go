package analyzer

import (
	"go/token"
	"testing"

	"golang.org/x/tools/go/ssa"
)

const branchesSource = `package p

func choose(a, b chan int) int {
	select {
	case <-a:
		return 1
	case <-b:
		return 2
	}
}

// A tuple's element compared with a string constant is no select case.
func tuple(f func() (string, bool)) int {
	v, _ := f()
	if v == "x" {
		return 1
	}
	return 0
}

func nils(err error) int {
	if err == nil {
		return 0
	}
	if nil != err {
		return 1
	}
	return 2
}

func nested(a, b error) int {
	if a != nil {
		if b == nil {
			return 1
		}
	}
	return 0
}
`

// binOps returns the == and != comparisons of fn.
func binOps(fn *ssa.Function) []*ssa.BinOp {
	var out []*ssa.BinOp
	for _, b := range fn.Blocks {
		for _, instr := range b.Instrs {
			if op, ok := instr.(*ssa.BinOp); ok && (op.Op == token.EQL || op.Op == token.NEQ) {
				out = append(out, op)
			}
		}
	}
	return out
}

// returnOf returns the return of fn whose first result is the constant
// value.
func returnOf(t *testing.T, fn *ssa.Function, value string) *ssa.Return {
	t.Helper()
	for _, b := range fn.Blocks {
		if ret, ok := b.Instrs[len(b.Instrs)-1].(*ssa.Return); ok && len(ret.Results) > 0 {
			if c, ok := ret.Results[0].(*ssa.Const); ok && c.Value != nil && c.Value.ExactString() == value {
				return ret
			}
		}
	}
	t.Fatalf("%s has no return %s", fn.Name(), value)
	return nil
}

func TestSelectCase(t *testing.T) {
	tp := loadTestPackage(t, branchesSource)
	choose := tp.fn(t, "choose")
	var cases []int
	var sel *ssa.Select
	for _, cmp := range binOps(choose) {
		if s, i, ok := selectCase(cmp); ok {
			sel = s
			cases = append(cases, i)
		}
	}
	if sel == nil || len(cases) != 2 || cases[0] != 0 || cases[1] != 1 {
		t.Fatalf("select cases %v, want 0 and 1", cases)
	}
	// Each case's body leads to its own return.
	for i, want := range []string{"1", "2"} {
		body := selectCaseBody(sel, i)
		if body == nil || !body.Dominates(returnOf(t, choose, want).Block()) {
			t.Errorf("body of case %d does not lead to return %s", i, want)
		}
	}
	// Not a select: an extract of a call compared with a string (it must
	// not be read as a case index).
	for _, cmp := range binOps(tp.fn(t, "tuple")) {
		if _, _, ok := selectCase(cmp); ok {
			t.Errorf("selectCase(%s) is a select case", cmp)
		}
	}
}

func TestNilComparison(t *testing.T) {
	tp := loadTestPackage(t, branchesSource)
	nils := tp.fn(t, "nils")
	cmps := binOps(nils)
	if len(cmps) != 2 {
		t.Fatalf("%d comparisons, want 2", len(cmps))
	}
	for i, wantNilIfTrue := range []bool{true, false} { // err == nil, nil != err
		x, nilIfTrue, ok := nilComparison(cmps[i])
		if !ok || x != nils.Params[0] || nilIfTrue != wantNilIfTrue {
			t.Errorf("nilComparison(%s) = %v, %v, %v; want err, %v, true", cmps[i], x, nilIfTrue, ok, wantNilIfTrue)
		}
	}
	// The nil side of the first check leads to return 0, its non-nil
	// side to the second check, whose true edge leads to return 1.
	err := nils.Params[0]
	nilSide, nonNilSide := nilSideBlocks(err, true), nilSideBlocks(err, false)
	if len(nilSide) != 2 || len(nonNilSide) != 2 {
		t.Fatalf("nil sides %d, non-nil sides %d, want 2 each", len(nilSide), len(nonNilSide))
	}
	if !nilSide[0].Dominates(returnOf(t, nils, "0").Block()) || !nonNilSide[1].Dominates(returnOf(t, nils, "1").Block()) {
		t.Error("the nil and non-nil sides do not lead to the returns they guard")
	}
	br, ok := branchAt(cmps[0].Block())
	if !ok || !nilOnEdge(err, br.from, br.succ(true)) || nilOnEdge(err, br.from, br.succ(false)) {
		t.Error("nilOnEdge: want err nil on the true edge of err == nil only")
	}
}

func TestDominatingConditions(t *testing.T) {
	tp := loadTestPackage(t, branchesSource)
	nested := tp.fn(t, "nested")
	a, b := nested.Params[0], nested.Params[1]
	type cond struct {
		x         ssa.Value
		nilIfTrue bool
		onTrue    bool
	}
	var got []cond
	for e := range dominatingConditions(returnOf(t, nested, "1").Block()) {
		x, nilIfTrue, ok := nilComparison(e.cond)
		if !ok {
			t.Fatalf("condition %s is no nil comparison", e.cond)
		}
		got = append(got, cond{x, nilIfTrue, e.onTrue})
	}
	// Nearest first: b == nil taken, then a != nil taken.
	want := []cond{{b, true, true}, {a, false, true}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("dominating conditions %v, want %v", got, want)
	}
	// Nothing dominates the entry block.
	for e := range dominatingConditions(nested.Blocks[0]) {
		t.Errorf("condition %s dominates the entry", e.cond)
	}
}
