package analyzer

import (
	"go/token"
	"go/types"

	"golang.org/x/tools/go/ssa"
)

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

// noteKeyOut records a value leaving through a field store or a send; the
// hand-off check later decides whether it carries a tracked key.
func (fi *funcInfo) noteKeyOut(b *ssa.BasicBlock, i int, instr ssa.Instruction, v ssa.Value, field *types.Var, elem types.Type) {
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

// namesKey reports whether a release names one entry: an asynchronous
// release of the whole map (a reconnect watcher's clear), or of keys the
// caller cannot name, is no hand-off of the entry.
func namesKey(r *mapOp) bool {
	return !r.is(flagWhole) && r.k != nil && r.k.Kind != kAny
}

// applyClosureValue handles a closure that is stored or passed on: its
// releases are hand-offs.
func (a *checker) applyClosureValue(fi *funcInfo, instr ssa.Instruction, v ssa.Value, add func(*mapOp)) {
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
			if op.kind == opRelease && !op.is(flagWhole) && op.via != "" && op.keyVal != nil {
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
