package analyzer

import (
	"slices"

	"golang.org/x/tools/go/ssa"
)

// A ctorField says that a constructor stores Value (an expr over its
// parameters) into field Field of the struct it returns.
type ctorField struct {
	Field string
	Value *expr
}

// ctorField resolves call.field for a call of a constructor.
func (a *checker) ctorField(call *expr, field string) *expr {
	fields := a.ctors[call.Name]
	for _, f := range fields {
		if f.Field == field {
			return subst(f.Value, call.Args, nil, nil)
		}
	}
	return nil
}

// loadCtor makes the constructor summary of an imported function
// available to ctorField.
func (a *checker) loadCtor(fn *ssa.Function) {
	name := funcName(fn)
	if _, ok := a.ctors[name]; ok {
		return
	}
	a.ctors[name] = nil
	if s := a.summaryOf(fn); s != nil {
		a.ctors[name] = s.Ctor
	}
}

// computeCtor finds the fields a function stores from its parameters
// into the struct it returns: func NewPending(id int64) *Pending {
// return &Pending{seq: id} } stores p0 into seq.
func computeCtor(fi *funcInfo) []ctorField {
	fn := fi.fn
	if fn.Signature.Results().Len() == 0 || len(fn.Blocks) == 0 {
		return nil
	}
	var result []ctorField
	first := true
	for _, b := range fn.Blocks {
		ret, ok := b.Instrs[len(b.Instrs)-1].(*ssa.Return)
		if !ok || len(ret.Results) == 0 {
			continue
		}
		var fields []ctorField
		switch v := ret.Results[0].(type) {
		case *ssa.Alloc:
			fields = allocFields(fi, v)
		case *ssa.Const:
			continue // return nil, err
		}
		if first {
			result, first = fields, false
			continue
		}
		result = slices.DeleteFunc(result, func(f ctorField) bool {
			return !slices.ContainsFunc(fields, func(g ctorField) bool {
				return g.Field == f.Field && same(g.Value, f.Value)
			})
		})
	}
	return result
}

// allocFields returns the portable values stored into the fields of a.
func allocFields(fi *funcInfo, al *ssa.Alloc) []ctorField {
	var out []ctorField
	seen := make(map[string]int)
	for _, r := range *al.Referrers() {
		fa, ok := r.(*ssa.FieldAddr)
		if !ok {
			continue
		}
		for _, rr := range *fa.Referrers() {
			st, ok := rr.(*ssa.Store)
			if !ok || st.Addr != fa {
				continue
			}
			name := fieldName(fa.X.Type(), fa.Field)
			seen[name]++
			v := fi.canon.of(st.Val)
			if v.portable() && !v.mentionsFree() {
				out = append(out, ctorField{Field: name, Value: v})
			}
		}
	}
	// A field stored twice is not a function of the parameters.
	return slices.DeleteFunc(out, func(f ctorField) bool { return seen[f.Field] > 1 })
}
