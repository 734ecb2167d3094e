package analyzer

import (
	"go/ast"
	"go/token"
	"go/types"
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

// opFlags qualify a map operation: which entries it concerns, when it
// takes effect, and what the map's declaration says.
type opFlags uint16

const (
	// Which entries.
	flagWhole  opFlags = 1 << iota // releases every entry (clear, reassignment, range-and-delete)
	flagFresh                      // insert by a helper under a key it made itself (k is kAny)
	flagAnyMap                     // -cleanup function: releases its key in any map
	flagSweep                      // a range loop that deletes some of the keys it visits

	// When.
	flagDeferred // registered by defer: runs at every later return
	flagAsync    // hand-off: a goroutine or callback releases it later
	flagAbandon  // on a timeout or cancellation branch
	flagMay      // release through a helper that releases only on some successful paths
	flagInitOnly // a reassignment that initializes the map (constructor, lazy init)

	// The map.
	flagSyncMap   // a sync.Map
	flagTrackDir  // the map's declaration says //mapleak:track (seen through a helper)
	flagIgnoreDir // the map's declaration says //mapleak:ignore (seen through a helper)
)

var flagNames = [...]string{"whole", "fresh", "anymap", "sweep", "deferred", "async", "abandon", "may", "initonly", "syncmap", "track", "ignore"}

// String renders the flags for debugging output: "deferred,whole".
func (f opFlags) String() string {
	var names []string
	for i, name := range flagNames {
		if f&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	return strings.Join(names, ",")
}

// flagIf returns f if on, else no flag.
func flagIf(f opFlags, on bool) opFlags {
	if on {
		return f
	}
	return 0
}

// A mapOp is one operation on the entries of a map, at one instruction.
type mapOp struct {
	kind  opKind
	flags opFlags
	cond  condKind // for deferred releases
	instr ssa.Instruction
	block *ssa.BasicBlock
	index int // of instr in block
	m, k  *expr

	mapVar   *types.Var // the declared variable or field holding the map; nil if unknown
	mapName  string
	keyNames []string
	mapType  types.Type
	via      string // the helper that does the operation, if any

	pos    token.Pos
	mapAST ast.Expr // syntax of the map and key at a direct operation
	keyAST ast.Expr

	value  *expr     // opInsert: the value stored (a helper's result, for summaries)
	lookup ssa.Value // opLookup: the value or comma-ok tuple read
	keyVal ssa.Value // direct operations: the key operand
}

// is reports whether op has any of the flags f.
func (op *mapOp) is(f opFlags) bool { return op.flags&f != 0 }

func (op *mapOp) direct() bool { return op.mapAST != nil }

// collectOps recomputes fi.ops from the function's instructions and the
// current summaries of its callees.
func (a *checker) collectOps(fi *funcInfo) {
	fi.ops = fi.ops[:0]
	fi.outs = fi.outs[:0]
	fi.locks = fi.locks[:0]
	fi.mutexes = fi.mutexes[:0]
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
		fi.noteKeyOut(b, i, instr, instr.X, nil, chanElem(instr.Chan.Type()))

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
				fi.noteKeyOut(body, 0, instr, st.Send, nil, chanElem(st.Chan.Type()))
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
		a.collectCall(fi, b, instr, add)
	}
}

// collectStore handles reassignments of maps, closures stored for later,
// and keys stored into struct fields.
func (a *checker) collectStore(fi *funcInfo, b *ssa.BasicBlock, i int, st *ssa.Store, add func(*mapOp)) {
	c := fi.canon
	valType := st.Val.Type()
	switch {
	case isMap(valType) || isSyncMapType(valType):
		op := &mapOp{kind: opRelease, flags: flagWhole | flagIf(flagSyncMap, isSyncMapType(valType)), m: mkDeref(c.of(st.Addr)), k: leaf(kAny, "", 0), mapType: valType}
		op.flags |= flagIf(flagInitOnly, fi.isInitStore(b, st))
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
		a.applyClosureValue(fi, st, st.Val, add)
	}
	if fa, ok := st.Addr.(*ssa.FieldAddr); ok && len(a.releaseKeyFields) > 0 {
		// Only fields release code reads keys from can hand a key off.
		if fv := fieldVar(fa.X.Type(), fa.Field); fv != nil && a.releaseKeyFields[fv] {
			fi.noteKeyOut(b, i, st, st.Val, fv, nil)
		}
	}
}

// isInitStore reports whether a store of a map initializes it rather than
// dropping the entries of a live map: a field of a struct allocated here,
// a package variable in an initializer, or a lazy `if m == nil { m = make() }`.
func (fi *funcInfo) isInitStore(b *ssa.BasicBlock, st *ssa.Store) bool {
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
	target := fi.canon.of(st.Addr)
	for e := range dominatingConditions(b) {
		x, nilIfTrue, ok := nilComparison(e.cond)
		if !ok || e.onTrue != nilIfTrue {
			continue // not the nil side of a nil check
		}
		if load, ok := x.(*ssa.UnOp); ok && load.Op == token.MUL && same(fi.canon.of(load.X), target) {
			return true
		}
	}
	return false
}

func (a *checker) collectCall(fi *funcInfo, b *ssa.BasicBlock, instr ssa.CallInstruction, add func(*mapOp)) {
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
				op.flags |= flagIf(flagWhole, rng != nil)
				if call := a.syn.call(instr.Pos()); call != nil && len(call.Args) == 2 {
					op.mapAST, op.keyAST = call.Args[0], call.Args[1]
				}
				op.markMode(mode)
				a.describeMap(fi, op)
				add(op)
				if rng != nil && mode == modeCall {
					op.flags |= flagIf(flagSweep, !deletesEveryKey(rng, b))
					// `for k := range m { delete(m, k) }` empties m: the
					// release takes effect where the loop starts, even on
					// paths that would skip its (non-empty) body.
					op.instr, op.block, op.index = rng, rng.Block(), indexOf(rng)
				}
			}
		case "clear":
			if len(args) == 1 && isMap(args[0].Type()) {
				op := &mapOp{kind: opRelease, flags: flagWhole, m: c.of(args[0]), k: leaf(kAny, "", 0), mapType: args[0].Type()}
				if call := a.syn.call(instr.Pos()); call != nil && len(call.Args) == 1 {
					op.mapAST = call.Args[0]
				}
				op.markMode(mode)
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
		if a.collectKnownCall(fi, instr, callee, mode, add) {
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
			a.applyClosureValue(fi, instr, arg, add)
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

func (op *mapOp) markMode(mode callMode) {
	switch mode {
	case modeGo, modeHandoff:
		op.flags |= flagAsync
	case modeDefer:
		op.flags |= flagDeferred
	}
}

// collectKnownCall handles sync.Map, mutexes, waits and -cleanup functions.
func (a *checker) collectKnownCall(fi *funcInfo, instr ssa.CallInstruction, callee *ssa.Function, mode callMode, add func(*mapOp)) bool {
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
				op := &mapOp{kind: opInsert, flags: flagSyncMap, m: mkDeref(c.of(args[0])), k: c.of(args[1]), mapType: derefType(args[0].Type()), keyVal: args[1]}
				if len(args) >= 3 {
					op.value = c.of(args[2])
				}
				a.syncMapSyntax(instr, op)
				a.describeMap(fi, op)
				if mode == modeCall {
					add(op)
				}
				if obj.Name() == "LoadOrStore" && mode == modeCall {
					add(&mapOp{kind: opLookup, flags: flagSyncMap, m: op.m, k: op.k, lookup: instr.Value(), mapType: op.mapType})
				}
			}
			return true
		case "Map.Delete", "Map.LoadAndDelete", "Map.CompareAndDelete":
			if len(args) >= 2 {
				op := &mapOp{kind: opRelease, flags: flagSyncMap, m: mkDeref(c.of(args[0])), k: c.of(args[1]), mapType: derefType(args[0].Type()), keyVal: args[1]}
				a.syncMapSyntax(instr, op)
				op.markMode(mode)
				a.describeMap(fi, op)
				add(op)
				if obj.Name() == "LoadAndDelete" && mode == modeCall {
					add(&mapOp{kind: opLookup, flags: flagSyncMap, m: op.m, k: op.k, lookup: instr.Value(), mapType: op.mapType})
				}
			}
			return true
		case "Map.Clear":
			if len(args) >= 1 {
				op := &mapOp{kind: opRelease, flags: flagWhole | flagSyncMap, m: mkDeref(c.of(args[0])), k: leaf(kAny, "", 0), mapType: derefType(args[0].Type())}
				a.syncMapSyntax(instr, op)
				op.markMode(mode)
				a.describeMap(fi, op)
				add(op)
			}
			return true
		case "Map.Load":
			if len(args) >= 2 && mode == modeCall {
				add(&mapOp{kind: opLookup, flags: flagSyncMap, m: mkDeref(c.of(args[0])), k: c.of(args[1]), lookup: instr.Value(), mapType: derefType(args[0].Type())})
			}
			return true
		case "Map.Range":
			return true
		case "Mutex.Lock", "Mutex.Unlock", "RWMutex.Lock", "RWMutex.Unlock", "RWMutex.RLock", "RWMutex.RUnlock":
			if len(args) >= 1 {
				name := obj.Name()
				// The source of the mutex is looked up when a fix needs it:
				// most locks never concern a map mapleak reports.
				fi.locks = append(fi.locks, &lockOp{instr: instr, mu: fi.mutex(c.of(args[0])), lock: name == "Lock" || name == "RLock", read: name == "RLock" || name == "RUnlock", deferred: mode == modeDefer})
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
			op := &mapOp{kind: opRelease, flags: flagAnyMap, m: leaf(kAny, "", 0), k: c.of(args[j]), via: obj.Name()}
			op.markMode(mode)
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

// isNamedErrorResult reports whether v is the cell of a named result of
// type error of fi's function.
func (fi *funcInfo) isNamedErrorResult(v ssa.Value) bool {
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
	if isSyncMapType(op.mapType) {
		op.flags |= flagSyncMap
	}
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
