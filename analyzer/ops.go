package analyzer

import (
	"go/ast"
	"go/token"
	"go/types"
	"slices"
	"strings"

	"golang.org/x/tools/go/ssa"
)

// opKind classifies what a map operation does to the entries of a map.
type opKind uint8

const (
	opInsert  opKind = iota + 1 // m[k] = v, sync.Map Store, an inserting helper
	opRelease                   // delete, clear, reassignment, sync.Map removal, releasing helper, hand-off
	opLookup                    // v := m[k], sync.Map Load
)

// condKind says when a release registered by a deferred closure runs.
type condKind uint8

const (
	condAlways    condKind = iota
	condOnFailure          // if err != nil { delete(...) } on the named error result
	condOnSuccess          // if err == nil { delete(...) }
)

// A mapOp is one operation on the entries of a map, at one instruction.
type mapOp struct {
	kind  opKind
	instr ssa.Instruction
	block *ssa.BasicBlock
	index int // of instr in block
	m, k  *expr

	mapVar   *types.Var // the declared variable or field holding the map; nil if unknown
	mapName  string
	keyNames []string
	trackDir bool // the map's declaration says //mapleak:track (seen through a helper)
	ignDir   bool // the map's declaration says //mapleak:ignore (seen through a helper)
	mapType  types.Type
	syncMap  bool

	whole    bool     // releases every entry (clear, reassignment, range-and-delete)
	fresh    bool     // insert by a helper under a key it made itself (k is kAny)
	deferred bool     // registered by defer: runs at every later return
	async    bool     // hand-off: a goroutine or callback releases it later
	abandon  bool     // on a timeout or cancellation branch
	cond     condKind // for deferred releases
	initOnly bool     // a reassignment that initializes the map (constructor, lazy init)
	anyMap   bool     // -cleanup function: releases its key in any map
	sweep    bool     // a range loop that deletes some of the keys it visits
	via      string   // the helper that does the operation, if any

	pos    token.Pos
	mapAST ast.Expr // syntax of the map and key at a direct operation
	keyAST ast.Expr

	value  *expr     // opInsert: the value stored (a helper's result, for summaries)
	may    bool      // opRelease through a helper that releases only on some successful paths
	lookup ssa.Value // opLookup: the value or comma-ok tuple read
	keyVal ssa.Value // direct operations: the key operand
}

func (op *mapOp) direct() bool { return op.mapAST != nil }

// A keyOut is a key leaving the function through a struct field or a
// channel, possibly to release code that reads it back.
type keyOut struct {
	instr ssa.Instruction
	block *ssa.BasicBlock
	index int
	keys  []*expr
	field *types.Var // stored into this field
	elem  types.Type // sent on a channel of this element type
}

// A lockOp locks or unlocks a mutex.
type lockOp struct {
	instr    ssa.Instruction
	mu       string // canonical expr of the mutex address
	lock     bool
	read     bool
	deferred bool

	src       string // source of the mutex expression (c.mu); see lockSource
	srcLooked bool
}

// lockSource returns the source of lo's mutex expression (c.mu), or "" if
// it has none (a mutex locked through a method value).
func (a *checker) lockSource(lo *lockOp) string {
	if !lo.srcLooked {
		lo.srcLooked = true
		if call := a.syn.call(lo.instr.Pos()); call != nil {
			if sel, ok := ast.Unparen(call.Fun).(*ast.SelectorExpr); ok {
				lo.src = exprString(sel.X)
			}
		}
	}
	return lo.src
}

// funcInfo is what the analysis knows about one function.
type funcInfo struct {
	fn      *ssa.Function
	canon   *canonicalizer
	ops     []*mapOp
	outs    []keyOut
	locks   []*lockOp
	waits   []ssa.Instruction // receives, blocking selects, WaitGroup.Wait
	closes  []*expr           // channels closed
	flagSet []stateStore      // fields set to a constant (closed = true, state = stateClosed)
	returns []*ssa.Return
	callees []*ssa.Function // in-package functions called (for the summary worklist)
	stored  map[*types.Var]bool
	loops   []astLoop

	// Set once per function.
	results     []*ssa.Alloc // cells of named results, by result index (nil if lifted)
	isClosure   bool
	inlineOnly  bool // a deferred closure or a closure called in place: part of its parent
	branchKinds map[*ssa.BasicBlock]branchKind
	domKinds    map[*ssa.BasicBlock]branchKind
}

// collectOps recomputes fi.ops from the function's instructions and the
// current summaries of its callees.
func (a *checker) collectOps(fi *funcInfo) {
	fi.ops = fi.ops[:0]
	fi.outs = fi.outs[:0]
	fi.locks = fi.locks[:0]
	fi.waits = fi.waits[:0]
	fi.closes = fi.closes[:0]
	fi.flagSet = fi.flagSet[:0]
	fi.returns = fi.returns[:0]
	fi.callees = fi.callees[:0]
	for _, b := range fi.fn.Blocks {
		for i, instr := range b.Instrs {
			a.collectInstr(fi, b, i, instr)
		}
	}
}

func (a *checker) collectInstr(fi *funcInfo, b *ssa.BasicBlock, i int, instr ssa.Instruction) {
	c := fi.canon
	add := func(op *mapOp) {
		op.instr, op.block, op.index = instr, b, i
		if op.pos == token.NoPos {
			op.pos = instr.Pos()
		}
		fi.ops = append(fi.ops, op)
	}
	switch instr := instr.(type) {
	case *ssa.MapUpdate:
		if !isMap(instr.Map.Type()) {
			return
		}
		op := &mapOp{kind: opInsert, m: c.of(instr.Map), k: c.of(instr.Key), mapType: instr.Map.Type(), keyVal: instr.Key, value: c.of(instr.Value)}
		if ie := a.syn.indexExpr(instr.Pos()); ie != nil {
			op.mapAST, op.keyAST = ie.X, ie.Index
		} else if kv := a.syn.keyValue(instr.Pos()); kv != nil {
			op.keyAST = kv.Key
		}
		a.describeMap(fi, op)
		add(op)

	case *ssa.Lookup:
		if !isMap(instr.X.Type()) {
			return
		}
		op := &mapOp{kind: opLookup, m: c.of(instr.X), k: c.of(instr.Index), mapType: instr.X.Type(), lookup: instr}
		add(op)

	case *ssa.Store:
		a.collectStore(fi, b, i, instr, add)

	case *ssa.Send:
		a.noteKeyOut(fi, b, i, instr, instr.X, nil, chanElem(instr.Chan.Type()))

	case *ssa.UnOp:
		if instr.Op == token.ARROW {
			fi.waits = append(fi.waits, instr)
		}

	case *ssa.Select:
		if instr.Blocking {
			for _, st := range instr.States {
				if st.Dir == types.RecvOnly {
					fi.waits = append(fi.waits, instr)
					break
				}
			}
		}
		// A send case hands its value off in the case's body.
		for i, st := range instr.States {
			if st.Dir != types.SendOnly {
				continue
			}
			if body := selectCaseBody(instr, i); body != nil {
				a.noteKeyOut(fi, body, 0, instr, st.Send, nil, chanElem(st.Chan.Type()))
			}
		}

	case *ssa.Return:
		fi.returns = append(fi.returns, instr)

	case *ssa.MakeClosure:
		// A closure that reaches a call argument or a store only through
		// a phi (reply = func() {...} on one branch) is handed off where
		// it is made.
		if passedOnIndirectly(instr) {
			a.applyMakeClosure(fi, instr, instr, nil, modeHandoff, add)
		}

	case ssa.CallInstruction:
		a.collectCall(fi, b, i, instr, add)
	}
}

// collectStore handles reassignments of maps, closures stored for later,
// and keys stored into struct fields.
func (a *checker) collectStore(fi *funcInfo, b *ssa.BasicBlock, i int, st *ssa.Store, add func(*mapOp)) {
	c := fi.canon
	valType := st.Val.Type()
	switch {
	case isMap(valType) || isSyncMapType(valType):
		op := &mapOp{kind: opRelease, whole: true, m: mkDeref(c.of(st.Addr)), k: leaf(kAny, "", 0), mapType: valType, syncMap: isSyncMapType(valType)}
		op.initOnly = a.isInitStore(fi, b, st)
		a.describeMap(fi, op)
		add(op)
	default:
		if c, ok := st.Val.(*ssa.Const); ok && c.Value != nil {
			if fa, ok := st.Addr.(*ssa.FieldAddr); ok {
				if v := fieldVar(fa.X.Type(), fa.Field); v != nil {
					fi.flagSet = append(fi.flagSet, stateStore{fieldState{v, c.Value.ExactString()}, st})
				}
			}
		}
	}
	if closureValue(st.Val) != nil {
		// A closure stored for later: a hand-off if it releases.
		a.applyClosureValue(fi, b, i, st, st.Val, add)
	}
	if fa, ok := st.Addr.(*ssa.FieldAddr); ok && len(a.releaseKeyFields) > 0 {
		// Only fields release code reads keys from can hand a key off.
		if fv := fieldVar(fa.X.Type(), fa.Field); fv != nil && a.releaseKeyFields[fv] {
			a.noteKeyOut(fi, b, i, st, st.Val, fv, nil)
		}
	}
}

// isInitStore reports whether a store of a map initializes it rather than
// dropping the entries of a live map: a field of a struct allocated here,
// a package variable in an initializer, or a lazy `if m == nil { m = make() }`.
func (a *checker) isInitStore(fi *funcInfo, b *ssa.BasicBlock, st *ssa.Store) bool {
	switch addr := st.Addr.(type) {
	case *ssa.FieldAddr:
		base := addr.X
		for {
			if u, ok := base.(*ssa.UnOp); ok && u.Op == token.MUL {
				if al, ok := u.X.(*ssa.Alloc); ok {
					if s := fi.canon.singleStore(al); s != nil {
						base = s
						continue
					}
				}
			}
			break
		}
		if _, ok := base.(*ssa.Alloc); ok {
			return true
		}
	case *ssa.Global:
		if fi.fn.Synthetic == "package initializer" || strings.HasPrefix(fi.fn.Name(), "init#") {
			return true
		}
	}
	// Lazy initialization: the store is guarded by a nil check of the same
	// location.
	target := fi.canon.of(st.Addr).String()
	for d := b; d != nil; d = d.Idom() {
		if len(d.Preds) != 1 {
			continue
		}
		p := d.Preds[0]
		ifi, ok := p.Instrs[len(p.Instrs)-1].(*ssa.If)
		if !ok {
			continue
		}
		cmp, ok := ifi.Cond.(*ssa.BinOp)
		if !ok || (cmp.Op != token.EQL && cmp.Op != token.NEQ) {
			continue
		}
		x, y := cmp.X, cmp.Y
		if isNilConst(x) {
			x, y = y, x
		}
		if !isNilConst(y) {
			continue
		}
		load, ok := x.(*ssa.UnOp)
		if !ok || load.Op != token.MUL || fi.canon.of(load.X).String() != target {
			continue
		}
		nilEdge := p.Succs[0]
		if cmp.Op == token.NEQ {
			nilEdge = p.Succs[1]
		}
		if nilEdge == d {
			return true
		}
	}
	return false
}

// noteKeyOut records a value leaving through a field store or a send; the
// hand-off check later decides whether it carries a tracked key.
func (a *checker) noteKeyOut(fi *funcInfo, b *ssa.BasicBlock, i int, instr ssa.Instruction, v ssa.Value, field *types.Var, elem types.Type) {
	out := keyOut{instr: instr, block: b, index: i, field: field, elem: elem}
	out.keys = append(out.keys, fi.canon.of(v))
	// A struct built here and sent or stored carries the keys stored into
	// its fields.
	base := v
	if u, ok := base.(*ssa.UnOp); ok && u.Op == token.MUL {
		base = u.X
	}
	if mi, ok := base.(*ssa.MakeInterface); ok {
		base = mi.X
	}
	if al, ok := base.(*ssa.Alloc); ok && al.Referrers() != nil {
		for _, r := range *al.Referrers() {
			fa, ok := r.(*ssa.FieldAddr)
			if !ok || fa.Referrers() == nil {
				continue
			}
			for _, rr := range *fa.Referrers() {
				if st, ok := rr.(*ssa.Store); ok && st.Addr == fa {
					out.keys = append(out.keys, fi.canon.of(st.Val))
				}
			}
		}
	}
	fi.outs = append(fi.outs, out)
}

func (a *checker) collectCall(fi *funcInfo, b *ssa.BasicBlock, i int, instr ssa.CallInstruction, add func(*mapOp)) {
	c := fi.canon
	common := instr.Common()
	mode := modeCall
	switch instr.(type) {
	case *ssa.Go:
		mode = modeGo
	case *ssa.Defer:
		mode = modeDefer
	}
	args := common.Args
	if bi, ok := common.Value.(*ssa.Builtin); ok {
		switch bi.Name() {
		case "delete":
			if len(args) == 2 && isMap(args[0].Type()) {
				op := &mapOp{kind: opRelease, m: c.of(args[0]), k: c.of(args[1]), mapType: args[0].Type(), keyVal: args[1]}
				rng := rangeOfKey(args[0], args[1], c)
				op.whole = rng != nil
				if call := a.syn.call(instr.Pos()); call != nil && len(call.Args) == 2 {
					op.mapAST, op.keyAST = call.Args[0], call.Args[1]
				}
				a.markMode(op, mode)
				a.describeMap(fi, op)
				add(op)
				if rng != nil && mode == modeCall {
					op.sweep = !deletesEveryKey(rng, b)
					// `for k := range m { delete(m, k) }` empties m: the
					// release takes effect where the loop starts, even on
					// paths that would skip its (non-empty) body.
					op.instr, op.block, op.index = rng, rng.Block(), indexOf(rng)
				}
			}
		case "clear":
			if len(args) == 1 && isMap(args[0].Type()) {
				op := &mapOp{kind: opRelease, whole: true, m: c.of(args[0]), k: leaf(kAny, "", 0), mapType: args[0].Type()}
				if call := a.syn.call(instr.Pos()); call != nil && len(call.Args) == 1 {
					op.mapAST = call.Args[0]
				}
				a.markMode(op, mode)
				a.describeMap(fi, op)
				add(op)
			}
		case "close":
			if len(args) == 1 {
				fi.closes = append(fi.closes, c.of(args[0]))
			}
		}
		return
	}

	callee := common.StaticCallee()
	if callee != nil {
		if a.collectKnownCall(fi, b, i, instr, callee, mode, add) {
			return
		}
		if fn := callee.Origin(); fn != nil {
			callee = fn
		}
		if a.infos[callee] != nil {
			fi.callees = append(fi.callees, callee)
		}
	}

	// Operations through summaries.
	if mc, ok := common.Value.(*ssa.MakeClosure); ok {
		a.applyMakeClosure(fi, instr, mc, args, mode, add)
	} else if callee != nil {
		if a.summaryOf(callee) != nil {
			params := make([]*expr, len(args))
			for j, arg := range args {
				params[j] = c.of(arg)
			}
			a.applyCallee(fi, instr, callee, params, nil, args, mode, add)
		}
	} else if common.IsInvoke() {
		// A method of an interface whose implementations the analysis can
		// see (a map behind a small interface): a release by any of them
		// counts, an insert only when they all are the same method.
		impls := a.implementations(common.Value.Type(), common.Method.Name())
		var params []*expr
		var argVals []ssa.Value
		if len(impls) > 0 {
			params = []*expr{c.of(common.Value)}
			argVals = []ssa.Value{common.Value}
			for _, arg := range args {
				params = append(params, c.of(arg))
				argVals = append(argVals, arg)
			}
		}
		for _, impl := range impls {
			if fn := a.funcByObj(impl); fn != nil {
				fi.callees = append(fi.callees, fn)
			}
			sum := a.summaryOfObj(impl)
			if sum == nil {
				continue
			}
			if len(impls) > 1 {
				sum = &summary{Releases: sum.Releases}
			}
			a.applySummary(fi, instr, sum, impl.Name(), params, nil, argVals, nil, mode, add)
		}
	}
	// Closures passed as arguments: stored or called back later (time.AfterFunc).
	for _, arg := range args {
		if closureValue(arg) != nil {
			a.applyClosureValue(fi, b, i, instr, arg, add)
		}
	}
}

type callMode uint8

const (
	modeCall callMode = iota
	modeGo
	modeDefer
	modeHandoff // a closure stored or passed on
)

func (a *checker) markMode(op *mapOp, mode callMode) {
	switch mode {
	case modeGo, modeHandoff:
		op.async = true
	case modeDefer:
		op.deferred = true
	}
}

// collectKnownCall handles sync.Map, mutexes, waits and -cleanup functions.
func (a *checker) collectKnownCall(fi *funcInfo, b *ssa.BasicBlock, i int, instr ssa.CallInstruction, callee *ssa.Function, mode callMode, add func(*mapOp)) bool {
	c := fi.canon
	common := instr.Common()
	args := common.Args
	obj, _ := callee.Object().(*types.Func)
	if obj == nil {
		return false
	}
	if obj.Pkg() != nil && obj.Pkg().Path() == "sync" && methodRecvName(obj) != "" {
		recv := methodRecvName(obj)
		switch recv + "." + obj.Name() {
		case "Map.Store", "Map.LoadOrStore", "Map.Swap":
			if len(args) >= 2 {
				op := &mapOp{kind: opInsert, m: mkDeref(c.of(args[0])), k: c.of(args[1]), syncMap: true, mapType: derefType(args[0].Type()), keyVal: args[1]}
				if len(args) >= 3 {
					op.value = c.of(args[2])
				}
				a.syncMapSyntax(instr, op)
				a.describeMap(fi, op)
				if mode == modeCall {
					add(op)
				}
				if obj.Name() == "LoadOrStore" && mode == modeCall {
					add(&mapOp{kind: opLookup, m: op.m, k: op.k, syncMap: true, lookup: instr.Value(), mapType: op.mapType})
				}
			}
			return true
		case "Map.Delete", "Map.LoadAndDelete", "Map.CompareAndDelete":
			if len(args) >= 2 {
				op := &mapOp{kind: opRelease, m: mkDeref(c.of(args[0])), k: c.of(args[1]), syncMap: true, mapType: derefType(args[0].Type()), keyVal: args[1]}
				a.syncMapSyntax(instr, op)
				a.markMode(op, mode)
				a.describeMap(fi, op)
				add(op)
				if obj.Name() == "LoadAndDelete" && mode == modeCall {
					add(&mapOp{kind: opLookup, m: op.m, k: op.k, syncMap: true, lookup: instr.Value(), mapType: op.mapType})
				}
			}
			return true
		case "Map.Clear":
			if len(args) >= 1 {
				op := &mapOp{kind: opRelease, whole: true, m: mkDeref(c.of(args[0])), k: leaf(kAny, "", 0), syncMap: true, mapType: derefType(args[0].Type())}
				a.syncMapSyntax(instr, op)
				a.markMode(op, mode)
				a.describeMap(fi, op)
				add(op)
			}
			return true
		case "Map.Load":
			if len(args) >= 2 && mode == modeCall {
				add(&mapOp{kind: opLookup, m: mkDeref(c.of(args[0])), k: c.of(args[1]), syncMap: true, lookup: instr.Value(), mapType: derefType(args[0].Type())})
			}
			return true
		case "Map.Range":
			return true
		case "Mutex.Lock", "Mutex.Unlock", "RWMutex.Lock", "RWMutex.Unlock", "RWMutex.RLock", "RWMutex.RUnlock":
			if len(args) >= 1 {
				name := obj.Name()
				// The source of the mutex is looked up when a fix needs it:
				// most locks never concern a map mapleak reports.
				fi.locks = append(fi.locks, &lockOp{instr: instr, mu: c.of(args[0]).String(), lock: name == "Lock" || name == "RLock", read: name == "RLock" || name == "RUnlock", deferred: mode == modeDefer})
			}
			return true
		case "WaitGroup.Wait", "Cond.Wait":
			if mode == modeCall {
				fi.waits = append(fi.waits, instr)
			}
			return true
		}
	}
	if a.cfg.cleanup != nil && a.cfg.cleanup.MatchString(qualifiedFuncName(obj)) {
		start := 0
		if obj.Type().(*types.Signature).Recv() != nil {
			start = 1
		}
		for j := start; j < len(args); j++ {
			op := &mapOp{kind: opRelease, anyMap: true, m: leaf(kAny, "", 0), k: c.of(args[j]), via: obj.Name()}
			a.markMode(op, mode)
			add(op)
		}
		return true
	}
	return false
}

func (a *checker) syncMapSyntax(instr ssa.CallInstruction, op *mapOp) {
	call := a.syn.call(instr.Pos())
	if call == nil {
		return
	}
	if sel, ok := ast.Unparen(call.Fun).(*ast.SelectorExpr); ok {
		op.mapAST = sel.X
	}
	if len(call.Args) >= 1 {
		op.keyAST = call.Args[0]
	}
}

// applyCallee turns the summary of a called function into operations at
// the call.
func (a *checker) applyCallee(fi *funcInfo, instr ssa.Instruction, callee *ssa.Function, params, frees []*expr, args []ssa.Value, mode callMode, add func(*mapOp)) {
	sum := a.summaryOf(callee)
	if sum == nil {
		return
	}
	a.applySummary(fi, instr, sum, shortFuncName(callee), params, frees, args, nil, mode, add)
}

// applyMakeClosure applies the summary of a closure called, deferred or
// started as a goroutine in place. A bound method value applies the
// method's summary with the receiver bound.
func (a *checker) applyMakeClosure(fi *funcInfo, instr ssa.Instruction, mc *ssa.MakeClosure, args []ssa.Value, mode callMode, add func(*mapOp)) {
	fn, ok := mc.Fn.(*ssa.Function)
	if !ok {
		return
	}
	c := fi.canon
	if isBoundWrapper(fn) {
		if m, ok := fn.Object().(*types.Func); ok && m != nil && len(mc.Bindings) == 1 {
			if target := a.funcByObj(m); target != nil {
				fi.callees = append(fi.callees, target)
			}
			params := []*expr{c.of(mc.Bindings[0])}
			argVals := []ssa.Value{mc.Bindings[0]}
			for _, arg := range args {
				params = append(params, c.of(arg))
				argVals = append(argVals, arg)
			}
			if sum := a.summaryOfObj(m); sum != nil {
				a.applySummary(fi, instr, sum, m.Name(), params, nil, argVals, nil, mode, add)
			}
		}
		return
	}
	params := make([]*expr, len(args))
	for j, arg := range args {
		params[j] = c.of(arg)
	}
	frees := make([]*expr, len(mc.Bindings))
	for j, bv := range mc.Bindings {
		frees[j] = c.of(bv)
	}
	if sum := a.summaryOf(fn); sum != nil {
		a.applySummary(fi, instr, sum, "", params, frees, args, mc.Bindings, mode, add)
	}
}

// applyClosureValue handles a closure that is stored or passed on: its
// releases are hand-offs.
func (a *checker) applyClosureValue(fi *funcInfo, b *ssa.BasicBlock, i int, instr ssa.Instruction, v ssa.Value, add func(*mapOp)) {
	switch v := closureValue(v).(type) {
	case *ssa.MakeClosure:
		a.applyMakeClosure(fi, instr, v, nil, modeHandoff, add)
	case *ssa.Function:
		if v.Parent() != nil || v.Synthetic == "" {
			if sum := a.summaryOf(v); sum != nil {
				a.applySummary(fi, instr, sum, shortFuncName(v), nil, nil, nil, nil, modeHandoff, add)
			}
		}
	}
}

// applySummary adds the operations a summary describes.
//
// argVals are the SSA values of params and bindings those of frees: they
// give the operations their key value and syntax.
func (a *checker) applySummary(fi *funcInfo, instr ssa.Instruction, sum *summary, via string, params, frees []*expr, argVals, bindings []ssa.Value, mode callMode, add func(*mapOp)) {
	for _, eff := range sum.Releases {
		m := subst(eff.Map, params, frees, a.ctorField)
		k := subst(eff.Key, params, frees, a.ctorField)
		if m == nil || k == nil || m.depth() > maxExprDepth || k.depth() > maxExprDepth {
			continue
		}
		op := &mapOp{kind: opRelease, m: m, k: k, whole: eff.Whole, abandon: eff.Abandon, via: via, mapName: eff.MapName, keyNames: eff.KeyNames, trackDir: eff.Tracked, ignDir: eff.Ignored, syncMap: eff.SyncMap, may: !eff.Must}
		op.keyVal, op.keyAST = a.argFor(instr, k, params, frees, argVals, bindings)
		if via == "" {
			op.via = eff.Via
		}
		a.markMode(op, mode)
		if eff.Async {
			op.async = true
		}
		if mode == modeDefer && eff.CondFree > 0 && eff.CondFree <= len(bindings) {
			op.cond = condAlways
			if a.isNamedErrorResult(fi, bindings[eff.CondFree-1]) {
				if eff.CondNonNil {
					op.cond = condOnFailure
				} else {
					op.cond = condOnSuccess
				}
			}
		}
		a.describeMap(fi, op)
		add(op)
	}
	if mode != modeCall {
		return
	}
	for _, eff := range sum.Inserts {
		m := subst(eff.Map, params, frees, a.ctorField)
		k := subst(eff.Key, params, frees, a.ctorField)
		if k != nil && k.Kind == kResult {
			k = substResults(k, callResults(fi, instr))
		}
		if m == nil || k == nil || m.depth() > maxExprDepth || k.depth() > maxExprDepth {
			continue
		}
		op := &mapOp{kind: opInsert, m: m, k: k, fresh: eff.Fresh, via: via, mapName: eff.MapName, keyNames: eff.KeyNames, trackDir: eff.Tracked, ignDir: eff.Ignored, syncMap: eff.SyncMap}
		if eff.Value != nil {
			op.value = substResults(subst(eff.Value, params, frees, a.ctorField), callResults(fi, instr))
		}
		op.keyVal, op.keyAST = a.argFor(instr, k, params, frees, argVals, bindings)
		if via == "" {
			op.via = eff.Via
		}
		a.describeMap(fi, op)
		add(op)
	}
}

// argFor finds the argument (or captured variable) of a call that is the
// key k, with its syntax when it is a call argument.
func (a *checker) argFor(instr ssa.Instruction, k *expr, params, frees []*expr, argVals, bindings []ssa.Value) (ssa.Value, ast.Expr) {
	for j, p := range params {
		if j < len(argVals) && same(p, k) {
			var syn ast.Expr
			if call := a.syn.call(callPos(instr)); call != nil {
				shift := len(argVals) - len(call.Args)
				if j-shift >= 0 && j-shift < len(call.Args) {
					syn = call.Args[j-shift]
				} else if j == 0 && shift == 1 {
					if sel, ok := ast.Unparen(call.Fun).(*ast.SelectorExpr); ok {
						syn = sel.X
					}
				}
			}
			return argVals[j], syn
		}
	}
	for j, f := range frees {
		if j < len(bindings) && same(f, k) {
			return bindings[j], nil
		}
	}
	return nil, nil
}

// selectCaseBody returns the block that runs when case i of sel is
// chosen, if it can be found.
func selectCaseBody(sel *ssa.Select, i int) *ssa.BasicBlock {
	if sel.Referrers() == nil {
		return nil
	}
	for _, r := range *sel.Referrers() {
		ex, ok := r.(*ssa.Extract)
		if !ok || ex.Index != 0 || ex.Referrers() == nil {
			continue
		}
		for _, rr := range *ex.Referrers() {
			cmp, ok := rr.(*ssa.BinOp)
			if !ok || cmp.Op != token.EQL || cmp.Referrers() == nil {
				continue
			}
			k, ok := cmp.Y.(*ssa.Const)
			if !ok || k.Value == nil || int(k.Int64()) != i {
				continue
			}
			for _, use := range *cmp.Referrers() {
				if ifi, ok := use.(*ssa.If); ok {
					succ := ifi.Block().Succs[0]
					if len(succ.Preds) == 1 {
						return succ
					}
				}
			}
		}
	}
	return nil
}

// passedOnIndirectly reports whether the closure value reaches a call
// argument or a stored value through a phi or a conversion.
func passedOnIndirectly(mc *ssa.MakeClosure) bool {
	var visit func(v ssa.Value, viaPhi bool, depth int) bool
	visit = func(v ssa.Value, viaPhi bool, depth int) bool {
		if depth > 4 || v.Referrers() == nil {
			return false
		}
		for _, r := range *v.Referrers() {
			switch r := r.(type) {
			case *ssa.Phi:
				if visit(r, true, depth+1) {
					return true
				}
			case *ssa.ChangeType, *ssa.MakeInterface:
				if visit(r.(ssa.Value), viaPhi, depth+1) {
					return true
				}
			case ssa.CallInstruction:
				if !viaPhi {
					continue
				}
				for _, arg := range r.Common().Args {
					if arg == v {
						return true
					}
				}
			case *ssa.Store:
				if viaPhi && r.Val == v {
					return true
				}
			}
		}
		return false
	}
	return visit(mc, false, 0)
}

// isNamedErrorResult reports whether v is the cell of a named result of
// type error of fi's function.
func (a *checker) isNamedErrorResult(fi *funcInfo, v ssa.Value) bool {
	for i, cell := range fi.results {
		if cell != nil && cell == v && isErrorType(fi.fn.Signature.Results().At(i).Type()) {
			return true
		}
	}
	return false
}

// describeMap fills in the map's declared variable, name and type.
func (a *checker) describeMap(fi *funcInfo, op *mapOp) {
	if op.m == nil {
		return
	}
	if v := a.classOf(fi, op.m); v != nil {
		op.mapVar = v
		if op.mapName == "" {
			op.mapName = v.Name()
		}
		if op.mapType == nil {
			op.mapType = v.Type()
		}
	}
	if op.mapName == "" && op.mapAST != nil {
		op.mapName = shortMapName(op.mapAST)
	}
	if op.mapName == "" {
		if r, _ := op.m.root(); r != nil {
			switch r.Kind {
			case kParam, kFree:
				op.mapName = r.Name
			case kLocal:
				if al, ok := fi.canon.locals[r.Name].(*ssa.Alloc); ok {
					op.mapName = al.Comment
				}
			}
		}
	}
	if op.keyAST != nil && (op.keyNames == nil || op.via != "") {
		// Through a helper, the caller's spelling of the key decides
		// (add(childName) is not an ID even if add calls it id).
		op.keyNames = keyNames(op.keyAST, a.pass.TypesInfo)
	}
	if op.syncMap || isSyncMapType(op.mapType) {
		op.syncMap = true
	}
}

// classOf returns the variable or field that holds the map at path m in
// fi's function, walking the types of the path.
func (a *checker) classOf(fi *funcInfo, m *expr) *types.Var {
	switch m.Kind {
	case kGlobal:
		return a.lookupGlobal(m.Name)
	case kDeref:
		if m.Args[0].Kind == kGlobal {
			return a.lookupGlobal(m.Args[0].Name)
		}
	case kField:
		t := a.typeOf(fi, m.Args[0])
		if t == nil {
			return nil
		}
		return lookupField(t, m.Name)
	}
	return nil
}

// typeOf returns the type of the value an expr denotes in fi's function.
func (a *checker) typeOf(fi *funcInfo, e *expr) types.Type {
	switch e.Kind {
	case kParam:
		if e.Index < len(fi.fn.Params) {
			return fi.fn.Params[e.Index].Type()
		}
	case kFree:
		if e.Index < len(fi.fn.FreeVars) {
			return fi.fn.FreeVars[e.Index].Type()
		}
	case kGlobal:
		if v := a.lookupGlobal(e.Name); v != nil {
			return v.Type()
		}
	case kLocal:
		if v := fi.canon.locals[e.Name]; v != nil {
			return v.Type()
		}
	case kDeref:
		if t := a.typeOf(fi, e.Args[0]); t != nil {
			if p, ok := t.Underlying().(*types.Pointer); ok {
				return p.Elem()
			}
		}
	case kAddr:
		if t := a.typeOf(fi, e.Args[0]); t != nil {
			return types.NewPointer(t)
		}
	case kField:
		if t := a.typeOf(fi, e.Args[0]); t != nil {
			if v := lookupField(t, e.Name); v != nil {
				return v.Type()
			}
		}
	}
	return nil
}

// lookupField finds field name in the struct t is or points to,
// following embedded fields.
func lookupField(t types.Type, name string) *types.Var {
	t = types.Unalias(t)
	if p, ok := t.Underlying().(*types.Pointer); ok {
		t = p.Elem()
	}
	var pkg *types.Package
	if n, ok := types.Unalias(t).(*types.Named); ok {
		pkg = n.Obj().Pkg()
	}
	if core := typeparamCore(t); core != nil {
		if st, ok := core.(*types.Struct); ok {
			for i := 0; i < st.NumFields(); i++ {
				if st.Field(i).Name() == name {
					return st.Field(i).Origin()
				}
			}
		}
	}
	obj, _, _ := types.LookupFieldOrMethod(t, true, pkg, name)
	if v, ok := obj.(*types.Var); ok && v.IsField() {
		return v.Origin()
	}
	return nil
}

// deletesEveryKey reports whether a delete in block b runs for every key
// of the range loop rng: b is the loop body's first block.
func deletesEveryKey(rng *ssa.Range, b *ssa.BasicBlock) bool {
	if rng.Referrers() == nil {
		return false
	}
	for _, r := range *rng.Referrers() {
		next, ok := r.(*ssa.Next)
		if !ok {
			continue
		}
		loop := next.Block()
		if len(loop.Succs) == 2 && loop.Succs[0] == b {
			return true
		}
	}
	return false
}

// rangeOfKey returns the range loop over map m whose key is key, if any:
// `for k := range m { delete(m, k) }` clears m.
func rangeOfKey(m, key ssa.Value, c *canonicalizer) *ssa.Range {
	ex, ok := key.(*ssa.Extract)
	if !ok || ex.Index != 1 {
		return nil
	}
	next, ok := ex.Tuple.(*ssa.Next)
	if !ok {
		return nil
	}
	rng, ok := next.Iter.(*ssa.Range)
	if !ok || !same(c.of(rng.X), c.of(m)) {
		return nil
	}
	return rng
}

// Type helpers.

func isMap(t types.Type) bool {
	if t == nil {
		return false
	}
	_, ok := typeparamCore(t).(*types.Map)
	return ok
}

func isSyncMapType(t types.Type) bool {
	if t == nil {
		return false
	}
	n, ok := types.Unalias(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "sync" && n.Obj().Name() == "Map"
}

func derefType(t types.Type) types.Type {
	if p, ok := types.Unalias(t).Underlying().(*types.Pointer); ok {
		return p.Elem()
	}
	return t
}

var errorType = types.Universe.Lookup("error").Type()

func isErrorType(t types.Type) bool {
	if t == nil {
		return false
	}
	if types.Identical(t, errorType) {
		return true
	}
	if _, ok := t.Underlying().(*types.Interface); ok {
		return false
	}
	// A concrete error type (*MyError) as a result.
	_, named := types.Unalias(derefType(t)).(*types.Named)
	return named && types.Implements(t, errorType.Underlying().(*types.Interface))
}

func chanElem(t types.Type) types.Type {
	if ch, ok := typeparamCore(t).(*types.Chan); ok {
		return ch.Elem()
	}
	return nil
}

func isNilConst(v ssa.Value) bool {
	c, ok := v.(*ssa.Const)
	return ok && c.Value == nil
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

func isBoundWrapper(fn *ssa.Function) bool {
	return strings.HasPrefix(fn.Synthetic, "bound method wrapper")
}

// methodRecvName returns the name of the receiver's named type of a
// method ("Map" for (*sync.Map).Store), or "".
func methodRecvName(fn *types.Func) string {
	sig, ok := fn.Type().(*types.Signature)
	if !ok || sig.Recv() == nil {
		return ""
	}
	t := derefType(sig.Recv().Type())
	if n, ok := types.Unalias(t).(*types.Named); ok {
		return n.Obj().Name()
	}
	return ""
}

// qualifiedFuncName is the name -cleanup matches: pkgpath.Func or
// pkgpath.Type.Method.
func qualifiedFuncName(fn *types.Func) string {
	path := ""
	if fn.Pkg() != nil {
		path = fn.Pkg().Path() + "."
	}
	if recv := methodRecvName(fn); recv != "" {
		return path + recv + "." + fn.Name()
	}
	return path + fn.Name()
}

// shortFuncName names a function for messages: send, (*Client).send -> send.
func shortFuncName(fn *ssa.Function) string {
	if o := fn.Origin(); o != nil {
		fn = o
	}
	if fn.Parent() != nil {
		return "a closure in " + shortFuncName(fn.Parent())
	}
	return fn.Name()
}

// callResults returns the canonical exprs of the results of a call.
func callResults(fi *funcInfo, instr ssa.Instruction) []*expr {
	call, ok := instr.(*ssa.Call)
	if !ok {
		return nil
	}
	n := call.Call.Signature().Results().Len()
	if n == 1 {
		return []*expr{fi.canon.of(call)}
	}
	out := make([]*expr, n)
	base := fi.canon.of(call)
	for i := range out {
		out[i] = node(kExtract, "", base).withIndex(i)
	}
	// Extracts that exist are canonicalized the same way.
	if call.Referrers() != nil {
		for _, r := range *call.Referrers() {
			if ex, ok := r.(*ssa.Extract); ok && ex.Index < n {
				out[ex.Index] = fi.canon.of(ex)
			}
		}
	}
	return out
}

// implementations returns the methods named name of the concrete types,
// declared in this package or one it imports, that implement the
// interface t (at most a few: more is no information).
func (a *checker) implementations(t types.Type, name string) []*types.Func {
	iface, ok := t.Underlying().(*types.Interface)
	if !ok {
		return nil
	}
	// Only the package's own interfaces and those of non-standard
	// packages: io.Writer or context.Context say nothing about maps.
	named, ok := types.Unalias(t).(*types.Named)
	if !ok || named.Obj().Pkg() == nil || isStdPackage(named.Obj().Pkg().Path()) && named.Obj().Pkg() != a.pass.Pkg {
		return nil
	}
	key := types.TypeString(t, nil) + "." + name
	if fns, ok := a.impls[key]; ok {
		return fns
	}
	var found []*types.Func
	for _, recv := range a.implementers(t, iface) {
		obj, _, _ := types.LookupFieldOrMethod(recv, true, derefNamed(recv).Obj().Pkg(), name)
		fn, ok := obj.(*types.Func)
		if !ok || slices.Contains(found, fn) {
			continue
		}
		found = append(found, fn)
	}
	if len(found) > 4 {
		found = nil
	}
	a.impls[key] = found
	return found
}

// implementers returns the concrete types (T or *T) of concreteTypes that
// implement the interface iface, the underlying type of t, computed once
// per interface for all of its methods.
func (a *checker) implementers(t types.Type, iface *types.Interface) []types.Type {
	key := types.TypeString(t, nil)
	if recvs, ok := a.implementing[key]; ok {
		return recvs
	}
	var recvs []types.Type
	for _, c := range a.concreteTypes() {
		switch {
		case types.Implements(c, iface):
			recvs = append(recvs, c)
		case types.Implements(types.NewPointer(c), iface):
			recvs = append(recvs, types.NewPointer(c))
		}
	}
	if a.implementing == nil {
		a.implementing = make(map[string][]types.Type)
	}
	a.implementing[key] = recvs
	return recvs
}

// derefNamed returns the named type t is or points to.
func derefNamed(t types.Type) *types.Named {
	named, _ := types.Unalias(derefType(t)).(*types.Named)
	return named
}

// isStdPackage reports whether path is a standard library package.
func isStdPackage(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// concreteTypes returns the non-generic named non-interface types of this
// package and the non-standard packages it imports.
func (a *checker) concreteTypes() []*types.Named {
	if a.concrete != nil {
		return a.concrete
	}
	a.concrete = []*types.Named{}
	scan := func(pkg *types.Package) {
		scope := pkg.Scope()
		for _, n := range scope.Names() {
			tn, ok := scope.Lookup(n).(*types.TypeName)
			if !ok || tn.IsAlias() {
				continue
			}
			named, ok := tn.Type().(*types.Named)
			if !ok || named.TypeParams().Len() > 0 {
				continue
			}
			if _, isIface := named.Underlying().(*types.Interface); isIface {
				continue
			}
			a.concrete = append(a.concrete, named)
		}
	}
	scan(a.pass.Pkg)
	for _, imp := range a.pass.Pkg.Imports() {
		if !isStdPackage(imp.Path()) {
			scan(imp)
		}
	}
	return a.concrete
}
