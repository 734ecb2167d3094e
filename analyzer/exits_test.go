package analyzer

import (
	"testing"

	"golang.org/x/tools/go/ssa"
)

const exitsSource = `package p

type E struct{}

func (E) Error() string { return "e" }

var errSentinel error = E{}

func none() error { return nil }

func boxed() error { return E{} }

func sentinel() error { return errSentinel }

func passed(err error) error { return err }

func checked(err error) (int, error) {
	if err != nil {
		return 1, err
	}
	return 2, err
}

func joined(c bool) error {
	var err error
	if c {
		err = E{}
	}
	return err
}

func captured(c bool) (err error) {
	defer func() { _ = err }()
	if c {
		return E{}
	}
	return nil
}

func noError(err error) int {
	if err != nil {
		return 1
	}
	return 2
}
`

// returns lists the returns of fn.
func returns(fn *ssa.Function) []*ssa.Return {
	var out []*ssa.Return
	for _, b := range fn.Blocks {
		if ret, ok := b.Instrs[len(b.Instrs)-1].(*ssa.Return); ok {
			out = append(out, ret)
		}
	}
	return out
}

// errorAt returns the error result of ret.
func errorAt(ret *ssa.Return) ssa.Value { return ret.Results[len(ret.Results)-1] }

func TestNilness(t *testing.T) {
	tp := loadTestPackage(t, exitsSource)
	single := func(name string) *ssa.Return {
		rets := returns(tp.fn(t, name))
		if len(rets) != 1 {
			t.Fatalf("%s has %d returns", name, len(rets))
		}
		return rets[0]
	}
	at := func(ret *ssa.Return, pred *ssa.BasicBlock) nilness {
		b := ret.Block()
		return nilnessOf(errorAt(ret), b, len(b.Instrs)-1, pred, nil, 0)
	}
	for _, tc := range []struct {
		fn   string
		want nilness
	}{
		{"none", canBeNil},
		{"boxed", canBeNonNil},
		{"sentinel", canBeNonNil},
		{"passed", unknownNilness},
	} {
		if got := at(single(tc.fn), nil); got != tc.want {
			t.Errorf("%s: nilness %b, want %b", tc.fn, got, tc.want)
		}
	}
	// A named result that lives in a cell (a deferred closure captures
	// it): the value last stored into it; the deferred call's recovery
	// block returns whatever the cell holds.
	for _, ret := range returns(tp.fn(t, "captured")) {
		want := unknownNilness
		for _, instr := range ret.Block().Instrs {
			if st, ok := instr.(*ssa.Store); ok {
				if c, ok := st.Val.(*ssa.Const); ok && c.Value == nil {
					want = canBeNil
				} else {
					want = canBeNonNil
				}
			}
		}
		if got := at(ret, nil); got != want {
			t.Errorf("captured: return in b%d: nilness %b, want %b", ret.Block().Index, got, want)
		}
	}
	// err under err != nil, and after it.
	checked := tp.fn(t, "checked")
	for _, ret := range returns(checked) {
		want := canBeNil
		if c := ret.Results[0].(*ssa.Const); c.Value.ExactString() == "1" {
			want = canBeNonNil
		}
		if got := at(ret, nil); got != want {
			t.Errorf("checked: return %s: nilness %b, want %b", ret.Results[0], got, want)
		}
	}
	// A phi: either, and per predecessor what that edge brings.
	ret := single("joined")
	if got := at(ret, nil); got != unknownNilness {
		t.Errorf("joined: nilness %b, want both", got)
	}
	phi, ok := errorAt(ret).(*ssa.Phi)
	if !ok {
		t.Fatalf("joined returns %s, want a phi", errorAt(ret))
	}
	for i, p := range phi.Block().Preds {
		want := canBeNonNil
		if c, ok := phi.Edges[i].(*ssa.Const); ok && c.Value == nil {
			want = canBeNil
		}
		if phi.Block() == ret.Block() {
			if got := at(ret, p); got != want {
				t.Errorf("joined: from b%d: nilness %b, want %b", p.Index, got, want)
			}
		}
	}
	// A liveness that rules out every edge leaves no value.
	b := ret.Block()
	if got := nilnessOf(phi, b, len(b.Instrs)-1, nil, func(p, s *ssa.BasicBlock) bool { return false }, 0); got != 0 {
		t.Errorf("joined with no live edge: nilness %b, want none", got)
	}
}

func TestExitKind(t *testing.T) {
	tp := loadTestPackage(t, exitsSource)
	a := tp.checker(t)
	for _, tc := range []struct {
		fn         string
		kind       exitKind
		maySucceed bool
	}{
		{"none", exitSuccess, true},
		{"boxed", exitError, false},
		{"passed", exitError, true}, // may fail, may succeed
	} {
		fn := tp.fn(t, tc.fn)
		ret := returns(fn)[0]
		fi := a.infos[fn]
		if got := a.exitKind(fi, ret, nil, nil); got != tc.kind {
			t.Errorf("%s: exit kind %s, want %s", tc.fn, got, tc.kind)
		}
		if got := a.maySucceed(fi, ret, nil, nil); got != tc.maySucceed {
			t.Errorf("%s: may succeed %v, want %v", tc.fn, got, tc.maySucceed)
		}
	}
	// Without an error result, a return on an err != nil branch fails.
	fn := tp.fn(t, "noError")
	for _, ret := range returns(fn) {
		want := exitSuccess
		if ret.Results[0].(*ssa.Const).Value.ExactString() == "1" {
			want = exitError
		}
		if got := a.exitKind(a.infos[fn], ret, nil, nil); got != want {
			t.Errorf("noError: return %s: exit kind %s, want %s", ret.Results[0], got, want)
		}
	}
}
