package analyzer

import (
	"go/ast"
	"go/types"

	"golang.org/x/tools/go/ssa"
)

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
		op := &mapOp{kind: opRelease, flags: eff.opFlags(opRelease), m: m, k: k, via: via, mapName: eff.MapName, keyNames: eff.KeyNames}
		op.keyVal, op.keyAST = a.argFor(instr, k, params, frees, argVals, bindings)
		if via == "" {
			op.via = eff.Via
		}
		op.markMode(mode)
		if eff.Async {
			op.flags |= flagAsync
		}
		if mode == modeDefer && eff.CondFree > 0 && eff.CondFree <= len(bindings) {
			op.cond = condAlways
			if fi.isNamedErrorResult(bindings[eff.CondFree-1]) {
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
		op := &mapOp{kind: opInsert, flags: eff.opFlags(opInsert), m: m, k: k, via: via, mapName: eff.MapName, keyNames: eff.KeyNames}
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
