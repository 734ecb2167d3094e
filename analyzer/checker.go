package analyzer

import (
	"go/types"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/buildssa"
	"golang.org/x/tools/go/ssa"
	"golang.org/x/tools/go/types/typeutil"
)

// checker is the state of one run of mapleak over one package. runAnalysis
// runs its phases in order; each field says from which phase on it holds
// its final value (fields marked "on demand" are caches any phase may
// fill).
type checker struct {
	// Set by newChecker.
	pass  *analysis.Pass
	cfg   *compiled
	debug debugOptions
	syn   *syntaxIndex
	dirs  *directives
	funcs []*ssa.Function // the package's functions with a body, closures after their parents

	// Phase 1, setup.
	infos    map[*ssa.Function]*funcInfo
	byObj    map[*types.Func]*ssa.Function
	closures map[*ssa.Function]*ssa.MakeClosure // closure -> where it is made
	ctorsOf  map[*ssa.Function][]ctorField      // constructor fields of the package's functions
	ctors    map[string][]ctorField             // the same by funcName, and imported ones on demand (loadCtor)

	// Phase 2, release sources: where release code reads its keys from.
	// Phase 3 adds those of releases done through helpers.
	releaseKeyFields map[*types.Var]bool // fields release code reads keys from
	releaseChanElems []types.Type        // channel element types release code reads keys from

	// Phase 3, summaries. Every funcInfo's operations are final too.
	sums     map[*ssa.Function]*summary
	callers  map[*ssa.Function][]*ssa.Function // in-package callers of each function (summary worklist)
	imported map[*types.Func]*summary          // summaries of other packages' functions, on demand

	// Phase 4, package-wide facts about the package's maps.
	closingFlags map[fieldState][]*types.Var // field state set when these maps are emptied (computeClosing)
	closingChans map[*types.Var][]*types.Var // channel field closed when these maps are emptied (computeClosing)
	swept        map[*types.Var]bool         // maps a periodic sweeper reaps (computeSwept)
	noRemoval    map[*types.Var]bool         // maps rule 3 reports (computeNoRemoval)
	keyRemoved   map[*types.Var]bool         // maps the package deletes single entries from (computeNoRemoval)

	// Phase 5, the rules: findings waiting for emit.
	findings []*finding

	// On demand.
	localIDs     map[ssa.Value]string                    // names of opaque local values (canonicalizer)
	globals      map[string]*types.Var                   // package variables by "path.name" (lookupGlobal)
	pkgs         map[string]*types.Package               // this package and its imports by path (packageByPath)
	ifaces       typeutil.Map                            // interface type -> *implementers
	concrete     []*types.Named                          // candidate implementations of interfaces
	sites        map[*ssa.Function][]ssa.CallInstruction // static calls of each function (callSitesOf)
	escapedFuncs map[*ssa.Function]bool                  // functions also used as values (callSitesOf)
	locks        map[*funcInfo]*lockStates               // lock states (lockStateAt)
	guards       map[*types.Var]*guardHit                // an operation under a mutex, per map (guardOf)
	sources      map[string][]byte                       // file contents, for the indentation of fixes
}

// funcInfo is what the analysis knows about one function.
type funcInfo struct {
	fn    *ssa.Function
	canon *canonicalizer // made anew at the end of setup, once constructor fields are known

	// Set by setup.
	results    []*ssa.Alloc // cells of named results, by result index (nil if lifted)
	isClosure  bool
	inlineOnly bool // a deferred closure or a closure called in place: part of its parent

	// Collected (collectOps) in the summaries phase, again each time a
	// callee's summary changes: final once the summaries are.
	ops     []*mapOp
	outs    []keyOut
	locks   []*lockOp
	mutexes []*expr           // the mutexes locks lock, one expr each
	waits   []ssa.Instruction // receives, blocking selects, WaitGroup.Wait
	closes  []*expr           // channels closed
	flagSet []stateStore      // fields set to a constant (closed = true, state = stateClosed)
	returns []*ssa.Return
	callees []*ssa.Function // in-package functions called (for the summary worklist)

	// On demand.
	stored      map[*types.Var]bool // fields the function writes (storedFields)
	loops       []astLoop           // loop statements (loops)
	branchKinds map[*ssa.BasicBlock]branchKind
	domKinds    map[*ssa.BasicBlock]branchKind
}

// runAnalysis runs mapleak over one package.
func runAnalysis(pass *analysis.Pass, cfg *compiled, debug debugOptions) {
	input, ok := pass.ResultOf[buildssa.Analyzer].(*buildssa.SSA)
	if !ok || input == nil {
		return
	}
	a := newChecker(pass, cfg, debug, input.SrcFuncs)
	// Phase 1: function infos, closures, constructor fields.
	a.setup()
	// Phase 2: where release code reads keys from (direct deletes).
	a.computeReleaseSources()
	// Phase 3: operations and summaries to a fixpoint over the calls.
	a.computeSummaries(a.funcs)
	if again := a.moreReleaseSources(); len(again) > 0 {
		// Release code reached through helpers reads keys from more
		// fields or channels: hand-offs found now may change summaries.
		a.computeSummaries(again)
	}
	a.printSummaries()
	a.exportFacts()
	// Phase 4: what the package does to its maps as a whole.
	a.computeClosing()
	a.computeSwept()
	a.computeNoRemoval()
	// Phase 5: the rules, then the findings the directives let through.
	for _, fn := range a.funcs {
		fi := a.infos[fn]
		if fn.Synthetic != "" {
			continue
		}
		a.printOps(fi)
		a.checkInserts(fi)
		a.checkCompleter(fi)
	}
	a.checkNeverRemoved()
	a.emit()
}

// newChecker prepares a run over the package of pass and its functions
// srcFuncs (buildssa's SrcFuncs).
func newChecker(pass *analysis.Pass, cfg *compiled, debug debugOptions, srcFuncs []*ssa.Function) *checker {
	a := &checker{
		pass:             pass,
		cfg:              cfg,
		debug:            debug,
		syn:              newSyntaxIndex(pass.Fset, pass.TypesInfo, pass.Files),
		dirs:             parseDirectives(pass.Fset, pass.TypesInfo, pass.Files),
		infos:            make(map[*ssa.Function]*funcInfo),
		byObj:            make(map[*types.Func]*ssa.Function),
		closures:         make(map[*ssa.Function]*ssa.MakeClosure),
		ctorsOf:          make(map[*ssa.Function][]ctorField),
		ctors:            make(map[string][]ctorField),
		releaseKeyFields: make(map[*types.Var]bool),
		sums:             make(map[*ssa.Function]*summary),
		imported:         make(map[*types.Func]*summary),
		closingFlags:     make(map[fieldState][]*types.Var),
		closingChans:     make(map[*types.Var][]*types.Var),
		localIDs:         make(map[ssa.Value]string),
	}
	for _, fn := range srcFuncs {
		if fn == nil || len(fn.Blocks) == 0 || isCgoOrAsm(fn) {
			continue
		}
		a.funcs = append(a.funcs, fn)
	}
	return a
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
		if c := computeCtor(fi); len(c) > 0 {
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
