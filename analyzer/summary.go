package analyzer

import (
	"go/token"
	"go/types"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/tools/go/ssa"
)

// An effect is what a function does to the entries of a map reachable from
// its parameters, free variables or package variables. Paths are exprs
// over parameters (p0 is the receiver of a method), free variables and
// globals, so that a caller can substitute its arguments.
type effect struct {
	Map, Key *expr
	MapName  string
	KeyNames []string
	Tracked  bool // the map's declaration says //mapleak:track
	Ignored  bool // the map's declaration says //mapleak:ignore
	SyncMap  bool

	Value   *expr // (inserts) the value stored: p1, or r0 when it is returned
	Must    bool  // (releases) on every successful return
	Whole   bool  // releases every entry
	Fresh   bool  // inserts under a key the function makes itself (Key is any)
	Async   bool  // released later by a goroutine or callback
	Abandon bool  // released only on a timeout or cancellation branch

	// CondFree is 1 + the index of the free variable whose nilness guards
	// the release (a deferred `if err != nil { delete(m, k) }`), or 0.
	CondFree   int
	CondNonNil bool

	Via string // the helper that does it, for messages
}

// opFlags returns the flags of the operation of the given kind that eff
// becomes at a call.
func (eff *effect) opFlags(kind opKind) opFlags {
	f := flagIf(flagTrackDir, eff.Tracked) | flagIf(flagIgnoreDir, eff.Ignored) | flagIf(flagSyncMap, eff.SyncMap)
	if kind == opInsert {
		return f | flagIf(flagFresh, eff.Fresh)
	}
	return f | flagIf(flagWhole, eff.Whole) | flagIf(flagAbandon, eff.Abandon) | flagIf(flagMay, !eff.Must)
}

// sameEffect reports whether x and y do the same to the same entry: the
// same map and key, and the same kind of release or insert (whole, fresh,
// async, abandon, must, the condition of a deferred release). Names, the
// value stored and the helper are for messages and are not compared.
func sameEffect(x, y *effect) bool {
	return same(x.Map, y.Map) && same(x.Key, y.Key) &&
		x.Whole == y.Whole && x.Fresh == y.Fresh && x.Async == y.Async && x.Abandon == y.Abandon && x.Must == y.Must &&
		x.CondFree == y.CondFree && (x.CondFree == 0 || x.CondNonNil == y.CondNonNil)
}

// addEffect appends eff to effects unless an effect there is the same, or
// effects already holds maxEffects.
func addEffect(effects []*effect, eff *effect) []*effect {
	if len(effects) >= maxEffects || slices.ContainsFunc(effects, func(x *effect) bool { return sameEffect(x, eff) }) {
		return effects
	}
	return append(effects, eff)
}

// String renders e for debugging output and facts' text.
func (e *effect) String() string {
	var b strings.Builder
	b.WriteString(e.Map.String())
	b.WriteString("[")
	b.WriteString(e.Key.String())
	b.WriteString("]")
	var flags []string
	if e.Whole {
		flags = append(flags, "all")
	}
	if e.Fresh {
		flags = append(flags, "fresh")
	}
	if e.Async {
		flags = append(flags, "async")
	}
	if e.Abandon {
		flags = append(flags, "abandon")
	}
	if e.Must {
		flags = append(flags, "must")
	}
	if e.CondFree > 0 {
		if e.CondNonNil {
			flags = append(flags, "if-f"+strconv.Itoa(e.CondFree-1)+"!=nil")
		} else {
			flags = append(flags, "if-f"+strconv.Itoa(e.CondFree-1)+"==nil")
		}
	}
	if len(flags) > 0 {
		b.WriteString("{" + strings.Join(flags, ",") + "}")
	}
	return b.String()
}

// maxSummaryKeyDepth bounds the keys of summarized releases.
const maxSummaryKeyDepth = 6

// maxEffects bounds the effects of one summary: recursive functions
// could otherwise grow them without end (f(x) calls f(x.next)).
const maxEffects = 32

// A summary is what callers need to know about a function.
type summary struct {
	Releases []*effect
	Inserts  []*effect // entries left in the map on a successful return
	Ctor     []ctorField
}

func (s *summary) empty() bool {
	return s == nil || len(s.Releases) == 0 && len(s.Inserts) == 0 && len(s.Ctor) == 0
}

// sameSummary reports whether x and y tell callers the same: the same
// effects (sameEffect) in the same order, and the same constructor fields.
// A change in anything else (names, the value an insert stores) does not
// make callers collect their operations again.
func sameSummary(x, y *summary) bool {
	if x.empty() || y.empty() {
		return x.empty() && y.empty()
	}
	return slices.EqualFunc(x.Releases, y.Releases, sameEffect) &&
		slices.EqualFunc(x.Inserts, y.Inserts, sameEffect) &&
		slices.EqualFunc(x.Ctor, y.Ctor, func(f, g ctorField) bool { return f.Field == g.Field && same(f.Value, g.Value) })
}

// String renders s for debugging output and facts' text.
func (s *summary) String() string {
	var parts []string
	if len(s.Releases) > 0 {
		var rs []string
		for _, e := range s.Releases {
			rs = append(rs, e.String())
		}
		parts = append(parts, "releases "+strings.Join(rs, " "))
	}
	if len(s.Inserts) > 0 {
		var is []string
		for _, e := range s.Inserts {
			is = append(is, e.String())
		}
		parts = append(parts, "inserts "+strings.Join(is, " "))
	}
	if len(s.Ctor) > 0 {
		var cs []string
		for _, c := range s.Ctor {
			cs = append(cs, c.Field+"="+c.Value.String())
		}
		parts = append(parts, "makes "+strings.Join(cs, " "))
	}
	return strings.Join(parts, "; ")
}

// summaryFact carries a function's summary to the packages that import it.
type summaryFact struct {
	Summary summary
}

func (*summaryFact) AFact() {}

func (f *summaryFact) String() string { return "mapleak(" + f.Summary.String() + ")" }

// summaryOf returns the summary of fn, from this package or from a fact.
func (a *checker) summaryOf(fn *ssa.Function) *summary {
	if o := fn.Origin(); o != nil {
		fn = o
	}
	if _, ok := a.infos[fn]; ok {
		return a.sums[fn]
	}
	if obj, ok := fn.Object().(*types.Func); ok && obj != nil {
		return a.summaryOfObj(obj)
	}
	return nil
}

func (a *checker) summaryOfObj(obj *types.Func) *summary {
	obj = obj.Origin()
	if obj.Pkg() == a.pass.Pkg {
		if fn := a.byObj[obj]; fn != nil {
			return a.sums[fn]
		}
		return nil
	}
	if s, ok := a.imported[obj]; ok {
		return s
	}
	var fact summaryFact
	var s *summary
	if a.pass.ImportObjectFact(obj, &fact) {
		s = &fact.Summary
	}
	a.imported[obj] = s
	return s
}

func (a *checker) funcByObj(obj *types.Func) *ssa.Function {
	return a.byObj[obj.Origin()]
}

// computeSummaries computes the summaries of the package's functions to a
// fixpoint over the calls between them, starting from the operations of
// funcs (all of them the first time; later, those whose operations may
// have changed) and recollecting the callers of every function whose
// summary changes.
func (a *checker) computeSummaries(funcs []*ssa.Function) {
	if a.callers == nil {
		a.callers = make(map[*ssa.Function][]*ssa.Function)
	}
	callers := a.callers
	queue := make([]*ssa.Function, 0, len(funcs))
	queued := make(map[*ssa.Function]bool)
	for _, fn := range funcs {
		queue = append(queue, fn)
		queued[fn] = true
	}
	// Closures are summarized before their parents: they come after them
	// in SrcFuncs, so process the queue backwards first.
	slices.Reverse(queue)
	rounds := make(map[*ssa.Function]int)
	for len(queue) > 0 {
		fn := queue[0]
		queue = queue[1:]
		queued[fn] = false
		fi := a.infos[fn]
		a.collectOps(fi)
		for _, callee := range fi.callees {
			if !slices.Contains(callers[callee], fn) {
				callers[callee] = append(callers[callee], fn)
			}
		}
		if fn.Parent() != nil {
			// A closure's summary is applied where it is made.
			if !slices.Contains(callers[fn], fn.Parent()) {
				callers[fn] = append(callers[fn], fn.Parent())
			}
		}
		s := a.summarize(fi)
		old := a.sums[fn]
		if sameSummary(old, s) {
			continue
		}
		a.sums[fn] = s
		rounds[fn]++
		if rounds[fn] > 8 {
			continue // give up on a pathological cycle
		}
		for _, caller := range callers[fn] {
			if !queued[caller] {
				queued[caller] = true
				queue = append(queue, caller)
			}
		}
	}
	// Every function was last collected after its callees' final
	// summaries: the worklist requeues callers whenever a summary changes.
}

// summarize computes fi's summary from its current operations.
func (a *checker) summarize(fi *funcInfo) *summary {
	s := &summary{Ctor: a.ctorsOf[fi.fn]}
	var rels []*mapOp
	for _, op := range fi.ops {
		if op.kind != opRelease || op.is(flagAnyMap) || op.m == nil {
			continue
		}
		if !op.m.portable() || !op.k.portable() || op.k.depth() > maxSummaryKeyDepth {
			continue
		}
		if !op.is(flagWhole) && op.k.Kind != kAny && a.unstableKey(fi, op.k) {
			continue // a key the caller cannot name (c.nextID(), c.cur after c.cur++)
		}
		if !a.relevant(op) {
			continue
		}
		rels = append(rels, op)
	}
	pre := a.preexisting(fi, rels)
	must := a.mustRelease(fi, rels)
	for i, op := range rels {
		if !pre[i] || op.cond == condOnSuccess {
			continue // rolls back the function's own insert, or releases only when it succeeds
		}
		eff := a.effectOf(op)
		eff.Abandon = eff.Abandon || a.abandonAt(fi, op.block)
		eff.Must = must[i] && !op.is(flagAsync)
		if fi.isClosure {
			eff.CondFree, eff.CondNonNil = fi.freeNilCond(op.block)
		}
		s.Releases = addEffect(s.Releases, eff)
	}
	s.Inserts = a.insertEffects(fi)
	if s.empty() {
		return nil
	}
	return s
}

// effectOf describes op for callers: its entry, the map's names and what
// its declaration says, and op's own flags. Whether a release is a must,
// the branch it is on, the condition of a deferred release and the value
// of an insert are for the summarizer to add.
func (a *checker) effectOf(op *mapOp) *effect {
	return &effect{
		Map:      op.m,
		Key:      op.k,
		MapName:  op.mapName,
		KeyNames: op.keyNames,
		Tracked:  op.is(flagTrackDir) || a.dirs.tracked(op.mapVar),
		Ignored:  op.is(flagIgnoreDir) || a.dirs.declIgnored(op.mapVar) != nil,
		SyncMap:  op.is(flagSyncMap),
		Whole:    op.is(flagWhole),
		Fresh:    op.is(flagFresh),
		Async:    op.is(flagAsync),
		Abandon:  op.is(flagAbandon),
		Via:      op.via,
	}
}

// insertEffects finds the inserts into maps reachable from parameters,
// free variables or globals that survive a successful return of fi, with
// no wait for a reply in between.
func (a *checker) insertEffects(fi *funcInfo) []*effect {
	if isInitFunc(fi.fn) {
		return nil // nobody calls it
	}
	var inserts []*mapOp
	for _, op := range fi.ops {
		if op.kind == opInsert && op.m.portable() && a.relevant(op) && !memoizing(fi, op) {
			inserts = append(inserts, op)
		}
	}
	if len(inserts) == 0 {
		return nil
	}
	inserts = dropCovered(fi, inserts)
	if len(inserts) == 0 {
		return nil
	}
	g := newFlow(fi.fn, len(inserts))
	for i, ins := range inserts {
		g.gen(ins.block, ins.index, i)
	}
	a.addReleaseKills(fi, g, inserts)
	g.edgeKill = a.loopLocalKill(fi, inserts)
	for _, w := range fi.waits {
		g.killAll(w.Block(), indexOf(w))
	}
	g.solve()
	var out []*effect
	for _, ret := range fi.returns {
		g.forEachArrival(ret, func(pred *ssa.BasicBlock, st bitset) {
			if st.empty() || a.exitKind(fi, ret, pred, nil) != exitSuccess {
				return
			}
			for i, ins := range inserts {
				if !st.has(i) {
					continue
				}
				eff := a.effectOf(ins)
				if !ins.k.portable() || a.unstableKey(fi, ins.k) {
					eff.Key = leaf(kAny, "", 0)
					eff.Fresh = true
					// A key the function made and returns is the caller's
					// to name (id := c.register(req)).
					for j, r := range ret.Results {
						if same(fi.canon.of(r), ins.k) {
							eff.Key = leaf(kResult, "", j)
							eff.Fresh = false
						}
					}
				}
				eff.Value = summaryValue(fi, ins.value, ret)
				out = addEffect(out, eff)
			}
		})
	}
	return out
}

// summaryValue expresses the value an insert stored in terms a caller
// understands: a parameter, or a result of the function.
func summaryValue(fi *funcInfo, v *expr, ret *ssa.Return) *expr {
	if v == nil {
		return nil
	}
	for i, r := range ret.Results {
		if x := fi.canon.of(r); same(x, v) {
			return leaf(kResult, "", i)
		} else if derivesFrom(v, x) && x.Kind == kLocal {
			// The value is reached from a returned one: keep the path.
			return nil
		}
	}
	if v.portable() && !v.mentionsFree() {
		return v
	}
	return nil
}

// mustRelease reports, for each release, whether the function releases
// that entry on every return that may report success.
func (a *checker) mustRelease(fi *funcInfo, rels []*mapOp) []bool {
	out := make([]bool, len(rels))
	if len(rels) == 0 {
		return out
	}
	g := newFlow(fi.fn, len(rels))
	for i := range rels {
		g.entry.set(i)
	}
	// A release that happens whenever it is reached.
	killConcerned(fi, g, rels, func(r *mapOp) (bool, bool) {
		if r.kind != opRelease || r.cond == condOnSuccess || r.is(flagMay|flagAsync) {
			return false, false
		}
		return true, r.is(flagWhole) || r.k.Kind == kAny
	})
	g.solve()
	for i := range out {
		out[i] = true
	}
	for _, ret := range fi.returns {
		g.forEachArrival(ret, func(pred *ssa.BasicBlock, st bitset) {
			for i := range rels {
				if out[i] && st.has(i) && a.maySucceed(fi, ret, pred, g.liveBit(i)) {
					out[i] = false
				}
			}
		})
	}
	return out
}

// unstableKey reports whether a key expression over parameters does not
// name the same value for the caller: it calls a function (c.nextSeq())
// or reads a field the function itself writes (seq := c.seq; c.seq++).
func (a *checker) unstableKey(fi *funcInfo, k *expr) bool {
	if k == nil {
		return true
	}
	switch k.Kind {
	case kCall:
		if !a.pureCall(k.Name) {
			return true
		}
	case kField:
		if v := lookupFieldOf(a, fi, k); v != nil && fi.storedFields()[v] {
			return true
		}
	}
	for _, x := range k.Args {
		if a.unstableKey(fi, x) {
			return true
		}
	}
	return false
}

// pureCall reports whether a call in a key returns the same value for the
// same operands: a getter (req.ID(), msg.GetId(), k.String()) or a
// formatting function (strconv.Itoa, fmt.Sprintf).
func (a *checker) pureCall(name string) bool {
	for _, p := range []string{"strconv.", "fmt.Sprint", "strings.", "path.", "encoding/hex.", "encoding/base64."} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	short := name
	if i := strings.LastIndexByte(short, '.'); i >= 0 {
		short = short[i+1:]
	}
	switch short {
	case "String", "Key", "Name":
		return true
	}
	// Generators make a new key on each call (genID, NextID, newToken).
	lower := strings.ToLower(short)
	for _, p := range []string{"gen", "next", "new", "alloc", "make", "create", "incr", "acquire", "reserve", "rand", "uuid", "fresh"} {
		if strings.HasPrefix(lower, p) {
			return false
		}
	}
	return strings.HasPrefix(short, "Get") || strings.HasPrefix(short, "get") || a.cfg.keys.MatchString(short)
}

// storedFields returns the fields fi's function writes: stored into, or
// whose address it passes to a call (Decode(&c.resp)).
func (fi *funcInfo) storedFields() map[*types.Var]bool {
	if fi.stored != nil {
		return fi.stored
	}
	fi.stored = make(map[*types.Var]bool)
	for _, b := range fi.fn.Blocks {
		for _, instr := range b.Instrs {
			switch instr := instr.(type) {
			case *ssa.Store:
				if fa, ok := instr.Addr.(*ssa.FieldAddr); ok {
					if v := fieldVar(fa.X.Type(), fa.Field); v != nil {
						fi.stored[v] = true
					}
				}
			case ssa.CallInstruction:
				// Decode(&c.resp), and c.resp.reset() with a pointer
				// receiver: the receiver is the first argument.
				for _, arg := range instr.Common().Args {
					if fa, ok := arg.(*ssa.FieldAddr); ok {
						if v := fieldVar(fa.X.Type(), fa.Field); v != nil {
							fi.stored[v] = true
						}
					}
				}
			}
		}
	}
	return fi.stored
}

// freeNilCond finds a condition on a free variable's nilness that guards
// block b of a closure: `if err != nil { ... }` where err is captured.
func (fi *funcInfo) freeNilCond(b *ssa.BasicBlock) (int, bool) {
	for e := range dominatingConditions(b) {
		x, nilIfTrue, ok := nilComparison(e.cond)
		if !ok {
			continue
		}
		load, ok := x.(*ssa.UnOp)
		if !ok || load.Op != token.MUL {
			continue
		}
		fv, ok := load.X.(*ssa.FreeVar)
		if !ok {
			continue
		}
		idx := slices.Index(fi.fn.FreeVars, fv)
		if idx < 0 {
			continue
		}
		return idx + 1, e.onTrue != nilIfTrue // the free variable is non-nil there
	}
	return 0, false
}

// reachableFromOutside reports whether other packages can call fn: an
// exported function, or an exported method (of any type: a method of an
// unexported type is called through interfaces). Only their summaries are
// exported as facts; the others reach other packages through the
// summaries of the exported functions that call them.
func reachableFromOutside(fn *types.Func) bool {
	return fn.Exported()
}

// exportFacts exports the summaries of the package's named functions.
func (a *checker) exportFacts() {
	for _, fn := range a.funcs {
		if fn.Parent() != nil {
			continue
		}
		s := a.sums[fn]
		obj, ok := fn.Object().(*types.Func)
		if !ok || obj == nil || s.empty() || !reachableFromOutside(obj) {
			continue
		}
		a.pass.ExportObjectFact(obj, &summaryFact{Summary: *s})
	}
}
