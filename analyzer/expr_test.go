package analyzer

import (
	"testing"

	"golang.org/x/tools/go/ssa"
)

// canonSource has, in each function, map operations whose keys (and maps)
// the canonicalizer must find the same, or different.
const canonSource = `package p

type Req struct {
	ID  string
	seq int
}

func (r *Req) Key() string { return r.ID }

type Client struct {
	pending map[string]int
	bySeq   map[int]int
	other   map[string]int
}

// The same field loaded twice.
func (c *Client) reloaded(r *Req) {
	c.pending[r.ID] = 1
	delete(c.pending, r.ID)
}

// string(b) converted twice.
func (c *Client) converted(b []byte) {
	c.pending[string(b)] = 1
	delete(c.pending, string(b))
}

// A call of the same method on the same value.
func (c *Client) called(r *Req) {
	c.pending[r.Key()] = 1
	delete(c.pending, r.Key())
}

// id+1 twice, then id.
func (c *Client) arithmetic(id int) {
	c.bySeq[id+1] = 1
	delete(c.bySeq, id+1)
	delete(c.bySeq, id)
}

// Two parameters, and the same key in another map.
func (c *Client) params(a, b string) {
	c.pending[a] = 1
	delete(c.pending, b)
	delete(c.other, a)
}

// A key chosen on a branch is neither of its values; the same value on
// both branches is that value.
func (c *Client) branches(cond bool, a, b string) {
	k := a
	if cond {
		k = b
	}
	c.pending[k] = 1
	delete(c.pending, a)
	j := a
	if cond {
		j = a
	}
	delete(c.pending, j)
}

// The map reached through a local copy of the receiver.
func (c *Client) copied(k string) {
	d := c
	d.pending[k] = 1
	delete(c.pending, k)
}

// A value received from a channel is opaque: two receives differ.
func (c *Client) received(ch chan string) {
	c.pending[<-ch] = 1
	delete(c.pending, <-ch)
}
`

// entryOp is a map operation's map and key, canonicalized.
type entryOp struct{ m, k *expr }

// entryOps returns the map writes and deletes of fn, in order.
func entryOps(a *checker, fn *ssa.Function) []entryOp {
	c := a.infos[fn].canon
	var out []entryOp
	for _, b := range fn.Blocks {
		for _, instr := range b.Instrs {
			switch instr := instr.(type) {
			case *ssa.MapUpdate:
				out = append(out, entryOp{c.of(instr.Map), c.of(instr.Key)})
			case *ssa.Call:
				if isBuiltin(instr.Call.Value, "delete") {
					out = append(out, entryOp{c.of(instr.Call.Args[0]), c.of(instr.Call.Args[1])})
				}
			}
		}
	}
	return out
}

func TestCanonicalizerIdentity(t *testing.T) {
	tp := loadTestPackage(t, canonSource)
	a := tp.checker(t)
	for _, tc := range []struct {
		fn        string
		ops       int
		sameKeys  [][2]int // pairs of operations with the same key
		otherKeys [][2]int // pairs with different keys
		sameMaps  [][2]int
		otherMaps [][2]int
	}{
		{fn: "Client.reloaded", ops: 2, sameKeys: [][2]int{{0, 1}}, sameMaps: [][2]int{{0, 1}}},
		{fn: "Client.converted", ops: 2, sameKeys: [][2]int{{0, 1}}},
		{fn: "Client.called", ops: 2, sameKeys: [][2]int{{0, 1}}},
		{fn: "Client.arithmetic", ops: 3, sameKeys: [][2]int{{0, 1}}, otherKeys: [][2]int{{0, 2}}},
		{fn: "Client.params", ops: 3, otherKeys: [][2]int{{0, 1}}, sameKeys: [][2]int{{0, 2}}, otherMaps: [][2]int{{0, 2}}},
		{fn: "Client.branches", ops: 3, otherKeys: [][2]int{{0, 1}}, sameKeys: [][2]int{{1, 2}}},
		{fn: "Client.copied", ops: 2, sameMaps: [][2]int{{0, 1}}, sameKeys: [][2]int{{0, 1}}},
		{fn: "Client.received", ops: 2, otherKeys: [][2]int{{0, 1}}},
	} {
		t.Run(tc.fn, func(t *testing.T) {
			ops := entryOps(a, tp.fn(t, tc.fn))
			if len(ops) != tc.ops {
				t.Fatalf("%d map operations, want %d", len(ops), tc.ops)
			}
			check := func(what string, pairs [][2]int, get func(entryOp) *expr, want bool) {
				for _, p := range pairs {
					x, y := get(ops[p[0]]), get(ops[p[1]])
					if got := same(x, y); got != want {
						t.Errorf("same(%s of op %d, op %d) = %v, want %v (%v, %v)", what, p[0], p[1], got, want, x, y)
					}
					if want && x.hash() != y.hash() {
						t.Errorf("same %ss %v and %v hash differently", what, x, y)
					}
				}
			}
			key := func(op entryOp) *expr { return op.k }
			m := func(op entryOp) *expr { return op.m }
			check("key", tc.sameKeys, key, true)
			check("key", tc.otherKeys, key, false)
			check("map", tc.sameMaps, m, true)
			check("map", tc.otherMaps, m, false)
		})
	}
}

func TestSameIsStructural(t *testing.T) {
	p0 := leaf(kParam, "c", 0)
	field := func(base *expr, name string) *expr { return mkField(base, name, nil) }
	for _, tc := range []struct {
		name string
		x, y *expr
		want bool
	}{
		{"a parameter is its index, whatever its name", leaf(kParam, "c", 0), leaf(kParam, "client", 0), true},
		{"parameters by index", leaf(kParam, "c", 0), leaf(kParam, "c", 1), false},
		{"a parameter is no free variable", leaf(kParam, "", 0), leaf(kFree, "", 0), false},
		{"fields by name", field(p0, "pending"), field(leaf(kParam, "x", 0), "pending"), true},
		{"other fields", field(p0, "pending"), field(p0, "calls"), false},
		{"globals by name", leaf(kGlobal, "p.m", 0), leaf(kGlobal, "p.n", 0), false},
		{"locals by name", leaf(kLocal, "t0#1", 0), leaf(kLocal, "t0#1", 0), true},
		{"other locals", leaf(kLocal, "t0#1", 0), leaf(kLocal, "t0#2", 0), false},
		{"binary operators", node(kBinOp, "+", p0, leaf(kConst, "1", 0)), node(kBinOp, "+", p0, leaf(kConst, "1", 0)), true},
		{"other operators", node(kBinOp, "+", p0, leaf(kConst, "1", 0)), node(kBinOp, "-", p0, leaf(kConst, "1", 0)), false},
		{"other operands", node(kBinOp, "+", p0, leaf(kConst, "1", 0)), node(kBinOp, "+", p0, leaf(kConst, "2", 0)), false},
		{"tuple elements by index", node(kExtract, "", p0).withIndex(0), node(kExtract, "", p0).withIndex(1), false},
		{"missing operands", node(kSlice, "", p0, nil, nil, nil), node(kSlice, "", p0, nil, nil, nil), true},
		{"a missing operand is no operand", node(kSlice, "", p0, nil, nil, nil), node(kSlice, "", p0, p0, nil, nil), false},
		{"*&x is x", mkDeref(mkAddr(field(p0, "m"))), field(p0, "m"), true},
		{"(&x).f is x.f", field(mkAddr(field(p0, "s")), "m"), field(field(p0, "s"), "m"), true},
		{"any key", leaf(kAny, "", 0), leaf(kAny, "", 0), true},
		{"nil is nothing", nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := same(tc.x, tc.y); got != tc.want {
				t.Errorf("same(%v, %v) = %v, want %v", tc.x, tc.y, got, tc.want)
			}
			if got := same(tc.y, tc.x); got != tc.want {
				t.Errorf("same(%v, %v) = %v, want %v", tc.y, tc.x, got, tc.want)
			}
			if tc.want && tc.x.hash() != tc.y.hash() {
				t.Errorf("%v and %v are the same but hash differently", tc.x, tc.y)
			}
		})
	}
}

func TestExprIndex(t *testing.T) {
	p0, p1 := leaf(kParam, "a", 0), leaf(kParam, "b", 1)
	keys := []*expr{
		mkField(p0, "ID", nil),
		p1,
		mkField(leaf(kParam, "req", 0), "ID", nil), // the same as keys[0]
		nil,
		mkField(p0, "Seq", nil),
	}
	var idx exprIndex
	for i, k := range keys {
		idx.add(k, i)
	}
	for _, tc := range []struct {
		key  *expr
		want []int
	}{
		{mkField(p0, "ID", nil), []int{0, 2}},
		{leaf(kParam, "", 1), []int{1}},
		{mkField(p0, "Seq", nil), []int{4}},
		{mkField(p1, "ID", nil), nil},
		{nil, nil},
	} {
		if got := idx.positions(tc.key); !equalInts(got, tc.want) {
			t.Errorf("positions(%v) = %v, want %v", tc.key, got, tc.want)
		}
	}
}

func equalInts(x, y []int) bool {
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}

func TestSubstitution(t *testing.T) {
	p0, p1, f0 := leaf(kParam, "c", 0), leaf(kParam, "id", 1), leaf(kFree, "req", 0)
	caller := leaf(kLocal, "t1#7", 0)
	arg := leaf(kConst, "42", 0)
	entry := node(kIndex, "", mkField(p0, "pending", nil), p1)

	if got, want := subst(entry, []*expr{caller, arg}, nil, nil), node(kIndex, "", mkField(caller, "pending", nil), arg); !same(got, want) {
		t.Errorf("subst(%v) = %v, want %v", entry, got, want)
	}
	if got := subst(entry, []*expr{caller}, nil, nil); got != nil {
		t.Errorf("subst without the key's argument = %v, want nil", got)
	}
	if got, want := subst(mkField(f0, "ID", nil), nil, []*expr{p1}, nil), mkField(p1, "ID", nil); !same(got, want) {
		t.Errorf("subst of a free variable = %v, want %v", got, want)
	}
	// A field of a constructor's result is what the constructor stored.
	ctorCall := node(kCall, "p.NewPending", arg)
	ctor := func(call *expr, field string) *expr {
		if call.Name == "p.NewPending" && field == "seq" {
			return call.Args[0]
		}
		return nil
	}
	if got := subst(mkField(p0, "seq", nil), []*expr{ctorCall}, nil, ctor); !same(got, arg) {
		t.Errorf("subst through a constructor = %v, want %v", got, arg)
	}
	// substFrees keeps parameters; substResults replaces results only.
	if got, want := substFrees(node(kIndex, "", f0, p0), []*expr{arg}), node(kIndex, "", arg, p0); !same(got, want) {
		t.Errorf("substFrees = %v, want %v", got, want)
	}
	if got := substResults(leaf(kResult, "", 1), []*expr{p0, arg}); !same(got, arg) {
		t.Errorf("substResults = %v, want %v", got, arg)
	}
	if got := substResults(leaf(kResult, "", 2), []*expr{p0}); got != nil {
		t.Errorf("substResults of a missing result = %v, want nil", got)
	}
}
