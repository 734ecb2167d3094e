package analyzer

import (
	"go/token"
	"go/types"
	"slices"

	"golang.org/x/tools/go/ssa"
)

// branchKind classifies the branch a block lies on.
type branchKind uint8

const (
	brNone    branchKind = iota
	brErr                // an `err != nil` branch
	brTimeout            // a time.After / timer.C select case
	brCancel             // a ctx.Done() select case, a ctx.Err() != nil check
)

// exitKind classifies a return.
type exitKind uint8

const (
	exitSuccess exitKind = iota
	exitError            // returns a non-nil error, or leaves through an error branch
	exitTimeout
	exitCancel
)

func (k exitKind) String() string {
	switch k {
	case exitError:
		return "error path"
	case exitTimeout:
		return "timeout"
	case exitCancel:
		return "cancellation"
	}
	return "success"
}

// computeBranches classifies the edges of fi's conditional branches: the
// single-predecessor successor of a classified edge records its kind.
func (a *checker) computeBranches(fi *funcInfo) {
	fi.branchKinds = make(map[*ssa.BasicBlock]branchKind)
	fi.domKinds = make(map[*ssa.BasicBlock]branchKind)
	for _, b := range fi.fn.Blocks {
		if len(b.Instrs) == 0 {
			continue
		}
		// A blocking receive from ctx.Done() outside a select: what
		// follows runs after cancellation.
		for _, instr := range b.Instrs {
			if u, ok := instr.(*ssa.UnOp); ok && u.Op == token.ARROW && chanKind(u.X) == brCancel {
				fi.branchKinds[b] = brCancel
			}
		}
		br, ok := branchAt(b)
		if !ok {
			continue
		}
		kind, onTrue := a.condKind(br.cond, 0)
		if kind == brNone {
			continue
		}
		if succ := br.only(onTrue); succ != nil {
			if old := fi.branchKinds[succ]; old == brNone || old == brErr {
				fi.branchKinds[succ] = kind
			}
		}
	}
}

// condKind classifies a branch condition: the kind of the branch, and
// whether it is the true edge.
func (a *checker) condKind(cond ssa.Value, depth int) (branchKind, bool) {
	if depth > 3 {
		return brNone, false
	}
	switch c := cond.(type) {
	case *ssa.UnOp:
		if c.Op == token.NOT {
			k, onTrue := a.condKind(c.X, depth+1)
			return k, !onTrue
		}
	case *ssa.BinOp:
		if sel, i, ok := selectCase(c); ok {
			if i >= 0 && i < len(sel.States) && sel.States[i].Dir == types.RecvOnly {
				if kind := chanKind(sel.States[i].Chan); kind != brNone {
					return kind, true
				}
			}
			return brNone, false
		}
		if c.Op != token.EQL && c.Op != token.NEQ {
			return brNone, false
		}
		// err == context.DeadlineExceeded, err == context.Canceled.
		other := c.Y
		if _, ok := c.X.(*ssa.Const); ok {
			other = c.X
		}
		if kind := contextErrGlobal(other); kind != brNone {
			return kind, c.Op == token.EQL
		}
		if x, nilIfTrue, ok := nilComparison(c); ok {
			if isCtxErrCall(x) {
				return brCancel, !nilIfTrue
			}
			if isErrorType(x.Type()) {
				return brErr, !nilIfTrue
			}
		}
	case *ssa.Call:
		// errors.Is(err, context.Canceled)
		if callee := c.Call.StaticCallee(); callee != nil && callee.Pkg != nil && callee.Pkg.Pkg.Path() == "errors" && callee.Name() == "Is" && len(c.Call.Args) == 2 {
			if kind := contextErrGlobal(c.Call.Args[1]); kind != brNone {
				return kind, true
			}
		}
	}
	return brNone, false
}

// chanKind classifies a channel received from in a select: ctx.Done()
// (cancellation), time.After / timer.C (timeout).
func chanKind(ch ssa.Value) branchKind {
	switch v := ch.(type) {
	case *ssa.Call:
		name := ""
		if v.Call.IsInvoke() {
			name = v.Call.Method.Name()
		} else if callee := v.Call.StaticCallee(); callee != nil {
			name = callee.Name()
		}
		if name == "Done" && len(v.Call.Args) == 0 {
			if ct := chanElem(v.Type()); ct != nil {
				if st, ok := ct.Underlying().(*types.Struct); ok && st.NumFields() == 0 {
					return brCancel
				}
			}
		}
	}
	if isTimeType(chanElem(ch.Type())) {
		return brTimeout
	}
	return brNone
}

// isCtxErrCall reports whether v is ctx.Err().
func isCtxErrCall(v ssa.Value) bool {
	call, ok := v.(*ssa.Call)
	if !ok || len(call.Call.Args) != 0 {
		return false
	}
	if call.Call.IsInvoke() {
		return call.Call.Method.Name() == "Err" && hasDoneMethod(call.Call.Value.Type())
	}
	if callee := call.Call.StaticCallee(); callee != nil && callee.Name() == "Err" && len(callee.Params) == 1 {
		return hasDoneMethod(callee.Params[0].Type())
	}
	return false
}

func hasDoneMethod(t types.Type) bool {
	obj, _, _ := types.LookupFieldOrMethod(t, true, nil, "Done")
	_, ok := obj.(*types.Func)
	return ok
}

// contextErrGlobal classifies a load of context.Canceled or
// context.DeadlineExceeded.
func contextErrGlobal(v ssa.Value) branchKind {
	if mi, ok := v.(*ssa.MakeInterface); ok {
		v = mi.X
	}
	u, ok := v.(*ssa.UnOp)
	if !ok || u.Op != token.MUL {
		return brNone
	}
	g, ok := u.X.(*ssa.Global)
	if !ok || g.Pkg == nil {
		return brNone
	}
	switch g.Pkg.Pkg.Path() + "." + g.Name() {
	case "context.Canceled":
		return brCancel
	case "context.DeadlineExceeded", "os.ErrDeadlineExceeded":
		return brTimeout
	}
	return brNone
}

// domKind returns the kind of the nearest classified branch dominating b:
// timeout and cancellation take precedence over error branches. It is
// memoized along the dominator tree, so all blocks together cost linear
// time.
func (a *checker) domKind(fi *funcInfo, b *ssa.BasicBlock) branchKind {
	if fi.branchKinds == nil {
		a.computeBranches(fi)
	}
	if k, ok := fi.domKinds[b]; ok {
		return k
	}
	// Collect the dominators whose kind is not known yet, then fill them
	// in from the top.
	var chain []*ssa.BasicBlock
	inherited := brNone
	for d := b; d != nil; d = d.Idom() {
		if k, ok := fi.domKinds[d]; ok {
			inherited = k
			break
		}
		chain = append(chain, d)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		d := chain[i]
		k := inherited
		switch own := fi.branchKinds[d]; {
		case own == brTimeout || own == brCancel:
			k = own
		case inherited == brTimeout || inherited == brCancel:
		case own == brErr:
			k = brErr
		}
		fi.domKinds[d] = k
		inherited = k
	}
	return fi.domKinds[b]
}

// abandonAt reports whether code in b runs only after a timeout or a
// cancellation.
func (a *checker) abandonAt(fi *funcInfo, b *ssa.BasicBlock) bool {
	k := a.domKind(fi, b)
	return k == brTimeout || k == brCancel
}

// A liveness tells whether the tracked entry may still be in the map on
// the edge p -> b; exitKind ignores the values phis receive along edges
// where it is not (the error there was handled by a path that released
// the entry). A nil liveness considers every edge.
type liveness func(p, b *ssa.BasicBlock) bool

// A leak is a failing return that a tracked entry reaches without being
// released.
type leak struct {
	ret  *ssa.Return
	kind exitKind
}

// failingReturns returns, for each of the n bits of the solved flow g, the
// failing returns of fi's function that the bit reaches, each once, with
// the kind of failure along the bit's paths; keep, if not nil, may leave
// one out.
func (a *checker) failingReturns(fi *funcInfo, g *flow, n int, keep func(bit int, l leak) bool) [][]leak {
	leaks := make([][]leak, n)
	for _, ret := range fi.returns {
		g.forEachArrival(ret, func(pred *ssa.BasicBlock, st bitset) {
			if st.empty() || a.exitKind(fi, ret, pred, nil) == exitSuccess {
				return
			}
			for i := range n {
				if !st.has(i) {
					continue
				}
				l := leak{ret, a.exitKind(fi, ret, pred, g.liveBit(i))}
				if l.kind == exitSuccess || keep != nil && !keep(i, l) {
					continue
				}
				if !slices.ContainsFunc(leaks[i], func(x leak) bool { return x.ret == ret }) {
					leaks[i] = append(leaks[i], l)
				}
			}
		})
	}
	return leaks
}

// exitKind classifies ret, entered from pred (nil if unknown).
func (a *checker) exitKind(fi *funcInfo, ret *ssa.Return, pred *ssa.BasicBlock, live liveness) exitKind {
	switch a.domKind(fi, ret.Block()) {
	case brTimeout:
		return exitTimeout
	case brCancel:
		return exitCancel
	}
	n, hasErr := returnedErrors(fi, ret, pred, live)
	if hasErr && n.anyMayBeNonNil || !hasErr && a.domKind(fi, ret.Block()) == brErr {
		return exitError
	}
	return exitSuccess
}

// maySucceed reports whether ret, entered from pred, may report success:
// it is not on a timeout or cancellation branch, and each error result may
// be nil (return f() may; return errors.New(...), return errSentinel and
// return err under err != nil do not).
func (a *checker) maySucceed(fi *funcInfo, ret *ssa.Return, pred *ssa.BasicBlock, live liveness) bool {
	switch a.domKind(fi, ret.Block()) {
	case brTimeout, brCancel:
		return false
	}
	n, hasErr := returnedErrors(fi, ret, pred, live)
	if hasErr && !n.allMayBeNil || !hasErr && a.domKind(fi, ret.Block()) == brErr {
		return false
	}
	return true
}

// resultsNilness sums up the nilness of a return's error results.
type resultsNilness struct {
	anyMayBeNonNil bool // some error result may be non-nil: the return may fail
	allMayBeNil    bool // every error result may be nil: the return may succeed
}

// returnedErrors returns the nilness of ret's error results, entered from
// pred, and whether its function has any.
func returnedErrors(fi *funcInfo, ret *ssa.Return, pred *ssa.BasicBlock, live liveness) (n resultsNilness, hasErr bool) {
	b := ret.Block()
	results := fi.fn.Signature.Results()
	n.allMayBeNil = true
	for i := 0; i < results.Len() && i < len(ret.Results); i++ {
		if !isErrorType(results.At(i).Type()) {
			continue
		}
		hasErr = true
		r := nilnessOf(ret.Results[i], b, len(b.Instrs)-1, pred, live, 0)
		n.anyMayBeNonNil = n.anyMayBeNonNil || r&canBeNonNil != 0
		n.allMayBeNil = n.allMayBeNil && r&canBeNil != 0
	}
	return n, hasErr
}

// nilness is what an error value may be at a point: nil, non-nil, either
// (unknownNilness), or neither (0: no value gets there, every edge that
// could bring one being ruled out).
type nilness uint8

const (
	canBeNil nilness = 1 << iota
	canBeNonNil
	unknownNilness = canBeNil | canBeNonNil
)

// nilnessOf returns what the error v, used at instruction index of block
// b (entered from pred, if known), may be. It follows phis (along the
// edges where live holds, if live is not nil), the values last stored
// into a local variable, and the branches that compare v with nil; a
// constant, a boxed value (return &MyError{}), errors.New and fmt.Errorf,
// and a package-level error variable are taken for what they are.
func nilnessOf(v ssa.Value, b *ssa.BasicBlock, index int, pred *ssa.BasicBlock, live liveness, depth int) nilness {
	if depth > 8 {
		return unknownNilness
	}
	if pred != nil && nilOnEdge(v, pred, b) {
		return canBeNil
	}
	// What branches that compare v with nil say about it in b.
	refine := func(n nilness) nilness {
		if n&canBeNonNil != 0 && onNilSide(v, b, true) {
			n &^= canBeNonNil
		}
		if n&canBeNil != 0 && onNilSide(v, b, false) {
			n &^= canBeNil
		}
		return n
	}
	switch v := v.(type) {
	case *ssa.Const:
		if v.Value == nil {
			return canBeNil
		}
		return canBeNonNil
	case *ssa.MakeInterface:
		return canBeNonNil
	case *ssa.Call:
		if callee := v.Call.StaticCallee(); callee != nil && callee.Pkg != nil {
			switch callee.Pkg.Pkg.Path() + "." + callee.Name() {
			case "errors.New", "fmt.Errorf":
				return refine(canBeNonNil)
			}
		}
	case *ssa.UnOp:
		if v.Op == token.MUL {
			if _, ok := v.X.(*ssa.Global); ok {
				return refine(canBeNonNil) // a sentinel error variable
			}
			if cell, ok := v.X.(*ssa.Alloc); ok && v.Block() == b {
				if stored, sb := lastStore(cell, b, index, pred); stored != nil {
					return nilnessOf(stored, sb, len(sb.Instrs), nil, live, depth+1)
				}
			}
		}
	case *ssa.Phi:
		// The value brought along one edge: nil on the nil side of a
		// nil check.
		along := func(i int, p *ssa.BasicBlock) nilness {
			if nilOnEdge(v.Edges[i], p, v.Block()) {
				return canBeNil
			}
			return nilnessOf(v.Edges[i], p, len(p.Instrs), nil, live, depth+1)
		}
		if pred != nil && v.Block() == b {
			for i, p := range b.Preds {
				if p == pred && i < len(v.Edges) {
					return along(i, p)
				}
			}
		}
		var n nilness
		for i, e := range v.Edges {
			if e == v || i >= len(v.Block().Preds) {
				continue
			}
			p := v.Block().Preds[i]
			if live != nil && !live(p, v.Block()) {
				continue
			}
			if n |= along(i, p); n == unknownNilness {
				break
			}
		}
		return n
	}
	return refine(unknownNilness)
}

// onNilSide reports whether b lies on the nil side (or the non-nil side,
// for nilSide false) of a branch comparing v with nil.
func onNilSide(v ssa.Value, b *ssa.BasicBlock, nilSide bool) bool {
	for _, s := range nilSideBlocks(v, nilSide) {
		if s.Dominates(b) {
			return true
		}
	}
	return false
}

// lastStore finds the value last stored into cell before instruction
// index of b, looking back through single predecessors.
func lastStore(cell *ssa.Alloc, b *ssa.BasicBlock, index int, pred *ssa.BasicBlock) (ssa.Value, *ssa.BasicBlock) {
	for steps := 0; b != nil && steps < 8; steps++ {
		if index > len(b.Instrs) {
			index = len(b.Instrs)
		}
		for i := index - 1; i >= 0; i-- {
			if st, ok := b.Instrs[i].(*ssa.Store); ok && st.Addr == cell {
				return st.Val, b
			}
		}
		next := pred
		pred = nil
		if next == nil {
			if len(b.Preds) != 1 {
				return nil, nil
			}
			next = b.Preds[0]
		}
		b = next
		index = len(b.Instrs)
	}
	return nil, nil
}
