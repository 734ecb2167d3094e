package analyzer

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/buildssa"
	"golang.org/x/tools/go/ssa"
)

// checker is the state of one run of mapleak over one package.
type checker struct {
	pass *analysis.Pass
	cfg  *compiled
	syn  *syntaxIndex
	dirs *directives

	funcs    []*ssa.Function
	infos    map[*ssa.Function]*funcInfo
	sums     map[*ssa.Function]*summary
	byObj    map[*types.Func]*ssa.Function
	imported map[*types.Func]*summary
	ctors    map[string][]ctorField
	ctorsOf  map[*ssa.Function][]ctorField
	closures map[*ssa.Function]*ssa.MakeClosure // closure -> where it is made
	globals  map[string]*types.Var
	pkgs     map[string]*types.Package
	sources  map[string][]byte // file contents, for the indentation of fixes
	guards   map[*types.Var]*guardHit
	localIDs map[ssa.Value]string

	// Package-wide facts about release code.
	releaseKeyFields map[*types.Var]bool         // fields release code reads keys from
	releaseChanElems []types.Type                // channel element types release code reads keys from
	closingFlags     map[fieldState][]*types.Var // field state set when these maps are emptied
	closingChans     map[*types.Var][]*types.Var // channel field closed when these maps are emptied

	noRemoval  map[*types.Var]bool       // maps rule 3 reports
	keyRemoved map[*types.Var]bool       // maps the package deletes single entries from
	locks      map[*funcInfo]*lockStates // lock states, computed on demand

	impls        map[string][]*types.Func                // the implementations of an interface method
	implementing map[string][]types.Type                 // the concrete types implementing an interface
	swept        map[*types.Var]bool                     // maps a periodic sweeper reaps
	concrete     []*types.Named                          // candidate implementations of interfaces
	sites        map[*ssa.Function][]ssa.CallInstruction // static calls of each function
	callers      map[*ssa.Function][]*ssa.Function       // in-package callers of each function (summary worklist)
	escapedFuncs map[*ssa.Function]bool                  // functions also used as values

	findings []*finding
}

// A finding is a diagnostic waiting for suppression checks.
type finding struct {
	diag   analysis.Diagnostic
	fn     *ast.FuncDecl
	mapVar *types.Var
	ignDir bool
}

func runAnalysis(pass *analysis.Pass, cfg *compiled) {
	input, ok := pass.ResultOf[buildssa.Analyzer].(*buildssa.SSA)
	if !ok || input == nil {
		return
	}
	a := &checker{
		pass:             pass,
		cfg:              cfg,
		syn:              newSyntaxIndex(pass.Fset, pass.TypesInfo, pass.Files),
		dirs:             parseDirectives(pass.Fset, pass.TypesInfo, pass.Files),
		infos:            make(map[*ssa.Function]*funcInfo),
		sums:             make(map[*ssa.Function]*summary),
		byObj:            make(map[*types.Func]*ssa.Function),
		imported:         make(map[*types.Func]*summary),
		ctors:            make(map[string][]ctorField),
		ctorsOf:          make(map[*ssa.Function][]ctorField),
		closures:         make(map[*ssa.Function]*ssa.MakeClosure),
		localIDs:         make(map[ssa.Value]string),
		releaseKeyFields: make(map[*types.Var]bool),
		closingFlags:     make(map[fieldState][]*types.Var),
		closingChans:     make(map[*types.Var][]*types.Var),
		impls:            make(map[string][]*types.Func),
	}
	for _, fn := range input.SrcFuncs {
		if fn == nil || len(fn.Blocks) == 0 || isCgoOrAsm(fn) {
			continue
		}
		a.funcs = append(a.funcs, fn)
	}
	a.setup()
	a.computeReleaseSources()
	a.computeSummaries(a.funcs)
	if again := a.moreReleaseSources(); len(again) > 0 {
		// Release code reached through helpers reads keys from more
		// fields or channels: hand-offs found now may change summaries.
		a.computeSummaries(again)
	}
	a.exportFacts()
	a.computeClosing()
	a.computeSwept()
	a.computeNoRemoval()
	for _, fn := range a.funcs {
		fi := a.infos[fn]
		if fn.Synthetic != "" {
			continue
		}
		a.checkInserts(fi)
		a.checkCompleter(fi)
	}
	a.checkNeverRemoved()
	a.emit()
}

// isCgoOrAsm reports functions whose SSA does not reflect what they do.
func isCgoOrAsm(fn *ssa.Function) bool {
	return strings.HasPrefix(fn.Name(), "_cgo") || strings.HasPrefix(fn.Name(), "_Cfunc")
}

// setup creates the funcInfos, finds where closures are made, and computes
// constructor summaries.
func (a *checker) setup() {
	for _, fn := range a.funcs {
		fi := &funcInfo{fn: fn, canon: newCanonicalizer(a, fn), isClosure: fn.Parent() != nil}
		a.infos[fn] = fi
		if obj, ok := fn.Object().(*types.Func); ok && obj != nil && fn.Parent() == nil {
			a.byObj[obj] = fn
		}
		// Cells of named results.
		results := fn.Signature.Results()
		fi.results = make([]*ssa.Alloc, results.Len())
		for i := 0; i < results.Len(); i++ {
			name := results.At(i).Name()
			if name == "" || name == "_" {
				continue
			}
			for _, instr := range fn.Blocks[0].Instrs {
				if al, ok := instr.(*ssa.Alloc); ok && al.Comment == name && types.Identical(derefType(al.Type()), results.At(i).Type()) {
					fi.results[i] = al
					break
				}
			}
		}
	}
	for _, fn := range a.funcs {
		for _, b := range fn.Blocks {
			for _, instr := range b.Instrs {
				switch instr := instr.(type) {
				case *ssa.MakeClosure:
					if cl, ok := instr.Fn.(*ssa.Function); ok {
						a.closures[cl] = instr
						if refs := instr.Referrers(); refs != nil {
							for _, r := range *refs {
								a.markInline(r, instr, cl)
							}
						}
					}
				case *ssa.Call, *ssa.Defer:
					v := instr.(ssa.CallInstruction).Common().Value
					if cl, ok := v.(*ssa.Function); ok && cl.Parent() != nil {
						if fi := a.infos[cl]; fi != nil {
							fi.inlineOnly = true
						}
					}
				}
			}
		}
	}
	for _, fn := range a.funcs {
		if fn.Parent() != nil {
			continue
		}
		fi := a.infos[fn]
		if c := a.computeCtor(fi); len(c) > 0 {
			a.ctorsOf[fn] = c
			a.ctors[funcName(fn)] = c
		}
	}
	// Constructor summaries are known now: forget expressions computed
	// without them.
	for _, fi := range a.infos {
		if c := fi.canon; len(c.memo) > 0 || len(c.locals) > 0 || len(c.cells) > 0 {
			fi.canon = newCanonicalizer(a, fi.fn)
		}
	}
}

// markInline marks a closure deferred or called in place as part of its
// parent's analysis.
func (a *checker) markInline(r ssa.Instruction, mc *ssa.MakeClosure, cl *ssa.Function) {
	call, ok := r.(ssa.CallInstruction)
	if !ok {
		return
	}
	if _, isGo := r.(*ssa.Go); isGo {
		return
	}
	if call.Common().Value == ssa.Value(mc) {
		if fi := a.infos[cl]; fi != nil {
			fi.inlineOnly = true
		}
	}
}

// localName gives an opaque local value a name unique in the package.
func (a *checker) localName(v ssa.Value) string {
	if n, ok := a.localIDs[v]; ok {
		return n
	}
	n := v.Name() + "#" + strconv.Itoa(len(a.localIDs))
	a.localIDs[v] = n
	return n
}

// lookupGlobal finds a package-level variable by "path.name".
func (a *checker) lookupGlobal(name string) *types.Var {
	if v, ok := a.globals[name]; ok {
		return v
	}
	if a.globals == nil {
		a.globals = make(map[string]*types.Var)
	}
	var found *types.Var
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		if pkg := a.packageByPath(name[:i]); pkg != nil {
			found, _ = pkg.Scope().Lookup(name[i+1:]).(*types.Var)
		}
	}
	a.globals[name] = found
	return found
}

// packageByPath finds this package or one of its (transitive) imports.
func (a *checker) packageByPath(path string) *types.Package {
	if a.pkgs == nil {
		a.pkgs = make(map[string]*types.Package)
		var add func(p *types.Package)
		add = func(p *types.Package) {
			if _, seen := a.pkgs[p.Path()]; seen {
				return
			}
			a.pkgs[p.Path()] = p
			for _, imp := range p.Imports() {
				add(imp)
			}
		}
		add(a.pass.Pkg)
	}
	return a.pkgs[path]
}

// tracked reports whether the map operation concerns a long-lived map
// whose entries are per-request state.
func (a *checker) tracked(fi *funcInfo, op *mapOp) bool {
	if op.anyMap || op.m == nil {
		return false
	}
	if !a.longLived(fi, op.m) {
		return false
	}
	if a.cfg.trackAll || op.trackDir || a.dirs.tracked(op.mapVar) {
		return true
	}
	if op.mapName != "" && a.cfg.maps.MatchString(op.mapName) {
		return true
	}
	for _, n := range op.keyNames {
		if a.cfg.keys.MatchString(n) {
			return true
		}
	}
	return false
}

// keyIsID reports whether op's key is named (or typed) like a request ID.
func (a *checker) keyIsID(op *mapOp) bool {
	for _, n := range op.keyNames {
		if a.cfg.keys.MatchString(n) {
			return true
		}
	}
	return false
}

// trackedByName reports whether the map itself (not only its key) says it
// holds per-request state: its name matches -maps, its declaration says
// //mapleak:track, or -track-all is set. Rule 3 needs this stronger
// signal: a map keyed by IDs may be a registry bounded by design.
func (a *checker) trackedByName(op *mapOp) bool {
	return a.cfg.trackAll || op.trackDir || a.dirs.tracked(op.mapVar) ||
		op.mapName != "" && a.cfg.maps.MatchString(op.mapName)
}

// outer rewrites e, an expr in a closure, in terms of the enclosing
// functions, as far as the closures' bindings allow.
func (a *checker) outer(fi *funcInfo, e *expr) (*funcInfo, *expr) {
	for depth := 0; fi.isClosure && e.mentionsFree() && depth < 8; depth++ {
		mc := a.closures[fi.fn]
		parent := a.infos[fi.fn.Parent()]
		if mc == nil || parent == nil {
			return fi, e
		}
		frees := make([]*expr, len(mc.Bindings))
		for i, b := range mc.Bindings {
			frees[i] = parent.canon.of(b)
		}
		ne := substFrees(e, frees)
		if ne == nil {
			return fi, e
		}
		fi, e = parent, ne
	}
	return fi, e
}

// substFrees replaces the free variables of e, keeping its parameters.
func substFrees(e *expr, frees []*expr) *expr {
	switch e.Kind {
	case kFree:
		if e.Index < len(frees) {
			return frees[e.Index]
		}
		return nil
	case kParam, kGlobal, kConst, kFunc, kLocal, kAny:
		return e
	}
	args := make([]*expr, len(e.Args))
	for i, x := range e.Args {
		if x == nil {
			continue
		}
		if args[i] = substFrees(x, frees); args[i] == nil {
			return nil
		}
	}
	switch e.Kind {
	case kField:
		return mkField(args[0], e.Name, nil)
	case kDeref:
		return mkDeref(args[0])
	case kAddr:
		return mkAddr(args[0])
	}
	return &expr{Kind: e.Kind, Name: e.Name, Index: e.Index, Args: args}
}

// longLived reports whether the map at path m outlives the call of fi's
// function: a package variable, a field of a parameter or receiver, a
// captured variable, or a local map that escapes.
func (a *checker) longLived(fi *funcInfo, m *expr) bool {
	ofi, om := a.outer(fi, m)
	root, fields := om.root()
	if root == nil {
		return false
	}
	switch root.Kind {
	case kGlobal:
		return true
	case kParam, kCall:
		return fields > 0
	case kFree:
		return true
	case kLocal:
		v := ofi.canon.locals[root.Name]
		return v != nil && a.escapes(ofi, v, 0)
	}
	return false
}

// How a value made in a function outlives the call.
const (
	escNone   = iota
	escReturn // only by being returned (directly or inside returned values)
	escOther  // stored into a field or global, sent, captured by a stored closure
)

// escapes reports whether a map (or struct holding one) made in fi's
// function outlives the call: stored into a field or global, returned,
// sent on a channel, or captured by a closure that is returned or stored.
// A map shared only with goroutines the function starts, or passed to
// calls, is not considered to escape.
func (a *checker) escapes(fi *funcInfo, v ssa.Value, depth int) bool {
	return a.escapeKind(fi, v, depth) != escNone
}

func (a *checker) escapeKind(fi *funcInfo, v ssa.Value, depth int) int {
	if depth > 6 {
		return escNone
	}
	refs := v.Referrers()
	if refs == nil {
		return escNone
	}
	kind := escNone
	note := func(k int) {
		if k > kind {
			kind = k
		}
	}
	for _, r := range *refs {
		if kind == escOther {
			break
		}
		switch r := r.(type) {
		case *ssa.Store:
			if r.Val != v {
				continue
			}
			switch addr := r.Addr.(type) {
			case *ssa.Alloc:
				// A local variable: follow its loads and captures.
				note(a.escapeKind(fi, addr, depth+1))
				note(a.cellEscapeKind(fi, addr, depth+1))
			case *ssa.FieldAddr:
				if base, ok := addr.X.(*ssa.Alloc); ok && base.Parent() == fi.fn {
					note(a.escapeKind(fi, base, depth+1))
					continue
				}
				note(escOther)
			default:
				note(escOther)
			}
		case *ssa.Return:
			note(escReturn)
		case *ssa.Send:
			note(escOther)
		case *ssa.MapUpdate:
			if r.Value == v {
				// Stored into another map: as long-lived as that map.
				if isLocalValue(r.Map, fi.fn) {
					note(a.escapeKind(fi, localBase(r.Map), depth+1))
				} else {
					note(escOther)
				}
			}
		case *ssa.MakeInterface, *ssa.ChangeType, *ssa.Phi, *ssa.UnOp:
			note(a.escapeKind(fi, r.(ssa.Value), depth+1))
		case *ssa.MakeClosure:
			note(a.escapeKind(fi, r, depth+1))
		}
	}
	return kind
}

// isLocalValue reports whether v is a map made in fn, possibly loaded from
// a local variable.
func isLocalValue(v ssa.Value, fn *ssa.Function) bool {
	switch v := v.(type) {
	case *ssa.MakeMap:
		return v.Parent() == fn
	case *ssa.UnOp:
		if al, ok := v.X.(*ssa.Alloc); ok {
			return al.Parent() == fn
		}
	}
	return false
}

// localBase returns the value to follow for a local map: the variable it
// is loaded from, or the map itself.
func localBase(v ssa.Value) ssa.Value {
	if u, ok := v.(*ssa.UnOp); ok {
		return u.X
	}
	return v
}

// localRootKind returns how the local map at the root of m escapes, or
// escOther when m is not rooted in a local value.
func (a *checker) localRootKind(fi *funcInfo, m *expr) int {
	ofi, om := a.outer(fi, m)
	root, _ := om.root()
	if root == nil || root.Kind != kLocal || ofi != fi {
		return escOther // (a closure's map outlives the closure's returns)
	}
	v := ofi.canon.locals[root.Name]
	if v == nil {
		return escOther
	}
	return a.escapeKind(ofi, v, 0)
}

// cellEscapeKind reports how the local variable cell escapes through the
// values loaded from it and the closures that capture it.
func (a *checker) cellEscapeKind(fi *funcInfo, cell *ssa.Alloc, depth int) int {
	kind := escNone
	for _, r := range *cell.Referrers() {
		k := escNone
		switch r := r.(type) {
		case *ssa.UnOp:
			if r.Op == token.MUL {
				k = a.escapeKind(fi, r, depth+1)
			}
		case *ssa.MakeClosure:
			k = a.escapeKind(fi, r, depth+1)
		}
		if k > kind {
			kind = k
		}
	}
	return kind
}

// releases reports whether release op r removes the entry inserted by ins.
func (a *checker) releases(fi *funcInfo, r, ins *mapOp) bool {
	if r.kind != opRelease {
		return false
	}
	if r.anyMap {
		return ins.fresh || same(r.k, ins.k)
	}
	if !a.sameMap(r, ins) {
		return false
	}
	if r.whole || ins.fresh || r.k.Kind == kAny || ins.k.Kind == kAny {
		return true
	}
	return same(r.k, ins.k)
}

// sameMap reports whether two operations concern the same map: the same
// access path, or the same declared field of the same type.
func (a *checker) sameMap(x, y *mapOp) bool {
	if same(x.m, y.m) {
		return true
	}
	return x.mapVar != nil && x.mapVar == y.mapVar
}

// addReleaseKills kills the bits of inserts at the operations that
// release them, and at hand-offs of their keys.
func (a *checker) addReleaseKills(fi *funcInfo, g *flow, inserts []*mapOp) {
	a.addReleaseKillsFiltered(fi, g, inserts, true)
}

// addReleaseKillsFiltered is addReleaseKills; withMay says whether
// releases through helpers that release only on some paths count.
func (a *checker) addReleaseKillsFiltered(fi *funcInfo, g *flow, inserts []*mapOp, withMay bool) {
	idx := newInsertIndex(inserts)
	for _, r := range fi.ops {
		if r.kind != opRelease || r.cond == condOnSuccess || r.may && !withMay || r.async && !namesKey(r) {
			continue
		}
		mask := newBitset(len(inserts))
		for _, i := range idx.candidates(r) {
			if a.releases(fi, r, inserts[i]) {
				mask.set(i)
			}
		}
		g.kill(r.block, r.index, mask)
	}
	for _, out := range fi.outs {
		mask := newBitset(len(inserts))
		for _, k := range out.keys {
			for _, i := range idx.byKey[k.String()] {
				if a.handsOff(out, inserts[i].k) {
					mask.set(i)
				}
			}
		}
		if out.elem != nil && len(a.releaseKeyFields) > 0 {
			// A value carrying the key in a field.
			for i, ins := range inserts {
				if !mask.has(i) && a.handsOff(out, ins.k) {
					mask.set(i)
				}
			}
		}
		g.kill(out.block, out.index, mask)
	}
}

// An insertIndex finds the inserts a release may concern without
// comparing every release with every insert.
type insertIndex struct {
	byMap  map[string][]int
	byVar  map[*types.Var][]int
	byKey  map[string][]int
	fresh  []int
	anyKey []int // fresh or under kAny: a release of any key may concern them
}

func newInsertIndex(inserts []*mapOp) *insertIndex {
	x := &insertIndex{byMap: make(map[string][]int), byVar: make(map[*types.Var][]int), byKey: make(map[string][]int)}
	for i, ins := range inserts {
		x.byMap[ins.m.String()] = append(x.byMap[ins.m.String()], i)
		if ins.mapVar != nil {
			x.byVar[ins.mapVar] = append(x.byVar[ins.mapVar], i)
		}
		x.byKey[ins.k.String()] = append(x.byKey[ins.k.String()], i)
		if ins.fresh {
			x.fresh = append(x.fresh, i)
		}
		if ins.fresh || ins.k == nil || ins.k.Kind == kAny {
			x.anyKey = append(x.anyKey, i)
		}
	}
	return x
}

// candidates returns the inserts r may release, in increasing order: a
// superset of them, for releases to decide.
func (x *insertIndex) candidates(r *mapOp) []int {
	var out []int
	switch {
	case r.anyMap:
		out = append(slices.Clone(x.byKey[r.k.String()]), x.fresh...)
	case r.whole || r.k == nil || r.k.Kind == kAny:
		out = slices.Clone(x.byMap[r.m.String()])
		if r.mapVar != nil {
			out = append(out, x.byVar[r.mapVar]...)
		}
	default:
		// One key: the inserts under it and those any key may concern,
		// whatever their map (releases compares the maps). Comparing
		// every insert of the map would make a function with many
		// inserts and deletes quadratic.
		out = append(slices.Clone(x.byKey[r.k.String()]), x.anyKey...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// concerned returns the set of ops (indexed by key in byKey, see keyIndex)
// on op's map, under op's key unless anyKey.
func (a *checker) concerned(op *mapOp, ops []*mapOp, byKey map[string][]int, anyKey bool) bitset {
	mask := newBitset(len(ops))
	if anyKey {
		for i, x := range ops {
			if a.sameMap(op, x) {
				mask.set(i)
			}
		}
		return mask
	}
	for _, i := range byKey[op.k.String()] {
		if a.sameMap(op, ops[i]) {
			mask.set(i)
		}
	}
	return mask
}

// keyIndex maps the rendering of each op's key to the op's index, to match
// operations by key without comparing every pair.
func keyIndex(ops []*mapOp) map[string][]int {
	idx := make(map[string][]int, len(ops))
	for i, op := range ops {
		if op.k != nil {
			idx[op.k.String()] = append(idx[op.k.String()], i)
		}
	}
	return idx
}

// handsOff reports whether a value leaving through out carries key k to
// release code that reads it back.
func (a *checker) handsOff(out keyOut, k *expr) bool {
	carries := false
	for _, x := range out.keys {
		if same(x, k) {
			carries = true
			break
		}
	}
	if !carries && out.elem != nil {
		// A value sent to another goroutine whose field holds the key,
		// a field the package's release code reads keys from (a stream
		// handed to its acceptor, later closed by closeStream(s.id)).
		for f := range a.releaseKeyFields {
			for _, x := range out.keys {
				if same(mkField(x, f.Name(), a.ctorField), k) && lookupFieldType(out.elem, f) {
					return true
				}
			}
		}
	}
	if !carries {
		return false
	}
	if out.field != nil && a.releaseKeyFields[out.field] {
		return true
	}
	if out.elem != nil {
		for _, t := range a.releaseChanElems {
			if types.Identical(t, out.elem) || types.Identical(derefType(t), derefType(out.elem)) {
				return true
			}
		}
	}
	return false
}

// lookupFieldType reports whether f is a field of the struct t is or
// points to.
func lookupFieldType(t types.Type, f *types.Var) bool {
	return lookupField(t, f.Name()) == f
}

// computeReleaseSources finds where the package's release code reads its
// keys from: fields (delete(m, req.id)) and channels (id := <-expired).
//
// It runs before the summaries, over the direct deletes of the package;
// hand-offs to release code in helpers are found through those helpers'
// own deletes.
func (a *checker) computeReleaseSources() {
	for _, fn := range a.funcs {
		for _, b := range fn.Blocks {
			for _, instr := range b.Instrs {
				call, ok := instr.(ssa.CallInstruction)
				if !ok {
					continue
				}
				common := call.Common()
				switch {
				case isBuiltin(common.Value, "delete") && len(common.Args) == 2:
					a.traceKeySource(common.Args[1], 0)
				case len(common.Args) >= 2:
					if callee := common.StaticCallee(); callee != nil && callee.Pkg != nil && callee.Pkg.Pkg.Path() == "sync" {
						switch callee.Name() {
						case "Delete", "LoadAndDelete", "CompareAndDelete":
							a.traceKeySource(common.Args[1], 0)
						}
					}
				}
			}
		}
	}
}

// moreReleaseSources adds the key sources of releases done through
// helpers and returns the functions whose operations may change with
// them: those with keys leaving through fields or channels (whether that
// is a hand-off depends on the sources) and those storing into a field
// release code now reads keys from. It returns nil when no key leaving
// any function can be a hand-off now that was not before.
func (a *checker) moreReleaseSources() []*ssa.Function {
	fields := make(map[*types.Var]bool, len(a.releaseKeyFields))
	for f := range a.releaseKeyFields {
		fields[f] = true
	}
	elems := len(a.releaseChanElems)
	for _, fn := range a.funcs {
		for _, op := range a.infos[fn].ops {
			if op.kind == opRelease && !op.whole && op.via != "" && op.keyVal != nil {
				a.traceKeySource(op.keyVal, 0)
			}
		}
	}
	if len(a.releaseKeyFields) == len(fields) && len(a.releaseChanElems) == elems {
		return nil
	}
	// Only a key leaving through a field or channel that release code now
	// reads back changes anything.
	changes := false
	for _, fn := range a.funcs {
		for _, out := range a.infos[fn].outs {
			if out.field != nil && a.releaseKeyFields[out.field] || out.elem != nil {
				changes = true
			}
		}
	}
	if !changes {
		return nil
	}
	var again []*ssa.Function
	for _, fn := range a.funcs {
		if len(a.infos[fn].outs) > 0 || storesIntoNew(fn, a.releaseKeyFields, fields) {
			again = append(again, fn)
		}
	}
	return again
}

// storesIntoNew reports whether fn stores into a field of now that is
// not in before.
func storesIntoNew(fn *ssa.Function, now, before map[*types.Var]bool) bool {
	if len(now) == len(before) {
		return false
	}
	for _, b := range fn.Blocks {
		for _, instr := range b.Instrs {
			if st, ok := instr.(*ssa.Store); ok {
				if fa, ok := st.Addr.(*ssa.FieldAddr); ok {
					if f := fieldVar(fa.X.Type(), fa.Field); f != nil && now[f] && !before[f] {
						return true
					}
				}
			}
		}
	}
	return false
}

func (a *checker) addChanElem(t types.Type) {
	for _, x := range a.releaseChanElems {
		if types.Identical(x, t) {
			return
		}
	}
	a.releaseChanElems = append(a.releaseChanElems, t)
}

func isBuiltin(v ssa.Value, name string) bool {
	b, ok := v.(*ssa.Builtin)
	return ok && b.Name() == name
}

func (a *checker) traceKeySource(v ssa.Value, depth int) {
	if depth > 6 || v == nil {
		return
	}
	switch v := v.(type) {
	case *ssa.Convert:
		a.traceKeySource(v.X, depth+1)
	case *ssa.ChangeType:
		a.traceKeySource(v.X, depth+1)
	case *ssa.MakeInterface:
		a.traceKeySource(v.X, depth+1)
	case *ssa.TypeAssert:
		a.traceKeySource(v.X, depth+1)
	case *ssa.Extract:
		switch t := v.Tuple.(type) {
		case *ssa.TypeAssert:
			a.traceKeySource(t.X, depth+1)
		case *ssa.Select:
			// Extract #2+j is the value of the j-th receive case.
			j := v.Index - 2
			for _, st := range t.States {
				if st.Dir != types.RecvOnly {
					continue
				}
				if j == 0 {
					if el := chanElem(st.Chan.Type()); el != nil {
						a.addChanElem(el)
					}
					break
				}
				j--
			}
		case *ssa.UnOp: // v, ok := <-ch
			if el := chanElem(t.X.Type()); el != nil {
				a.addChanElem(el)
			}
		}
	case *ssa.UnOp:
		switch v.Op {
		case token.ARROW:
			if el := chanElem(v.X.Type()); el != nil {
				a.addChanElem(el)
			}
		case token.MUL:
			if fa, ok := v.X.(*ssa.FieldAddr); ok {
				if f := fieldVar(fa.X.Type(), fa.Field); f != nil {
					a.releaseKeyFields[f] = true
				}
				a.traceKeySource(fa.X, depth+1)
			}
		}
	case *ssa.Field:
		if f := fieldVar(v.X.Type(), v.Field); f != nil {
			a.releaseKeyFields[f] = true
		}
		a.traceKeySource(v.X, depth+1)
	case *ssa.Phi:
		for _, e := range v.Edges {
			if e != v {
				a.traceKeySource(e, depth+1)
			}
		}
	}
}

// computeSwept finds the maps a sweeper reaps: a range loop that deletes
// some of the keys it visits, deciding by time (expiry), in a function
// that reads the clock or waits on a timer. Entries left on failing paths
// expire there; the labelling rule counts a timer as local cleanup.
func (a *checker) computeSwept() {
	a.swept = make(map[*types.Var]bool)
	for _, fn := range a.funcs {
		fi := a.infos[fn]
		var swept []*types.Var
		for _, op := range fi.ops {
			if op.kind == opRelease && op.sweep && op.mapVar != nil {
				swept = append(swept, op.mapVar)
			}
		}
		if len(swept) == 0 || !usesClock(fn) {
			continue
		}
		for _, v := range swept {
			a.swept[v] = true
		}
	}
}

// usesClock reports whether fn reads the clock (time.Now, time.Since,
// t.Before...) or receives from a timer or ticker channel.
func usesClock(fn *ssa.Function) bool {
	for _, b := range fn.Blocks {
		for _, instr := range b.Instrs {
			switch instr := instr.(type) {
			case ssa.CallInstruction:
				if callee := instr.Common().StaticCallee(); callee != nil && callee.Pkg != nil && callee.Pkg.Pkg.Path() == "time" {
					return true
				}
			case *ssa.UnOp:
				if instr.Op == token.ARROW {
					if el := chanElem(instr.X.Type()); el != nil && types.TypeString(el, nil) == "time.Time" {
						return true
					}
				}
			case *ssa.Select:
				for _, st := range instr.States {
					if el := chanElem(st.Chan.Type()); el != nil && types.TypeString(el, nil) == "time.Time" {
						return true
					}
				}
			}
		}
	}
	return false
}

// A fieldState is a field holding a constant: closed == true,
// state == stateClosed.
type fieldState struct {
	field *types.Var
	value string // constant.Value.ExactString
}

// A stateStore is a store of a constant into a field.
type stateStore struct {
	fieldState
	store *ssa.Store
}

// computeClosing finds the "closed" markers of maps: a bool field set to
// true, a field set to a constant state that the function keeps until it
// empties the map (nc.status = CLOSED ... nc.subs = nil), or a channel
// closed, by a function that empties the map. A path that sees the
// marker may leave the entry: the map is (being) emptied. Assigning a
// fresh map (c.connected = true; c.pending = make(...)) prepares the map
// for new entries, it does not close it: a value set by a function that
// only does that to the map is the open one, whether a bool or another
// constant, and marks nothing.
func (a *checker) computeClosing() {
	for _, fn := range a.funcs {
		fi := a.infos[fn]
		var emptied []*types.Var
		var empties []*mapOp
		for _, op := range fi.ops {
			if op.kind == opRelease && op.whole && !op.initOnly && op.mapVar != nil {
				empties = append(empties, op)
				if !slices.Contains(emptied, op.mapVar) {
					emptied = append(emptied, op.mapVar)
				}
			}
		}
		if len(emptied) == 0 {
			continue
		}
		// The maps a flag set here marks closed: those emptied in place,
		// not only given a fresh map.
		var emptiedInPlace []*types.Var
		for _, op := range empties {
			if !freshMapStore(op) && !slices.Contains(emptiedInPlace, op.mapVar) {
				emptiedInPlace = append(emptiedInPlace, op.mapVar)
			}
		}
		if len(emptiedInPlace) > 0 {
			for _, s := range fi.flagSet {
				if s.value == "true" || keptUntilEmptied(fi, s, empties) {
					a.closingFlags[s.fieldState] = append(a.closingFlags[s.fieldState], emptiedInPlace...)
				}
			}
		}
		for _, ch := range fi.closes {
			if v := a.classOf(fi, ch); v != nil {
				a.closingChans[v] = append(a.closingChans[v], emptied...)
			}
		}
	}
}

// keptUntilEmptied reports whether a state other than closed = true is a
// closing marker: its store runs before an emptying of the map on every
// path to it, and no later store of the function changes the field again
// (a reconnect that empties the map between "reconnecting" and
// "connected" marks neither). Assigning a fresh map (c.pending =
// make(...)) prepares the map for new entries: the state set with it is
// the one new requests run in (connected), no closing marker.
func keptUntilEmptied(fi *funcInfo, s stateStore, empties []*mapOp) bool {
	if !slices.ContainsFunc(empties, func(op *mapOp) bool {
		if op.block == nil || op.index >= len(op.block.Instrs) {
			return false
		}
		return !freshMapStore(op) && instrDominates(s.store, op.block.Instrs[op.index])
	}) {
		return false
	}
	for _, o := range fi.flagSet {
		if o.store != s.store && o.field == s.field && reachableAfter(s.store, o.store) {
			return false
		}
	}
	// Stores of non-constant values to the field.
	for _, b := range fi.fn.Blocks {
		for _, instr := range b.Instrs {
			if st, ok := instr.(*ssa.Store); ok && st != s.store {
				if _, isConst := st.Val.(*ssa.Const); isConst {
					continue
				}
				if fa, ok := st.Addr.(*ssa.FieldAddr); ok && fieldVar(fa.X.Type(), fa.Field) == s.field && reachableAfter(s.store, st) {
					return false
				}
			}
		}
	}
	return true
}

// freshMapStore reports whether op, an emptying of a map, assigns a
// fresh map to it (c.pending = make(...), c.pending = map[K]V{}): the map
// is made ready for new entries rather than emptied for good.
func freshMapStore(op *mapOp) bool {
	if op.block == nil || op.index >= len(op.block.Instrs) {
		return false
	}
	st, ok := op.block.Instrs[op.index].(*ssa.Store)
	if !ok {
		return false
	}
	_, fresh := st.Val.(*ssa.MakeMap)
	return fresh
}

// reachableAfter reports whether y may run after x in their function.
func reachableAfter(x, y ssa.Instruction) bool {
	bx, by := x.Block(), y.Block()
	if bx == by && indexOf(x) < indexOf(y) {
		return true
	}
	seen := map[*ssa.BasicBlock]bool{}
	work := slices.Clone(bx.Succs)
	for len(work) > 0 {
		b := work[len(work)-1]
		work = work[:len(work)-1]
		if seen[b] {
			continue
		}
		if b == by {
			return true
		}
		seen[b] = true
		work = append(work, b.Succs...)
	}
	return false
}

// closingEdges returns, for fi's function, the blocks entered only when a
// closing marker is seen, with the maps that marker says are emptied.
func (a *checker) closingEdges(fi *funcInfo) map[*ssa.BasicBlock][]*types.Var {
	if len(a.closingFlags) == 0 && len(a.closingChans) == 0 {
		return nil
	}
	out := make(map[*ssa.BasicBlock][]*types.Var)
	for _, b := range fi.fn.Blocks {
		if len(b.Instrs) == 0 {
			continue
		}
		ifi, ok := b.Instrs[len(b.Instrs)-1].(*ssa.If)
		if !ok || len(b.Succs) != 2 {
			continue
		}
		onTrue, onFalse := a.closingCond(ifi.Cond, 0)
		for i, maps := range [2][]*types.Var{onTrue, onFalse} {
			if succ := b.Succs[i]; len(maps) > 0 && len(succ.Preds) == 1 {
				out[succ] = append(out[succ], maps...)
			}
		}
	}
	return out
}

// closingCond returns the maps a branch condition says are (being)
// emptied when it holds and when it does not: a closed flag or state
// (c.closed, !c.closed, nc.status == CLOSED, nc.status != CLOSED), a
// select case on a closed channel, or a predicate of this package whose
// body is one such condition (nc.isClosed()).
func (a *checker) closingCond(cond ssa.Value, depth int) (onTrue, onFalse []*types.Var) {
	state := func(v ssa.Value, value string) []*types.Var {
		switch v := v.(type) {
		case *ssa.UnOp:
			if fa, ok := v.X.(*ssa.FieldAddr); ok && v.Op == token.MUL {
				return a.closingFlags[fieldState{fieldVar(fa.X.Type(), fa.Field), value}]
			}
		case *ssa.Field:
			return a.closingFlags[fieldState{fieldVar(v.X.Type(), v.Field), value}]
		}
		return nil
	}
	switch c := cond.(type) {
	case *ssa.UnOp:
		if c.Op == token.NOT {
			f, t := a.closingCond(c.X, depth)
			return t, f
		}
		return state(c, "true"), state(c, "false")
	case *ssa.Field:
		return state(c, "true"), state(c, "false")
	case *ssa.Call:
		callee := c.Call.StaticCallee()
		if depth > 0 || callee == nil || a.infos[callee] == nil || len(callee.Blocks) != 1 {
			return nil, nil
		}
		if ret, ok := callee.Blocks[0].Instrs[len(callee.Blocks[0].Instrs)-1].(*ssa.Return); ok && len(ret.Results) == 1 {
			return a.closingCond(ret.Results[0], depth+1)
		}
	case *ssa.BinOp:
		if c.Op != token.EQL && c.Op != token.NEQ {
			return nil, nil
		}
		// Select case on a closed channel.
		if ex, ok := c.X.(*ssa.Extract); ok && ex.Index == 0 && c.Op == token.EQL {
			if sel, ok := ex.Tuple.(*ssa.Select); ok {
				if k, ok := c.Y.(*ssa.Const); ok && k.Value != nil {
					i := int(k.Int64())
					if i >= 0 && i < len(sel.States) {
						if u, ok := sel.States[i].Chan.(*ssa.UnOp); ok && u.Op == token.MUL {
							if fa, ok := u.X.(*ssa.FieldAddr); ok {
								return a.closingChans[fieldVar(fa.X.Type(), fa.Field)], nil
							}
						}
					}
				}
			}
			return nil, nil
		}
		x, y := c.X, c.Y
		if _, ok := x.(*ssa.Const); ok {
			x, y = y, x
		}
		k, ok := y.(*ssa.Const)
		if !ok || k.Value == nil {
			return nil, nil
		}
		maps := state(x, k.Value.ExactString())
		if c.Op == token.EQL {
			return maps, nil
		}
		return nil, maps
	}
	return nil, nil
}

// report queues a diagnostic; emit applies the suppression directives.
func (a *checker) report(f *finding) {
	a.findings = append(a.findings, f)
}

func (a *checker) emit() {
	sort.SliceStable(a.findings, func(i, j int) bool { return a.findings[i].diag.Pos < a.findings[j].diag.Pos })
	seen := make(map[string]bool)
	for _, f := range a.findings {
		key := fmt.Sprint(f.diag.Pos, f.diag.Message)
		if seen[key] {
			continue
		}
		seen[key] = true
		if f.ignDir {
			continue
		}
		if dir := a.dirs.suppressor(a.pass.Fset, f.diag.Pos, f.fn, f.mapVar); dir != nil {
			dir.used = true
			continue
		}
		a.pass.Report(f.diag)
	}
	for _, dir := range a.dirs.all {
		switch {
		case dir.bad != "":
			a.pass.Report(analysis.Diagnostic{Pos: dir.pos, End: dir.end, Category: "directive", Message: dir.bad})
		case a.cfg.reportStale && dir.kind == dirIgnore && !dir.used:
			a.pass.Report(analysis.Diagnostic{Pos: dir.pos, End: dir.end, Category: "directive", Message: "//mapleak:ignore suppresses nothing; remove it"})
		}
	}
}

// funcDecl returns the declaration enclosing fi's function (the outermost
// function for a closure).
func (a *checker) funcDecl(fi *funcInfo) *ast.FuncDecl {
	fn := fi.fn
	for fn.Parent() != nil {
		fn = fn.Parent()
	}
	if fd, ok := fn.Syntax().(*ast.FuncDecl); ok {
		return fd
	}
	return a.syn.enclosingFuncDecl(fi.fn.Pos())
}
