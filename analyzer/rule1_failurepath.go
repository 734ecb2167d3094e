package analyzer

import (
	"fmt"
	"go/token"
	"go/types"
	"slices"
	"sort"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/ssa"
)

// Rule 1, failure path (category failure-path).
//
// Spec: doc.go, "Rule 1". Fixtures: testdata/src/errpath (error returns,
// straight-line reports), timeouts, switches, loops, defers, helpers,
// freshkeys, handoff, closures, locals, reassign, syncmap, generics,
// iface, keyident, noreturn, sweeper, caches, facts (across packages),
// related (related positions), fixes and nofix (suggested fixes).

// checkInserts applies rule 1: a path from an insert to a failure return
// that does not release or hand off the entry.
func (a *checker) checkInserts(fi *funcInfo) {
	if isInitFunc(fi.fn) {
		return
	}
	inserts := a.followedInserts(fi)
	if len(inserts) == 0 {
		return
	}
	leaks := a.insertLeaks(fi, inserts, a.insertFlow(fi, inserts))
	var reported []int // inserts reported, by index
	for i, ins := range inserts {
		if len(leaks[i]) == 0 || a.cleanedByCallers(fi, ins) {
			continue
		}
		sort.Slice(leaks[i], func(x, y int) bool { return leaks[i][x].ret.Pos() < leaks[i][y].ret.Pos() })
		// One finding per entry and set of leaking returns.
		if slices.ContainsFunc(reported, func(j int) bool {
			return same(inserts[j].m, ins.m) && same(inserts[j].k, ins.k) &&
				slices.EqualFunc(leaks[j], leaks[i], func(x, y leak) bool { return x.ret == y.ret })
		}) {
			continue
		}
		reported = append(reported, i)
		a.reportInsert(fi, ins, leaks[i])
	}
}

// followedInserts returns the inserts of fi's function rule 1 follows
// (followsInsert), but for those released at every return anyway: an
// insert after a deferred release or a hand-off registered on every path
// to it, and an insert in an owner loop, whose failing exits abandon the
// owner's state as a whole.
func (a *checker) followedInserts(fi *funcInfo) []*mapOp {
	var inserts []*mapOp
	for _, op := range fi.ops {
		if a.followsInsert(fi, op) {
			inserts = append(inserts, op)
		}
	}
	if len(inserts) == 0 {
		return nil
	}
	inserts = dropCovered(fi, inserts)
	return slices.DeleteFunc(inserts, func(ins *mapOp) bool { return a.inOwnerLoop(fi, ins.pos) })
}

// insertFlow follows each insert's entry (one bit each) from the insert to
// where it is released, handed off, or its reply received.
func (a *checker) insertFlow(fi *funcInfo, inserts []*mapOp) *flow {
	g := newFlow(fi.fn, len(inserts))
	for i, ins := range inserts {
		g.gen(ins.block, ins.index, i)
		// Stop following an entry when its key is computed anew (the next
		// iteration of a loop): the entry is no longer named by the key.
		if def, ok := ins.keyVal.(ssa.Instruction); ok && def.Block() != nil && def.Parent() == fi.fn {
			mask := newBitset(len(inserts))
			mask.set(i)
			g.kill(def.Block(), indexOf(def), mask)
		}
	}
	a.addReleaseKills(fi, g, inserts)
	addReplyKills(fi, g, inserts)
	g.edgeKill = combineKills(a.closingKill(fi, inserts), failedCallKill(inserts), a.loopLocalKill(fi, inserts))
	g.solve()
	return g
}

// insertLeaks returns, for each insert, the failing returns its entry
// reaches in the solved flow g that are the function's to clean up.
func (a *checker) insertLeaks(fi *funcInfo, inserts []*mapOp, g *flow) [][]leak {
	return a.failingReturns(fi, g, len(inserts), func(i int, l leak) bool {
		ins := inserts[i]
		// An entry a helper made under its own key is the caller's to
		// clean up only when it stops waiting for the reply.
		if ins.is(flagFresh) && (l.kind == exitError || !waitsOnValue(fi, l.ret, ins.value)) {
			return false
		}
		// A map made here and only returned dies on a failing return
		// that does not return anything.
		if returnsNothing(fi, l.ret) && a.localRootKind(fi, ins.m) == escReturn {
			return false
		}
		// Nothing that can fail runs between the insert and the return,
		// and nothing is decided there: the function records the entry
		// and reports a result on purpose (return errSkip, return
		// problems.err()).
		return !a.straightToReturn(ins, l.ret)
	})
}

// failedCallKill returns the edge kills for inserts made by helpers that
// leave the entry only when they succeed: on the branch where the call's
// error is non-nil, the helper did not leave it.
func failedCallKill(inserts []*mapOp) func(p, s *ssa.BasicBlock) bitset {
	masks := make(map[*ssa.BasicBlock]bitset)
	for i, ins := range inserts {
		call, ok := ins.instr.(*ssa.Call)
		if !ok {
			continue
		}
		if ins.via == "" {
			// LoadOrStore inserts only when it did not load.
			for _, b := range loadedEdges(call) {
				setMask(masks, b, len(inserts), i)
			}
			continue
		}
		for _, errVal := range errorResults(call) {
			for _, b := range nonNilEdges(errVal) {
				setMask(masks, b, len(inserts), i)
			}
		}
	}
	if len(masks) == 0 {
		return nil
	}
	return func(p, s *ssa.BasicBlock) bitset { return masks[s] }
}

// errorResults returns the values of a call's error results.
func errorResults(call *ssa.Call) []ssa.Value {
	results := call.Call.Signature().Results()
	if results.Len() == 1 {
		if isErrorType(results.At(0).Type()) {
			return []ssa.Value{call}
		}
		return nil
	}
	var out []ssa.Value
	if call.Referrers() == nil {
		return nil
	}
	for _, r := range *call.Referrers() {
		if ex, ok := r.(*ssa.Extract); ok && ex.Index < results.Len() && isErrorType(results.At(ex.Index).Type()) {
			out = append(out, ex)
		}
	}
	return out
}

// returnsNothing reports whether every non-error result of ret is a
// constant (nil, zero).
func returnsNothing(fi *funcInfo, ret *ssa.Return) bool {
	results := fi.fn.Signature.Results()
	for i, r := range ret.Results {
		if i < results.Len() && isErrorType(results.At(i).Type()) {
			continue
		}
		if _, ok := r.(*ssa.Const); !ok {
			return false
		}
	}
	return true
}

// straightToReturn reports whether ret follows the insert ins without a
// branch (the insert's block leads to ret's block through blocks with a
// single successor) and nothing that may fail or wait runs in between.
func (a *checker) straightToReturn(ins *mapOp, ret *ssa.Return) bool {
	b, from := ins.block, ins.index
	for steps := 0; b != nil && steps <= len(b.Parent().Blocks); steps++ {
		if b == ret.Block() {
			return !a.fallibleBetween(b, from, len(b.Instrs)-1)
		}
		if len(b.Succs) != 1 || a.fallibleBetween(b, from, len(b.Instrs)) {
			return false
		}
		b, from = b.Succs[0], -1
	}
	return false
}

// fallibleBetween reports whether an instruction of b between from and to
// (exclusive) may fail or wait: a call (other than error constructors), a
// receive, a select.
func (a *checker) fallibleBetween(b *ssa.BasicBlock, from, to int) bool {
	for i := from + 1; i < to && i < len(b.Instrs); i++ {
		switch instr := b.Instrs[i].(type) {
		case *ssa.Call:
			if !a.buildsErrorOnly(instr.Call, 0) {
				return true
			}
		case *ssa.UnOp:
			if instr.Op == token.ARROW {
				return true
			}
		case *ssa.Select:
			return true
		}
	}
	return false
}

// buildsErrorOnly reports whether a call only builds a value from what it
// is given: a builtin, an error or string constructor (errors.New,
// errors.Join, fmt.Errorf, fmt.Sprintf), or a function of this package
// with a single block that returns what such a constructor built and does
// nothing else (an accumulator's err() method: return
// errors.Join(p.errs...)). It does nothing that could fail, and decides
// nothing (a validate() that returns errInvalid on a branch does).
func (a *checker) buildsErrorOnly(call ssa.CallCommon, depth int) bool {
	if _, ok := call.Value.(*ssa.Builtin); ok {
		return true
	}
	callee := call.StaticCallee()
	if callee == nil || callee.Pkg == nil {
		return false
	}
	switch callee.Pkg.Pkg.Path() + "." + callee.Name() {
	case "errors.New", "errors.Join", "fmt.Errorf", "fmt.Sprintf":
		return true
	}
	if depth > 0 || a.infos[callee] == nil || len(callee.Blocks) != 1 {
		return false
	}
	built := false
	for _, instr := range callee.Blocks[0].Instrs {
		switch instr := instr.(type) {
		case *ssa.Call:
			if !a.buildsErrorOnly(instr.Call, depth+1) {
				return false
			}
		case *ssa.Return:
			for _, r := range instr.Results {
				if c, ok := r.(*ssa.Call); ok && a.buildsErrorOnly(c.Call, depth+1) {
					built = true
				}
			}
		case *ssa.Go, *ssa.Defer, *ssa.Send, *ssa.Select, *ssa.Store, *ssa.MapUpdate, *ssa.Panic:
			return false
		case *ssa.UnOp:
			if instr.Op == token.ARROW {
				return false
			}
		}
	}
	return built
}

// cleanedByCallers reports whether every caller of fi's function (an
// unexported function of this package, called only directly) releases the
// entry of ins after the call on every path: the callee may leave it on
// its failing returns, as writeRequest does for doRequest's cleanup.
func (a *checker) cleanedByCallers(fi *funcInfo, ins *mapOp) bool {
	fn := fi.fn
	obj, ok := fn.Object().(*types.Func)
	if !ok || obj == nil || fn.Parent() != nil || reachableFromOutside(obj) {
		return false
	}
	if !ins.m.portable() || ins.m.mentionsFree() {
		return false
	}
	sites := a.callSitesOf(fn)
	if len(sites) == 0 {
		return false
	}
	key := ins.k
	if !key.portable() || a.unstableKey(fi, key) {
		key = leaf(kAny, "", 0)
	}
	for _, site := range sites {
		cfi := a.infos[site.Parent()]
		if cfi == nil {
			return false
		}
		common := site.Common()
		params := make([]*expr, len(common.Args))
		for j, arg := range common.Args {
			params[j] = cfi.canon.of(arg)
		}
		m := subst(ins.m, params, nil, a.ctorField)
		k := subst(key, params, nil, a.ctorField)
		if m == nil || k == nil {
			return false
		}
		pseudo := &mapOp{kind: opInsert, flags: flagIf(flagFresh, k.Kind == kAny), m: m, k: k, instr: site, block: site.Block(), index: indexOf(site)}
		pseudo.mapVar = a.classOf(cfi, m)
		g := newFlow(cfi.fn, 1)
		g.gen(pseudo.block, pseudo.index, 0)
		a.addReleaseKills(cfi, g, []*mapOp{pseudo})
		g.solve()
		for _, ret := range cfi.returns {
			leaks := false
			g.forEachArrival(ret, func(_ *ssa.BasicBlock, st bitset) {
				if st.has(0) {
					leaks = true
				}
			})
			if leaks {
				return false
			}
		}
	}
	return true
}

// callSitesOf returns the calls of fn in the package, or nil if fn is also
// used as a value (called from places the analysis cannot list).
func (a *checker) callSitesOf(fn *ssa.Function) []ssa.CallInstruction {
	if a.sites == nil {
		a.sites = make(map[*ssa.Function][]ssa.CallInstruction)
		a.escapedFuncs = make(map[*ssa.Function]bool)
		for _, f := range a.funcs {
			for _, b := range f.Blocks {
				for _, instr := range b.Instrs {
					if call, ok := instr.(ssa.CallInstruction); ok {
						if callee := call.Common().StaticCallee(); callee != nil {
							if o := callee.Origin(); o != nil {
								callee = o
							}
							a.sites[callee] = append(a.sites[callee], call)
						}
					}
					for _, op := range instr.Operands(nil) {
						if op == nil {
							continue
						}
						g, ok := (*op).(*ssa.Function)
						if !ok {
							continue
						}
						if call, isCall := instr.(ssa.CallInstruction); isCall && call.Common().Value == ssa.Value(g) {
							continue
						}
						a.escapedFuncs[g] = true
					}
				}
			}
		}
	}
	if a.escapedFuncs[fn] {
		return nil
	}
	return a.sites[fn]
}

func (a *checker) reportInsert(fi *funcInfo, ins *mapOp, leaks []leak) {
	verb := "is not deleted"
	msg := fmt.Sprintf("%s %s when returning at %s", a.describeInsert(ins), verb, a.leakList(fi, leaks))
	diag := diagnostic(categoryFailurePath, a.syn.spanAt(ins.pos), msg)
	for _, l := range leaks {
		diag.Related = append(diag.Related, related(a.syn.spanAt(fi.retPos(l.ret)),
			fmt.Sprintf("%s leaks when returning here (%s)", ins.entryName(), l.kind)))
	}
	for _, r := range fi.ops {
		if r.kind == opRelease && !r.is(flagWhole) && r.releases(ins) && r.pos.IsValid() {
			diag.Related = append(diag.Related, related(a.syn.spanAt(r.pos), "released here on other paths"))
		}
	}
	if fix := a.fixInsert(fi, ins, leaks); fix != nil {
		diag.SuggestedFixes = []analysis.SuggestedFix{*fix}
	}
	a.report(&finding{diag: diag, fn: a.funcDecl(fi), mapVar: ins.mapVar, ignDir: ins.is(flagIgnoreDir)})
}
