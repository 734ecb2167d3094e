package analyzer

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"os"
	"slices"
	"sort"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/ssa"
)

// debugOps prints the operations of the functions whose name contains it
// (MAPLEAK_DEBUG=ops:name).
var debugOps = func() string {
	if d, ok := strings.CutPrefix(os.Getenv("MAPLEAK_DEBUG"), "ops:"); ok {
		return d
	}
	return ""
}()

// Diagnostic categories.
const (
	categoryFailurePath       = "failure-path"
	categoryIncompleteCleanup = "incomplete-cleanup"
	categoryNeverRemoved      = "never-removed"
)

// A leak is a return reached by a tracked entry that was not released.
type leak struct {
	ret  *ssa.Return
	kind exitKind
}

// checkInserts applies rule 1: a path from an insert to a failure return
// that does not release or hand off the entry.
func (a *checker) checkInserts(fi *funcInfo) {
	if isInitFunc(fi.fn) {
		return
	}
	if debugOps != "" && strings.Contains(fi.fn.String(), debugOps) {
		for _, op := range fi.ops {
			fmt.Fprintf(os.Stderr, "mapleak: op %s kind=%d m=%s k=%s via=%q deferred=%v async=%v may=%v whole=%v fresh=%v at %s\n",
				fi.fn, op.kind, op.m, op.k, op.via, op.deferred, op.async, op.may, op.whole, op.fresh, a.syn.shortPos(op.pos))
		}
	}
	var inserts []*mapOp
	for _, op := range fi.ops {
		if op.kind == opInsert && a.tracked(fi, op) && !a.neverRemoved(op) && !a.memoizing(fi, op) && a.removedByKey(op) && !a.swept[op.mapVar] {
			inserts = append(inserts, op)
		}
	}
	if len(inserts) == 0 {
		return
	}
	// An insert after a deferred release or a hand-off registered on every
	// path to it is released at every return.
	inserts = a.dropCovered(fi, inserts)
	inserts = slices.DeleteFunc(inserts, func(ins *mapOp) bool { return a.inOwnerLoop(fi, ins.pos) })
	if len(inserts) == 0 {
		return
	}
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
	a.addReplyKills(fi, g, inserts)
	g.edgeKill = combineKills(a.closingKill(fi, inserts), a.failedCallKill(fi, inserts), a.loopLocalKill(fi, inserts))
	g.solve()

	leaks := make([][]leak, len(inserts))
	for _, ret := range fi.returns {
		a.forEachArrival(g, ret, func(pred *ssa.BasicBlock, st bitset) {
			if st.empty() {
				return
			}
			if a.exitKind(fi, ret, pred, nil) == exitSuccess {
				return
			}
			for i, ins := range inserts {
				if !st.has(i) {
					continue
				}
				kind := a.exitKind(fi, ret, pred, g.liveBit(i))
				if kind == exitSuccess {
					continue
				}
				// An entry a helper made under its own key is the caller's
				// to clean up only when it stops waiting for the reply.
				if ins.fresh && (kind == exitError || !a.waitsOnValue(fi, ret, ins.value)) {
					continue
				}
				// A map made here and only returned dies on a failing
				// return that does not return anything.
				if returnsNothing(fi, ret) && a.localRootKind(fi, ins.m) == escReturn {
					continue
				}
				// Nothing that can fail runs between the insert and the
				// return, and nothing is decided there: the function
				// records the entry and reports a result on purpose
				// (return errSkip, return problems.err()).
				if a.straightToReturn(ins, ret) {
					continue
				}
				if !slices.ContainsFunc(leaks[i], func(l leak) bool { return l.ret == ret }) {
					leaks[i] = append(leaks[i], leak{ret, kind})
				}
			}
		})
	}
	reported := make(map[string]bool)
	for i, ins := range inserts {
		if len(leaks[i]) == 0 || a.cleanedByCallers(fi, ins) {
			continue
		}
		sort.Slice(leaks[i], func(x, y int) bool { return leaks[i][x].ret.Pos() < leaks[i][y].ret.Pos() })
		// One finding per entry and set of leaking returns.
		key := ins.m.String() + "|" + ins.k.String()
		for _, l := range leaks[i] {
			key += fmt.Sprint("|", l.ret.Pos())
		}
		if reported[key] {
			continue
		}
		reported[key] = true
		a.reportInsert(fi, ins, leaks[i])
	}
}

// failedCallKill returns the edge kills for inserts made by helpers that
// leave the entry only when they succeed: on the branch where the call's
// error is non-nil, the helper did not leave it.
func (a *checker) failedCallKill(fi *funcInfo, inserts []*mapOp) func(p, s *ssa.BasicBlock) bitset {
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

// loadedEdges returns the blocks entered only when a sync.Map LoadOrStore
// found an existing entry (and so inserted nothing).
func loadedEdges(call *ssa.Call) []*ssa.BasicBlock {
	callee := call.Call.StaticCallee()
	if callee == nil || callee.Name() != "LoadOrStore" || call.Referrers() == nil {
		return nil
	}
	var out []*ssa.BasicBlock
	for _, r := range *call.Referrers() {
		ex, ok := r.(*ssa.Extract)
		if !ok || ex.Index != 1 || ex.Referrers() == nil {
			continue
		}
		for _, rr := range *ex.Referrers() {
			if ifi, ok := rr.(*ssa.If); ok && len(ifi.Block().Succs[0].Preds) == 1 {
				out = append(out, ifi.Block().Succs[0])
			}
		}
	}
	return out
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

// nonNilEdges returns the single-predecessor blocks entered only when v
// is non-nil: the true edge of v != nil, the false edge of v == nil, the
// true edge of v == errSentinel.
func nonNilEdges(v ssa.Value) []*ssa.BasicBlock {
	var out []*ssa.BasicBlock
	if v.Referrers() == nil {
		return nil
	}
	for _, r := range *v.Referrers() {
		// x, err = f() into a variable that lives in a cell (a named
		// result captured by a defer): the loads that follow in the
		// same block see v.
		if st, ok := r.(*ssa.Store); ok && st.Val == v {
			if cell, ok := st.Addr.(*ssa.Alloc); ok {
				b := st.Block()
				for i := indexOf(st) + 1; i < len(b.Instrs); i++ {
					if x, ok := b.Instrs[i].(*ssa.Store); ok && x.Addr == cell {
						break
					}
					if load, ok := b.Instrs[i].(*ssa.UnOp); ok && load.Op == token.MUL && load.X == cell {
						out = append(out, nonNilEdges(load)...)
					}
				}
			}
			continue
		}
		cmp, ok := r.(*ssa.BinOp)
		if !ok || (cmp.Op != token.EQL && cmp.Op != token.NEQ) || cmp.Referrers() == nil {
			continue
		}
		other := cmp.Y
		if other == v {
			other = cmp.X
		}
		var nonNilOnTrue bool
		switch {
		case isNilConst(other):
			nonNilOnTrue = cmp.Op == token.NEQ
		case isSentinel(other) && cmp.Op == token.EQL:
			nonNilOnTrue = true
		default:
			continue
		}
		for _, rr := range *cmp.Referrers() {
			ifi, ok := rr.(*ssa.If)
			if !ok {
				continue
			}
			succ := ifi.Block().Succs[1]
			if nonNilOnTrue {
				succ = ifi.Block().Succs[0]
			}
			if len(succ.Preds) == 1 {
				out = append(out, succ)
			}
		}
	}
	return out
}

// isSentinel reports whether v loads a package-level error variable.
func isSentinel(v ssa.Value) bool {
	u, ok := v.(*ssa.UnOp)
	if !ok || u.Op != token.MUL {
		return false
	}
	_, ok = u.X.(*ssa.Global)
	return ok
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
		pseudo := &mapOp{kind: opInsert, m: m, k: k, fresh: k.Kind == kAny, instr: site, block: site.Block(), index: indexOf(site)}
		pseudo.mapVar = a.classOf(cfi, m)
		g := newFlow(cfi.fn, 1)
		g.gen(pseudo.block, pseudo.index, 0)
		a.addReleaseKills(cfi, g, []*mapOp{pseudo})
		g.solve()
		for _, ret := range cfi.returns {
			leaks := false
			a.forEachArrival(g, ret, func(_ *ssa.BasicBlock, st bitset) {
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

// waitsOnValue reports whether ret leaves through the timeout or
// cancellation case of a select that also waits on a channel of the
// inserted value (call.Done of the call a helper registered): the caller
// stops waiting for that entry's reply.
func (a *checker) waitsOnValue(fi *funcInfo, ret *ssa.Return, value *expr) bool {
	if value == nil {
		return false
	}
	for d := ret.Block(); d != nil; d = d.Idom() {
		if len(d.Preds) != 1 {
			continue
		}
		p := d.Preds[0]
		ifi, ok := p.Instrs[len(p.Instrs)-1].(*ssa.If)
		if !ok {
			continue
		}
		cmp, ok := ifi.Cond.(*ssa.BinOp)
		if !ok {
			continue
		}
		ex, ok := cmp.X.(*ssa.Extract)
		if !ok || ex.Index != 0 {
			continue
		}
		sel, ok := ex.Tuple.(*ssa.Select)
		if !ok {
			continue
		}
		for _, st := range sel.States {
			if st.Dir == types.RecvOnly && derivesFrom(fi.canon.of(st.Chan), value) {
				return true
			}
		}
	}
	return false
}

// addReplyKills ends the tracking of an entry when the function receives
// from a channel of the inserted value (<-ch, <-call.Done): the reply
// handler has completed the entry, and deleted it, before sending or
// closing the channel.
func (a *checker) addReplyKills(fi *funcInfo, g *flow, inserts []*mapOp) {
	for _, b := range fi.fn.Blocks {
		for i, instr := range b.Instrs {
			switch instr := instr.(type) {
			case *ssa.UnOp:
				if instr.Op != token.ARROW {
					continue
				}
				ch := fi.canon.of(instr.X)
				mask := newBitset(len(inserts))
				for j, ins := range inserts {
					if ins.value != nil && derivesFrom(ch, ins.value) {
						mask.set(j)
					}
				}
				g.kill(b, i, mask)
			case *ssa.Select:
				for si, st := range instr.States {
					if st.Dir != types.RecvOnly {
						continue
					}
					body := selectCaseBody(instr, si)
					if body == nil {
						continue
					}
					ch := fi.canon.of(st.Chan)
					mask := newBitset(len(inserts))
					for j, ins := range inserts {
						if ins.value != nil && derivesFrom(ch, ins.value) {
							mask.set(j)
						}
					}
					g.kill(body, 0, mask)
				}
			}
		}
	}
}

// dropCovered removes the inserts released by a deferred release or a
// hand-off registered before them on every path (xmpp's FetchIQ starts the
// goroutine that removes the entry before inserting it).
func (a *checker) dropCovered(fi *funcInfo, inserts []*mapOp) []*mapOp {
	covered := make([]bool, len(inserts))
	var idx *insertIndex // built for the first deferred or async release
	for _, r := range fi.ops {
		if r.kind != opRelease || !(r.deferred && r.cond != condOnSuccess || r.async) || r.async && !namesKey(r) {
			continue
		}
		if idx == nil {
			idx = newInsertIndex(inserts)
		}
		for _, i := range idx.candidates(r) {
			if !covered[i] && instrDominates(r.instr, inserts[i].instr) && a.releases(fi, r, inserts[i]) {
				covered[i] = true
			}
		}
	}
	var kept []*mapOp
	for i, ins := range inserts {
		if !covered[i] {
			kept = append(kept, ins)
		}
	}
	return kept
}

// namesKey reports whether a release names one entry: an asynchronous
// release of the whole map (a reconnect watcher's clear), or of keys the
// caller cannot name, is no hand-off of the entry.
func namesKey(r *mapOp) bool {
	return !r.whole && r.k != nil && r.k.Kind != kAny
}

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

// blockPos returns the position of some instruction of b.
func blockPos(b *ssa.BasicBlock) token.Pos {
	for _, instr := range b.Instrs {
		if p := instr.Pos(); p.IsValid() {
			return p
		}
	}
	return token.NoPos
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

// closingKill returns the edge kills of closing markers for inserts.
func (a *checker) closingKill(fi *funcInfo, ops []*mapOp) func(p, s *ssa.BasicBlock) bitset {
	edges := a.closingEdges(fi)
	if len(edges) == 0 {
		return nil
	}
	masks := make(map[*ssa.BasicBlock]bitset)
	for b, maps := range edges {
		mask := newBitset(len(ops))
		for i, op := range ops {
			if op.mapVar != nil && slices.Contains(maps, op.mapVar) {
				mask.set(i)
			}
		}
		masks[b] = mask
	}
	return func(p, s *ssa.BasicBlock) bitset { return masks[s] }
}

// entryName renders an entry for messages: pending[seq].
func (a *checker) entryName(op *mapOp) string {
	name := op.mapName
	if name == "" {
		name = "map"
	}
	key := ""
	if op.keyAST != nil {
		key = exprString(op.keyAST)
	} else if op.k != nil && op.k.Kind != kAny {
		key = op.k.display()
	}
	if key == "" {
		return name + " entry"
	}
	return name + "[" + key + "]"
}

// describeInsert names what an insert adds: pending[seq], or for a helper
// "the pendingResponses entry added by AddPendingResponse(rsp)".
func (a *checker) describeInsert(op *mapOp) string {
	if op.via == "" || op.mapAST != nil {
		return a.entryName(op)
	}
	call := op.via
	if ce := a.syn.call(callPos(op.instr)); ce != nil {
		call = exprString(ce)
	}
	name := op.mapName
	if name == "" {
		name = "map"
	}
	return "the " + name + " entry added by " + call
}

func callPos(instr ssa.Instruction) token.Pos {
	if c, ok := instr.(ssa.CallInstruction); ok {
		return c.Common().Pos()
	}
	return instr.Pos()
}

// retPos returns the position of a return: the return statement, or the
// closing brace of the function for the implicit return at its end.
func (a *checker) retPos(fi *funcInfo, ret *ssa.Return) token.Pos {
	if ret.Pos().IsValid() {
		return ret.Pos()
	}
	switch syn := fi.fn.Syntax().(type) {
	case *ast.FuncDecl:
		if syn.Body != nil {
			return syn.Body.Rbrace
		}
	case *ast.FuncLit:
		return syn.Body.Rbrace
	}
	return fi.fn.Pos()
}

// leakList renders the leaking returns: "at client.go:88 (error path)".
func (a *checker) leakList(fi *funcInfo, leaks []leak) string {
	var parts []string
	for i, l := range leaks {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("%d more returns", len(leaks)-3))
			break
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", a.syn.shortPos(a.retPos(fi, l.ret)), l.kind))
	}
	switch len(parts) {
	case 1:
		return parts[0]
	default:
		return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
	}
}

func (a *checker) reportInsert(fi *funcInfo, ins *mapOp, leaks []leak) {
	verb := "is not deleted"
	msg := fmt.Sprintf("%s %s when returning at %s", a.describeInsert(ins), verb, a.leakList(fi, leaks))
	diag := analysis.Diagnostic{
		Pos:      ins.pos,
		Category: categoryFailurePath,
		Message:  msg,
	}
	if ins.mapAST != nil {
		diag.End = ins.mapAST.End()
	}
	for _, l := range leaks {
		diag.Related = append(diag.Related, analysis.RelatedInformation{
			Pos:     a.retPos(fi, l.ret),
			Message: fmt.Sprintf("%s leaks when returning here (%s)", a.entryName(ins), l.kind),
		})
	}
	for _, r := range fi.ops {
		if r.kind == opRelease && !r.whole && a.releases(fi, r, ins) && r.pos.IsValid() {
			diag.Related = append(diag.Related, analysis.RelatedInformation{
				Pos:     r.pos,
				Message: "released here on other paths",
			})
		}
	}
	if fix := a.fixInsert(fi, ins, leaks); fix != nil {
		diag.SuggestedFixes = []analysis.SuggestedFix{*fix}
	}
	a.report(&finding{diag: diag, fn: a.funcDecl(fi), mapVar: ins.mapVar, ignDir: ins.ignDir})
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

// A completerGroup is one entry (map and key) a function releases.
type completerGroup struct {
	m, k     *expr
	releases []*mapOp
	rep      *mapOp
}

// checkCompleter applies rule 2: a function that releases m[k] on some
// paths (the entry's completer) and returns a failure on another path
// without releasing it, keeping it on purpose, or having found it absent.
func (a *checker) checkCompleter(fi *funcInfo) {
	if fi.inlineOnly || isInitFunc(fi.fn) {
		return
	}
	var groups []*completerGroup
	for _, r := range fi.ops {
		if r.kind != opRelease || r.whole || r.anyMap || r.async || r.may || r.k == nil || r.k.Kind == kAny || r.cond == condOnSuccess {
			continue
		}
		if r.abandon || a.abandonAt(fi, r.block) || !a.tracked(fi, r) || r.mapVar != nil && a.swept[r.mapVar] {
			continue
		}
		found := false
		for _, grp := range groups {
			if same(grp.m, r.m) && same(grp.k, r.k) {
				grp.releases = append(grp.releases, r)
				found = true
				break
			}
		}
		if !found {
			groups = append(groups, &completerGroup{m: r.m, k: r.k, releases: []*mapOp{r}, rep: r})
		}
	}
	// Only releases of entries that may exist before the function runs
	// make a completer: deleting an entry the function inserted itself
	// rolls its own work back (rule 1's business).
	var rels []*mapOp
	for _, grp := range groups {
		rels = append(rels, grp.releases...)
	}
	pre := a.preexisting(fi, rels)
	j := 0
	groups = slices.DeleteFunc(groups, func(grp *completerGroup) bool {
		keep := false
		var kept []*mapOp
		for range grp.releases {
			if pre[j] {
				keep = true
				kept = append(kept, rels[j])
			}
			j++
		}
		grp.releases = kept
		if keep {
			grp.rep = kept[0]
		}
		return !keep
	})
	if len(groups) == 0 {
		return
	}
	n := len(groups)
	build := func(withUses bool) *flow {
		g := newFlow(fi.fn, n)
		asOp := func(grp *completerGroup) *mapOp {
			return &mapOp{kind: opInsert, m: grp.m, k: grp.k, mapVar: grp.rep.mapVar}
		}
		for gi, grp := range groups {
			if grp.k.portable() && !a.unstableKey(fi, grp.k) {
				g.entry.set(gi)
				continue
			}
			// The key is computed in the function: the entry is known from
			// each computation of it on.
			for _, instr := range keyPoints(fi, grp.k) {
				g.gen(instr.Block(), indexOf(instr), gi)
			}
		}
		// Kills: releases, hand-offs, re-inserts (the function keeps the entry
		// on purpose), uses of the entry's value.
		pseudo := make([]*mapOp, n)
		for gi, grp := range groups {
			pseudo[gi] = asOp(grp)
		}
		a.addReleaseKills(fi, g, pseudo)
		absent := make(map[*ssa.BasicBlock]bitset)
		addAbsent := func(b *ssa.BasicBlock, gi int) {
			if b == nil || len(b.Preds) != 1 {
				return
			}
			m := absent[b]
			if m == nil {
				m = newBitset(n)
				absent[b] = m
			}
			m.set(gi)
		}
		for _, op := range fi.ops {
			for gi, grp := range groups {
				if !same(op.m, grp.m) && (op.mapVar == nil || op.mapVar != grp.rep.mapVar) {
					continue
				}
				if !same(op.k, grp.k) {
					continue
				}
				mask := newBitset(n)
				mask.set(gi)
				switch op.kind {
				case opInsert:
					g.kill(op.block, op.index, mask)
				case opLookup:
					if withUses {
						for _, use := range valueUses(op.lookup) {
							g.kill(use.Block(), indexOf(use), mask)
						}
					}
					for _, b := range absentBlocks(op.lookup) {
						addAbsent(b, gi)
					}
				}
			}
		}
		// Branches on the key itself (rt != "", id == 0) decide that the
		// entry is not this function's business.
		for _, b := range fi.fn.Blocks {
			if len(b.Instrs) == 0 {
				continue
			}
			ifi, ok := b.Instrs[len(b.Instrs)-1].(*ssa.If)
			if !ok || len(b.Succs) != 2 {
				continue
			}
			for gi, grp := range groups {
				if condMentionsKey(fi, ifi.Cond, grp.k, 0) || condNilChecks(fi, ifi.Cond, grp.k, grp.m) {
					addAbsent(b.Succs[0], gi)
					addAbsent(b.Succs[1], gi)
				}
			}
		}
		closing := a.closingKill(fi, pseudo)
		g.edgeKill = func(p, s *ssa.BasicBlock) bitset {
			m := absent[s]
			if closing != nil {
				if c := closing(p, s); c != nil {
					if m == nil {
						return c
					}
					m = m.clone()
					m.or(c)
				}
			}
			return m
		}
		g.solve()
		return g
	}
	// A completer releases the entry on every successful path that knows
	// the key (or keeps it by re-inserting it or handing it off): a
	// function that releases it on one case of a dispatch only is not one.
	disqualified := make([]bool, n)
	qual := build(false)
	for _, ret := range fi.returns {
		a.forEachArrival(qual, ret, func(pred *ssa.BasicBlock, st bitset) {
			for gi := range groups {
				if st.has(gi) && a.maySucceed(fi, ret, pred, qual.liveBit(gi)) {
					disqualified[gi] = true
				}
			}
		})
	}
	g := build(true)
	type hit struct {
		ret  *ssa.Return
		kind exitKind
	}
	hits := make([][]hit, n)
	for _, ret := range fi.returns {
		a.forEachArrival(g, ret, func(pred *ssa.BasicBlock, st bitset) {
			if st.empty() {
				return
			}
			if a.exitKind(fi, ret, pred, nil) == exitSuccess {
				return
			}
			for gi := range groups {
				if !st.has(gi) || disqualified[gi] {
					continue
				}
				kind := a.exitKind(fi, ret, pred, g.liveBit(gi))
				if kind != exitSuccess && !slices.ContainsFunc(hits[gi], func(h hit) bool { return h.ret == ret }) {
					hits[gi] = append(hits[gi], hit{ret, kind})
				}
			}
		})
	}
	for gi, grp := range groups {
		for _, h := range hits[gi] {
			a.reportCompleter(fi, grp, h.ret, h.kind)
		}
	}
}

func (a *checker) reportCompleter(fi *funcInfo, grp *completerGroup, ret *ssa.Return, kind exitKind) {
	rep := grp.rep
	var where []string
	for _, r := range grp.releases {
		w := a.syn.shortPos(r.pos)
		if r.via != "" {
			w = r.via + " at " + w
		}
		if !slices.Contains(where, w) {
			where = append(where, w)
		}
	}
	verb := "deleted"
	if len(grp.releases) > 0 && grp.releases[0].via != "" {
		verb = "released by"
	}
	msg := fmt.Sprintf("%s is not deleted when returning here (%s); on other paths it is %s %s",
		a.entryName(rep), kind, verb, strings.Join(where, " and "))
	if verb == "deleted" {
		msg = fmt.Sprintf("%s is not deleted when returning here (%s); on other paths it is deleted at %s",
			a.entryName(rep), kind, strings.Join(where, " and "))
	}
	pos := a.retPos(fi, ret)
	diag := analysis.Diagnostic{Pos: pos, Category: categoryIncompleteCleanup, Message: msg}
	for _, r := range grp.releases {
		diag.Related = append(diag.Related, analysis.RelatedInformation{Pos: r.pos, Message: a.entryName(rep) + " is released here on other paths"})
	}
	if fix := a.fixCompleter(fi, grp, ret); fix != nil {
		diag.SuggestedFixes = []analysis.SuggestedFix{*fix}
	}
	a.report(&finding{diag: diag, fn: a.funcDecl(fi), mapVar: rep.mapVar, ignDir: rep.ignDir})
}

// memoizing reports whether ins fills a cache: it runs only when a lookup
// of the same entry found nothing, and the lookup's value is used when it
// finds one (if v, ok := m[k]; ok { return v }; m[k] = compute()). The
// entry is meant to stay.
func (a *checker) memoizing(fi *funcInfo, ins *mapOp) bool {
	if ins.instr == nil || ins.block == nil {
		return false
	}
	for _, op := range fi.ops {
		if op.kind != opLookup || op.lookup == nil || !a.sameMap(op, ins) || !same(op.k, ins.k) {
			continue
		}
		if !instrDominates(op.instr, ins.instr) {
			continue
		}
		onAbsent := false
		for _, b := range absentBlocks(op.lookup) {
			if b.Dominates(ins.block) {
				onAbsent = true
				break
			}
		}
		if onAbsent && len(valueUses(op.lookup)) > 0 {
			return true
		}
	}
	return false
}

// keyPoints returns the instructions of fi's function that compute key k.
func keyPoints(fi *funcInfo, k *expr) []ssa.Instruction {
	var out []ssa.Instruction
	for v, e := range fi.canon.memo {
		instr, ok := v.(ssa.Instruction)
		if !ok || instr.Parent() != fi.fn || instr.Block() == nil || !same(e, k) {
			continue
		}
		out = append(out, instr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pos() < out[j].Pos() })
	return out
}

// preexisting reports, for each release, whether it may remove an entry
// that existed before the function ran: some path reaches it from where
// its key is known without passing an insert of that entry by the
// function itself.
func (a *checker) preexisting(fi *funcInfo, rels []*mapOp) []bool {
	out := make([]bool, len(rels))
	if len(rels) == 0 {
		return out
	}
	g := newFlow(fi.fn, len(rels))
	for i, r := range rels {
		if r.whole || r.k == nil || r.k.Kind == kAny {
			out[i] = true
			continue
		}
		if r.k.portable() && !a.unstableKey(fi, r.k) {
			g.entry.set(i)
		} else {
			for _, instr := range keyPoints(fi, r.k) {
				g.gen(instr.Block(), indexOf(instr), i)
			}
		}
	}
	byKey := keyIndex(rels)
	for _, op := range fi.ops {
		if op.kind != opInsert {
			continue
		}
		g.kill(op.block, op.index, a.concerned(op, rels, byKey, op.fresh || op.k.Kind == kAny))
	}
	g.solve()
	for i, r := range rels {
		if !out[i] && r.block != nil {
			out[i] = g.stateAt(r.block, r.index, nil).has(i)
		}
	}
	return out
}

// valueUses returns the instructions that use the value read from a map
// (or values derived from it), other than comparisons with nil.
func valueUses(v ssa.Value) []ssa.Instruction {
	if v == nil {
		return nil
	}
	var out []ssa.Instruction
	var visit func(v ssa.Value, depth int)
	visit = func(v ssa.Value, depth int) {
		if depth > 4 || v.Referrers() == nil {
			return
		}
		for _, r := range *v.Referrers() {
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
		}
	}
	visit(v, 0)
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
				b := r.Block()
				if absentIfTrue {
					out = append(out, b.Succs[0])
				} else {
					out = append(out, b.Succs[1])
				}
			case *ssa.UnOp:
				if r.Op == token.NOT {
					visitCond(r, !absentIfTrue, depth+1)
				}
			}
		}
	}
	var visit func(v ssa.Value, depth int)
	visit = func(v ssa.Value, depth int) {
		if depth > 3 || v.Referrers() == nil {
			return
		}
		for _, r := range *v.Referrers() {
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
		}
	}
	visit(v, 0)
	return out
}

func isZeroConst(v ssa.Value) bool {
	c, ok := v.(*ssa.Const)
	return ok && c.IsNil() || ok && c.Value != nil && (c.Value.ExactString() == "0" || c.Value.ExactString() == `""` || c.Value.ExactString() == "false")
}

// condMentionsKey reports whether a branch condition compares the key or
// passes it to a predicate.
func condMentionsKey(fi *funcInfo, cond ssa.Value, k *expr, depth int) bool {
	if depth > 3 {
		return false
	}
	switch c := cond.(type) {
	case *ssa.UnOp:
		if c.Op == token.NOT {
			return condMentionsKey(fi, c.X, k, depth+1)
		}
	case *ssa.BinOp:
		return same(fi.canon.of(c.X), k) || same(fi.canon.of(c.Y), k)
	case *ssa.Call:
		for _, arg := range c.Call.Args {
			if same(fi.canon.of(arg), k) {
				return true
			}
		}
	}
	return false
}

// removedByKey reports whether the package removes single entries from
// op's map somewhere (delete, sync.Map Delete, a releasing helper). A map
// of this package that is only ever filled (or emptied wholesale) is a
// table, not per-request state, and failure paths do not leak from it;
// rule 3 covers the ones named like per-request state.
func (a *checker) removedByKey(op *mapOp) bool {
	v := op.mapVar
	if v == nil || v.Pkg() != a.pass.Pkg || v.Exported() {
		return true
	}
	return a.keyRemoved[v]
}

// condNilChecks reports whether a branch condition compares with nil a
// value the key or the map is reached through (if s == nil { return }):
// the entry is not reachable on one side, and not in question on the
// other.
func condNilChecks(fi *funcInfo, cond ssa.Value, k, m *expr) bool {
	cmp, ok := cond.(*ssa.BinOp)
	if !ok || (cmp.Op != token.EQL && cmp.Op != token.NEQ) {
		return false
	}
	x, y := cmp.X, cmp.Y
	if isNilConst(x) {
		x, y = y, x
	}
	if !isNilConst(y) {
		return false
	}
	v := fi.canon.of(x)
	for _, p := range append(prefixes(k), prefixes(m)...) {
		if same(p, v) {
			return true
		}
	}
	return false
}

// neverRemoved reports whether rule 3 covers op's map, in which case the
// other rules stay quiet about it.
func (a *checker) neverRemoved(op *mapOp) bool {
	return op.mapVar != nil && a.noRemoval[op.mapVar]
}

// checkNeverRemoved applies rule 3: inserts into an unexported tracked map
// that nothing in the package ever removes from.
func (a *checker) checkNeverRemoved() {
	for _, fn := range a.funcs {
		fi := a.infos[fn]
		if fn.Synthetic != "" {
			continue
		}
		for _, op := range fi.ops {
			if op.kind != opInsert || !op.direct() || op.mapVar == nil || !a.noRemoval[op.mapVar] {
				continue
			}
			if !a.tracked(fi, op) || !a.trackedByName(op) || isInitFunc(fn) {
				continue
			}
			// A map named like per-request state but keyed by something
			// else (a node name, a peer) is bounded by that domain.
			if !a.cfg.trackAll && !op.trackDir && !a.dirs.tracked(op.mapVar) && !a.keyIsID(op) {
				continue
			}
			name := op.mapName
			diag := analysis.Diagnostic{
				Pos:      op.pos,
				Category: categoryNeverRemoved,
				Message:  fmt.Sprintf("entries of %s are never deleted; it grows with every request", name),
			}
			if op.mapAST != nil {
				diag.End = op.mapAST.End()
			}
			if op.mapVar.Pos().IsValid() {
				diag.Related = append(diag.Related, analysis.RelatedInformation{Pos: op.mapVar.Pos(), Message: name + " is declared here; nothing in the package deletes from it"})
			}
			a.report(&finding{diag: diag, fn: a.funcDecl(fi), mapVar: op.mapVar})
		}
	}
}

func isInitFunc(fn *ssa.Function) bool {
	for fn.Parent() != nil {
		fn = fn.Parent()
	}
	return fn.Synthetic == "package initializer" || strings.HasPrefix(fn.Name(), "init#") || fn.Name() == "init"
}

// computeNoRemoval finds the unexported maps of the package that receive
// inserts and are never removed from, and do not escape the package's
// sight.
func (a *checker) computeNoRemoval() {
	a.noRemoval = make(map[*types.Var]bool)
	a.keyRemoved = make(map[*types.Var]bool)
	inserted := make(map[*types.Var]bool)
	removed := make(map[*types.Var]bool)
	var removedTypes []types.Type
	anyCleanup := false
	for _, fn := range a.funcs {
		for _, op := range a.infos[fn].ops {
			switch op.kind {
			case opInsert:
				if op.mapVar != nil && op.direct() {
					inserted[op.mapVar] = true
				}
			case opRelease:
				if op.mapVar != nil && !op.whole && !op.anyMap {
					a.keyRemoved[op.mapVar] = true
				}
				switch {
				case op.anyMap:
					anyCleanup = true
				case op.initOnly:
				case op.mapVar != nil:
					removed[op.mapVar] = true
				case op.mapType != nil:
					removedTypes = append(removedTypes, op.mapType)
				}
			}
		}
	}
	if anyCleanup {
		return
	}
	escaped := a.escapedMaps()
	for v := range inserted {
		if removed[v] || escaped[v] || v.Exported() || v.Pkg() != a.pass.Pkg {
			continue
		}
		if slices.ContainsFunc(removedTypes, func(t types.Type) bool { return types.Identical(t, v.Type()) }) {
			continue
		}
		a.noRemoval[v] = true
	}
}

// escapedMaps finds map variables and fields whose value flows where the
// analysis cannot follow it: passed to an unknown function, stored
// elsewhere, returned, sent.
func (a *checker) escapedMaps() map[*types.Var]bool {
	out := make(map[*types.Var]bool)
	for _, fn := range a.funcs {
		fi := a.infos[fn]
		for _, b := range fn.Blocks {
			for _, instr := range b.Instrs {
				switch v := instr.(type) {
				case *ssa.UnOp:
					if v.Op == token.MUL && (isMap(v.Type()) || isSyncMapType(v.Type())) {
						if mapValueEscapes(v) {
							if cv := a.classOf(fi, fi.canon.of(v)); cv != nil {
								out[cv] = true
							}
						}
					}
				case *ssa.FieldAddr:
					if isSyncMapType(derefType(v.Type())) && syncMapAddrEscapes(v) {
						if cv := fieldVar(v.X.Type(), v.Field); cv != nil {
							out[cv] = true
						}
					}
				}
			}
		}
	}
	return out
}

func mapValueEscapes(v ssa.Value) bool {
	if v.Referrers() == nil {
		return false
	}
	for _, r := range *v.Referrers() {
		switch r := r.(type) {
		case *ssa.MapUpdate:
			if r.Value == v {
				return true
			}
		case *ssa.Lookup, *ssa.Range, *ssa.DebugRef, *ssa.BinOp, *ssa.If:
		case *ssa.Call:
			if bi, ok := r.Call.Value.(*ssa.Builtin); ok {
				switch bi.Name() {
				case "delete", "clear", "len":
					continue
				}
			}
			return true
		default:
			return true
		}
	}
	return false
}

func syncMapAddrEscapes(v ssa.Value) bool {
	for _, r := range *v.Referrers() {
		call, ok := r.(ssa.CallInstruction)
		if !ok {
			if _, isStore := r.(*ssa.Store); isStore {
				continue
			}
			return true
		}
		callee := call.Common().StaticCallee()
		if callee == nil || callee.Pkg == nil || callee.Pkg.Pkg.Path() != "sync" {
			return true
		}
	}
	return false
}
