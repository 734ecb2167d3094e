package analyzer

import (
	"go/ast"

	"golang.org/x/tools/go/ssa"
)

// A lockOp locks or unlocks a mutex.
type lockOp struct {
	instr    ssa.Instruction
	mu       *expr // the mutex's address, as fi.mutex gives it: one expr per mutex
	lock     bool
	read     bool
	deferred bool

	syntax ast.Expr // the mutex expression (c.mu in c.mu.Lock()); see lockSyntax
	looked bool     // syntax was looked up
}

// mutex returns the expr of the mutex at address mu in fi's function: the
// same pointer for every lock operation on that mutex, which keys its lock
// states.
func (fi *funcInfo) mutex(mu *expr) *expr {
	if m := fi.knownMutex(mu); m != nil {
		return m
	}
	fi.mutexes = append(fi.mutexes, mu)
	return mu
}

// knownMutex returns the expr fi's lock operations use for the mutex at
// address mu, or nil if the function does not lock or unlock it.
func (fi *funcInfo) knownMutex(mu *expr) *expr {
	for _, m := range fi.mutexes {
		if same(m, mu) {
			return m
		}
	}
	return nil
}

// lockSyntax returns lo's mutex expression (c.mu), or nil if it has none
// (a mutex locked through a method value).
func (a *checker) lockSyntax(lo *lockOp) ast.Expr {
	if !lo.looked {
		lo.looked = true
		if call := a.syn.call(lo.instr.Pos()); call != nil {
			if sel, ok := ast.Unparen(call.Fun).(*ast.SelectorExpr); ok {
				lo.syntax = sel.X
			}
		}
	}
	return lo.syntax
}

// lockState is whether a mutex is held at a program point.
type lockState uint8

const (
	lockUnknown lockState = iota
	lockHeld
	lockFree
)

// lockStates is the state of each mutex at the entry of each block.
type lockStates struct {
	in []map[*expr]lockState // by mutex (see funcInfo.mutex); nil: block not reached
}

// lockStateAt returns the state of mutex mu just before instr in fi's
// function. A function starts with every mutex in an unknown state (its
// callers may hold it); a deferred Unlock does not release before the
// return.
func (a *checker) lockStateAt(fi *funcInfo, mu *expr, instr ssa.Instruction) lockState {
	if instr == nil || instr.Block() == nil {
		return lockUnknown
	}
	if mu = fi.knownMutex(mu); mu == nil {
		return lockUnknown // neither locked nor unlocked here
	}
	if a.locks == nil {
		a.locks = make(map[*funcInfo]*lockStates)
	}
	ls := a.locks[fi]
	if ls == nil {
		ls = solveLocks(fi)
		a.locks[fi] = ls
	}
	b := instr.Block()
	in := ls.in[b.Index]
	if in == nil {
		return lockUnknown
	}
	st := in[mu]
	byInstr := lockOpsByInstr(fi)
	for _, x := range b.Instrs {
		if x == instr {
			break
		}
		if lo := byInstr[x]; lo != nil && lo.mu == mu && !lo.deferred {
			st = lockTransfer(lo)
		}
	}
	return st
}

func lockTransfer(lo *lockOp) lockState {
	if lo.lock {
		return lockHeld
	}
	return lockFree
}

func lockOpsByInstr(fi *funcInfo) map[ssa.Instruction]*lockOp {
	m := make(map[ssa.Instruction]*lockOp, len(fi.locks))
	for _, lo := range fi.locks {
		m[lo.instr] = lo
	}
	return m
}

func solveLocks(fi *funcInfo) *lockStates {
	blocks := fi.fn.Blocks
	ls := &lockStates{in: make([]map[*expr]lockState, len(blocks))}
	if len(blocks) == 0 {
		return ls
	}
	byInstr := lockOpsByInstr(fi)
	out := make([]map[*expr]lockState, len(blocks))
	// A function that locks a mutex itself does not run with it held (it
	// would deadlock): the mutex is free at entry. Others are unknown.
	entry := map[*expr]lockState{}
	for _, lo := range fi.locks {
		if lo.lock && !lo.deferred {
			entry[lo.mu] = lockFree
		}
	}
	ls.in[0] = entry
	queue := []*ssa.BasicBlock{blocks[0]}
	for steps := 0; len(queue) > 0 && steps < 20*len(blocks)+100; steps++ {
		b := queue[0]
		queue = queue[1:]
		var in map[*expr]lockState
		if b.Index == 0 {
			in = entry
		} else {
			for _, p := range b.Preds {
				po := out[p.Index]
				if po == nil {
					continue
				}
				if in == nil {
					in = make(map[*expr]lockState, len(po))
					for k, v := range po {
						in[k] = v
					}
					continue
				}
				for k, v := range in {
					if po[k] != v {
						in[k] = lockUnknown
					}
				}
				for k := range po {
					if _, ok := in[k]; !ok {
						in[k] = lockUnknown
					}
				}
			}
		}
		if in == nil {
			continue
		}
		ls.in[b.Index] = in
		o := make(map[*expr]lockState, len(in))
		for k, v := range in {
			o[k] = v
		}
		for _, x := range b.Instrs {
			if lo := byInstr[x]; lo != nil && !lo.deferred {
				o[lo.mu] = lockTransfer(lo)
			}
		}
		if old := out[b.Index]; old != nil && equalStates(old, o) {
			continue
		}
		out[b.Index] = o
		queue = append(queue, b.Succs...)
	}
	return ls
}

func equalStates(x, y map[*expr]lockState) bool {
	if len(x) != len(y) {
		return false
	}
	for k, v := range x {
		if w, ok := y[k]; !ok || w != v {
			return false
		}
	}
	return true
}
