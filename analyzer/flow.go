package analyzer

import (
	"slices"

	"golang.org/x/tools/go/ssa"
)

// An event changes the state at one instruction: kill, then gen.
type event struct {
	index   int
	kill    bitset
	gen     int // bit to set, or -1
	killAll bool
}

// A flow is a forward gen/kill dataflow problem over a function's SSA CFG:
// a bit is set in the state of a program point when some path from a gen
// reaches it without a kill. Solving it visits each block a small number
// of times, so it is linear in the size of the function for a fixed
// number of bits.
type flow struct {
	fn     *ssa.Function
	n      int
	entry  bitset // bits set at function entry
	events map[*ssa.BasicBlock][]event
	// edgeKill returns the bits killed on the edge from p to s (may be nil).
	edgeKill func(p, s *ssa.BasicBlock) bitset
	in, out  []bitset
	sorted   bool
}

func newFlow(fn *ssa.Function, n int) *flow {
	return &flow{fn: fn, n: n, entry: newBitset(n), events: make(map[*ssa.BasicBlock][]event)}
}

func (g *flow) gen(b *ssa.BasicBlock, index, bit int) {
	g.events[b] = append(g.events[b], event{index: index, gen: bit})
}

func (g *flow) kill(b *ssa.BasicBlock, index int, mask bitset) {
	if mask.empty() {
		return
	}
	g.events[b] = append(g.events[b], event{index: index, kill: mask, gen: -1})
}

func (g *flow) killAll(b *ssa.BasicBlock, index int) {
	if b == nil {
		return
	}
	g.events[b] = append(g.events[b], event{index: index, killAll: true, gen: -1})
}

func (g *flow) sortEvents() {
	if g.sorted {
		return
	}
	for _, evs := range g.events {
		// Stable: at one index, kills added before gens keep their order;
		// kills sort before gens so a re-definition does not erase itself.
		slices.SortStableFunc(evs, func(x, y event) int {
			if x.index != y.index {
				return x.index - y.index
			}
			xg, yg := x.gen >= 0, y.gen >= 0
			switch {
			case xg == yg:
				return 0
			case xg:
				return 1
			default:
				return -1
			}
		})
	}
	g.sorted = true
}

// apply applies the events of b with index < limit to st.
func (g *flow) apply(b *ssa.BasicBlock, st bitset, limit int) {
	for _, ev := range g.events[b] {
		if ev.index >= limit {
			break
		}
		switch {
		case ev.killAll:
			clear(st)
		case ev.kill != nil:
			st.andNot(ev.kill)
		}
		if ev.gen >= 0 {
			st.set(ev.gen)
		}
	}
}

// edgeOut returns the state flowing along p -> s.
func (g *flow) edgeOut(p, s *ssa.BasicBlock) bitset {
	st := g.out[p.Index]
	if g.edgeKill != nil {
		if k := g.edgeKill(p, s); k != nil && !k.empty() {
			st = st.clone()
			st.andNot(k)
		}
	}
	return st
}

func (g *flow) solve() {
	g.sortEvents()
	blocks := g.fn.Blocks
	g.in = make([]bitset, len(blocks))
	g.out = make([]bitset, len(blocks))
	words := make(bitset, 2*len(blocks)*len(g.entry)) // all rows in one allocation
	for i := range blocks {
		g.in[i], words = words[:len(g.entry):len(g.entry)], words[len(g.entry):]
		g.out[i], words = words[:len(g.entry):len(g.entry)], words[len(g.entry):]
	}
	if len(blocks) == 0 {
		return
	}
	// Visit the blocks whose predecessors changed, always the first in
	// reverse postorder: a block comes after its predecessors except
	// along loops' back edges, so each block is visited about once per
	// iteration of the loops around it. (A FIFO worklist could revisit
	// the rest of a function once per join reached first by its shorter
	// branch: quadratic.) The fixpoint is the same in any order.
	order, rank := reversePostorder(blocks[0], len(blocks))
	var work rankQueue
	queued := make([]bool, len(order))
	visited := make([]bool, len(blocks))
	work.push(0)
	queued[0] = true
	out := newBitset(g.n)
	for len(work) > 0 {
		r := work.pop()
		queued[r] = false
		b := order[r]
		in := g.in[b.Index]
		clear(in)
		if b.Index == 0 {
			in.or(g.entry)
		}
		for _, p := range b.Preds {
			in.or(g.edgeOut(p, b))
		}
		copy(out, in)
		g.apply(b, out, len(b.Instrs)+1)
		if visited[b.Index] && slices.Equal(out, g.out[b.Index]) {
			continue
		}
		visited[b.Index] = true
		copy(g.out[b.Index], out)
		for _, s := range b.Succs {
			if rs := rank[s.Index]; !queued[rs] {
				queued[rs] = true
				work.push(rs)
			}
		}
	}
}

// A rankQueue is a min-heap of ranks in reverse postorder.
type rankQueue []int

func (q *rankQueue) push(r int) {
	*q = append(*q, r)
	h := *q
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if h[parent] <= h[i] {
			break
		}
		h[parent], h[i] = h[i], h[parent]
		i = parent
	}
}

func (q *rankQueue) pop() int {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		least, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && h[l] < h[least] {
			least = l
		}
		if r < len(h) && h[r] < h[least] {
			least = r
		}
		if least == i {
			break
		}
		h[i], h[least] = h[least], h[i]
		i = least
	}
	*q = h
	return top
}

// reversePostorder returns the blocks reachable from entry in reverse
// postorder, and each block's rank in it (by block index; -1 when
// unreachable).
func reversePostorder(entry *ssa.BasicBlock, n int) ([]*ssa.BasicBlock, []int) {
	rank := make([]int, n)
	for i := range rank {
		rank[i] = -1
	}
	post := make([]*ssa.BasicBlock, 0, n)
	seen := make([]bool, n)
	type frame struct {
		b    *ssa.BasicBlock
		next int
	}
	stack := []frame{{entry, 0}}
	seen[entry.Index] = true
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if top.next < len(top.b.Succs) {
			s := top.b.Succs[top.next]
			top.next++
			if !seen[s.Index] {
				seen[s.Index] = true
				stack = append(stack, frame{s, 0})
			}
			continue
		}
		post = append(post, top.b)
		stack = stack[:len(stack)-1]
	}
	slices.Reverse(post)
	for i, b := range post {
		rank[b.Index] = i
	}
	return post, rank
}

// stateAt returns the state just before instruction index of b when b is
// entered from pred (nil: from any predecessor, or at function entry).
func (g *flow) stateAt(b *ssa.BasicBlock, index int, pred *ssa.BasicBlock) bitset {
	var st bitset
	if pred != nil {
		st = g.edgeOut(pred, b).clone()
	} else {
		st = g.in[b.Index].clone()
	}
	g.apply(b, st, index)
	return st
}

// liveBit returns the liveness of bit i on the edges of the solved flow.
func (g *flow) liveBit(i int) liveness {
	return func(p, b *ssa.BasicBlock) bool { return g.edgeOut(p, b).has(i) }
}

// combineKills merges edge kill functions.
func combineKills(fs ...func(p, s *ssa.BasicBlock) bitset) func(p, s *ssa.BasicBlock) bitset {
	var live []func(p, s *ssa.BasicBlock) bitset
	for _, f := range fs {
		if f != nil {
			live = append(live, f)
		}
	}
	switch len(live) {
	case 0:
		return nil
	case 1:
		return live[0]
	}
	return func(p, s *ssa.BasicBlock) bitset {
		var out bitset
		for _, f := range live {
			if m := f(p, s); m != nil {
				if out == nil {
					out = m.clone()
				} else {
					out.or(m)
				}
			}
		}
		return out
	}
}

// forEachArrival calls f with the state at ret for each way of entering
// its block (each predecessor, or the function entry).
func (g *flow) forEachArrival(ret *ssa.Return, f func(pred *ssa.BasicBlock, st bitset)) {
	b := ret.Block()
	idx := len(b.Instrs) - 1
	if b.Index == 0 || len(b.Preds) == 0 {
		f(nil, g.stateAt(b, idx, nil))
		return
	}
	for _, p := range b.Preds {
		f(p, g.stateAt(b, idx, p))
	}
}
