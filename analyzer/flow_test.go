package analyzer

import (
	"math/rand/v2"
	"slices"
	"testing"

	"golang.org/x/tools/go/ssa"
)

// testCFG builds a function for the solver alone: block i has the
// successors succs[i] and instrs placeholder instructions (the solver
// only counts them).
func testCFG(succs [][]int, instrs int) *ssa.Function {
	blocks := make([]*ssa.BasicBlock, len(succs))
	for i := range blocks {
		blocks[i] = &ssa.BasicBlock{Index: i, Instrs: make([]ssa.Instruction, instrs)}
	}
	for i, ss := range succs {
		for _, s := range ss {
			blocks[i].Succs = append(blocks[i].Succs, blocks[s])
			blocks[s].Preds = append(blocks[s].Preds, blocks[i])
		}
	}
	return &ssa.Function{Blocks: blocks}
}

// bits returns the set bits of st among the first n.
func bits(st bitset, n int) []int {
	var out []int
	for i := range n {
		if st.has(i) {
			out = append(out, i)
		}
	}
	return out
}

// A flowCheck is the expected state just before instruction index of
// block (entered from pred, or from any predecessor when pred is -1).
type flowCheck struct {
	block, index, pred int
	want               []int
}

func (c flowCheck) run(t *testing.T, fn *ssa.Function, g *flow) {
	t.Helper()
	var pred *ssa.BasicBlock
	if c.pred >= 0 {
		pred = fn.Blocks[c.pred]
	}
	if got := bits(g.stateAt(fn.Blocks[c.block], c.index, pred), g.n); !slices.Equal(got, c.want) {
		t.Errorf("state before b%d[%d] (from b%d) = %v, want %v", c.block, c.index, c.pred, got, c.want)
	}
}

func mask(n int, set ...int) bitset {
	m := newBitset(n)
	for _, i := range set {
		m.set(i)
	}
	return m
}

func TestFlowGenKill(t *testing.T) {
	// b0 -> b1 -> b2, three instructions each.
	fn := testCFG([][]int{{1}, {2}, {}}, 3)
	g := newFlow(fn, 2)
	g.gen(fn.Blocks[0], 1, 0)
	g.gen(fn.Blocks[1], 0, 1)
	g.kill(fn.Blocks[1], 2, mask(2, 0))
	g.solve()
	for _, c := range []flowCheck{
		{0, 1, -1, nil},      // before the gen
		{0, 2, -1, []int{0}}, // after it
		{1, 0, -1, []int{0}}, // at the next block
		{1, 1, -1, []int{0, 1}},
		{1, 2, -1, []int{0, 1}}, // before the kill
		{1, 3, -1, []int{1}},    // after it
		{2, 0, -1, []int{1}},
	} {
		c.run(t, fn, g)
	}
}

func TestFlowJoins(t *testing.T) {
	// A diamond: b0 -> b1, b2 -> b3.
	diamond := [][]int{{1, 2}, {3}, {3}, {}}
	fn := testCFG(diamond, 1)
	g := newFlow(fn, 3)
	g.gen(fn.Blocks[1], 0, 0)           // bit 0 on one branch only
	g.gen(fn.Blocks[0], 0, 1)           // bit 1 before the branch,
	g.kill(fn.Blocks[1], 0, mask(3, 1)) // killed on one branch,
	g.gen(fn.Blocks[0], 0, 2)           // bit 2 before the branch,
	g.kill(fn.Blocks[1], 0, mask(3, 2)) // killed on both.
	g.kill(fn.Blocks[2], 0, mask(3, 2))
	g.solve()
	for _, c := range []flowCheck{
		{3, 0, -1, []int{0, 1}}, // a bit set on some path is set at the join
		{3, 0, 1, []int{0}},     // entered from b1
		{3, 0, 2, []int{1}},     // entered from b2
	} {
		c.run(t, fn, g)
	}
}

func TestFlowLoops(t *testing.T) {
	// b0 -> b1 (header) -> b2 (body) -> b1; b1 -> b3 (exit).
	fn := testCFG([][]int{{1}, {2, 3}, {1}, {}}, 2)
	g := newFlow(fn, 2)
	g.gen(fn.Blocks[2], 1, 0)           // set in the body: reaches the header along the back edge
	g.entry.set(1)                      // set at entry,
	g.kill(fn.Blocks[2], 0, mask(2, 1)) // killed in the body
	g.solve()
	for _, c := range []flowCheck{
		{1, 0, 0, []int{1}}, // the first time round
		{1, 0, 2, []int{0}}, // along the back edge
		{1, 0, -1, []int{0, 1}},
		{3, 0, -1, []int{0, 1}},
		{2, 1, -1, []int{0}}, // in the body, after the kill
	} {
		c.run(t, fn, g)
	}
}

func TestFlowEventOrder(t *testing.T) {
	fn := testCFG([][]int{{}}, 2)
	g := newFlow(fn, 2)
	// At one index, kills apply before gens, whatever the order they
	// were added in: a re-definition does not erase itself.
	g.gen(fn.Blocks[0], 0, 0)
	g.kill(fn.Blocks[0], 0, mask(2, 0, 1))
	g.gen(fn.Blocks[0], 1, 1)
	g.killAll(fn.Blocks[0], 1) // killAll too
	g.solve()
	flowCheck{0, 1, -1, []int{0}}.run(t, fn, g)
	flowCheck{0, 2, -1, []int{1}}.run(t, fn, g)
}

func TestFlowEdgeKill(t *testing.T) {
	fn := testCFG([][]int{{1, 2}, {3}, {3}, {}}, 1)
	g := newFlow(fn, 1)
	g.entry.set(0)
	g.edgeKill = func(p, s *ssa.BasicBlock) bitset {
		if p.Index == 0 && s.Index == 2 {
			return mask(1, 0)
		}
		return nil
	}
	g.solve()
	for _, c := range []flowCheck{
		{1, 0, -1, []int{0}},
		{2, 0, -1, nil}, // killed on the edge into b2
		{3, 0, 2, nil},
		{3, 0, 1, []int{0}},
	} {
		c.run(t, fn, g)
	}
	if live := g.liveBit(0); !live(fn.Blocks[0], fn.Blocks[1]) || live(fn.Blocks[0], fn.Blocks[2]) {
		t.Error("liveBit disagrees with the edge kill")
	}
}

func TestReversePostorder(t *testing.T) {
	// Nested loops and a block (b6) no path reaches:
	// b0 -> b1; b1 -> b2, b5; b2 -> b3; b3 -> b2, b4; b4 -> b1; b6 -> b5.
	succs := [][]int{{1}, {2, 5}, {3}, {2, 4}, {1}, {}, {5}}
	fn := testCFG(succs, 1)
	order, rank := reversePostorder(fn.Blocks[0], len(fn.Blocks))
	if len(order) != 6 || rank[6] != -1 {
		t.Fatalf("order %v, rank %v: want the 6 reachable blocks, b6 unranked", blockIndexes(order), rank)
	}
	if order[0] != fn.Blocks[0] {
		t.Errorf("order starts with b%d, want the entry", order[0].Index)
	}
	for i, b := range order {
		if rank[b.Index] != i {
			t.Errorf("rank[b%d] = %d, want %d", b.Index, rank[b.Index], i)
		}
	}
	// Every edge goes forward in the order, except the back edges
	// (b3 -> b2, b4 -> b1).
	back := map[[2]int]bool{{3, 2}: true, {4, 1}: true}
	for p, ss := range succs[:6] {
		for _, s := range ss {
			if forward := rank[p] < rank[s]; forward == back[[2]int{p, s}] {
				t.Errorf("edge b%d -> b%d: ranks %d -> %d", p, s, rank[p], rank[s])
			}
		}
	}
}

func blockIndexes(blocks []*ssa.BasicBlock) []int {
	var out []int
	for _, b := range blocks {
		out = append(out, b.Index)
	}
	return out
}

// TestFlowMatchesNaiveFixpoint solves random gen/kill problems over
// random graphs (loops, irreducible ones, unreachable blocks included) and
// compares every reachable block's states with a round-robin fixpoint.
func TestFlowMatchesNaiveFixpoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		nblocks, nbits, instrs := 1+rng.IntN(12), 1+rng.IntN(70), 3
		succs := make([][]int, nblocks)
		for i := range succs {
			for range rng.IntN(3) {
				succs[i] = append(succs[i], rng.IntN(nblocks))
			}
		}
		fn := testCFG(succs, instrs)
		g := newFlow(fn, nbits)
		for range rng.IntN(3) {
			g.entry.set(rng.IntN(nbits))
		}
		for range rng.IntN(4 * nblocks) {
			b, index := fn.Blocks[rng.IntN(nblocks)], rng.IntN(instrs+1)
			switch rng.IntN(7) {
			case 0:
				g.killAll(b, index)
			case 1, 2, 3:
				g.gen(b, index, rng.IntN(nbits))
			default:
				g.kill(b, index, mask(nbits, rng.IntN(nbits), rng.IntN(nbits)))
			}
		}
		killed := map[[2]int]bitset{}
		for p, ss := range succs {
			for _, s := range ss {
				if rng.IntN(4) == 0 {
					killed[[2]int{p, s}] = mask(nbits, rng.IntN(nbits))
				}
			}
		}
		if len(killed) > 0 {
			g.edgeKill = func(p, s *ssa.BasicBlock) bitset { return killed[[2]int{p.Index, s.Index}] }
		}
		g.solve()

		in, out := naiveFixpoint(g)
		_, rank := reversePostorder(fn.Blocks[0], nblocks)
		for i, b := range fn.Blocks {
			if rank[i] < 0 {
				continue // unreachable: the solver leaves it alone
			}
			if !slices.Equal(g.in[i], in[i]) || !slices.Equal(g.out[i], out[i]) {
				t.Fatalf("trial %d, graph %v: b%d in %v out %v, want in %v out %v",
					trial, succs, b.Index, bits(g.in[i], nbits), bits(g.out[i], nbits), bits(in[i], nbits), bits(out[i], nbits))
			}
		}
	}
}

// naiveFixpoint solves g's problem by iterating over the reachable blocks
// in index order until nothing changes.
func naiveFixpoint(g *flow) (in, out []bitset) {
	blocks := g.fn.Blocks
	_, rank := reversePostorder(blocks[0], len(blocks))
	in, out = make([]bitset, len(blocks)), make([]bitset, len(blocks))
	for i := range blocks {
		in[i], out[i] = newBitset(g.n), newBitset(g.n)
	}
	for changed := true; changed; {
		changed = false
		for i, b := range blocks {
			if rank[i] < 0 {
				continue
			}
			st := newBitset(g.n)
			if i == 0 {
				st.or(g.entry)
			}
			for _, p := range b.Preds {
				if rank[p.Index] < 0 {
					continue
				}
				e := out[p.Index].clone()
				if g.edgeKill != nil {
					if k := g.edgeKill(p, b); k != nil {
						e.andNot(k)
					}
				}
				st.or(e)
			}
			in[i] = st.clone()
			g.apply(b, st, len(b.Instrs)+1)
			if !slices.Equal(st, out[i]) {
				out[i], changed = st, true
			}
		}
	}
	return in, out
}
