package analyzer

import (
	"go/types"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/buildssa"
	"golang.org/x/tools/go/ssa"
	"golang.org/x/tools/go/types/typeutil"
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

	ifaces       typeutil.Map                            // interface type -> *implementers
	swept        map[*types.Var]bool                     // maps a periodic sweeper reaps
	concrete     []*types.Named                          // candidate implementations of interfaces
	sites        map[*ssa.Function][]ssa.CallInstruction // static calls of each function
	callers      map[*ssa.Function][]*ssa.Function       // in-package callers of each function (summary worklist)
	escapedFuncs map[*ssa.Function]bool                  // functions also used as values

	findings []*finding
	debug    debugOptions
}

// funcInfo is what the analysis knows about one function.
type funcInfo struct {
	fn      *ssa.Function
	canon   *canonicalizer
	ops     []*mapOp
	outs    []keyOut
	locks   []*lockOp
	mutexes []*expr           // the mutexes locks lock, one expr each
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

func runAnalysis(pass *analysis.Pass, cfg *compiled, debug debugOptions) {
	input, ok := pass.ResultOf[buildssa.Analyzer].(*buildssa.SSA)
	if !ok || input == nil {
		return
	}
	a := &checker{
		pass:             pass,
		debug:            debug,
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
	a.printSummaries()
	a.exportFacts()
	a.computeClosing()
	a.computeSwept()
	a.computeNoRemoval()
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
