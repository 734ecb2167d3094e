package analyzer

import (
	"go/constant"
	"go/types"
	"strconv"
	"strings"

	"golang.org/x/tools/go/ssa"
)

// An expr is the canonical form of an SSA value: the access path of a map
// (c.pending, a global, a captured variable) or the identity of a key
// (req.ID loaded twice, string(b) converted twice, respToken(inbox)).
// Two values with the same rendering denote the same map or the same key.
//
// Leaves are parameters, free variables, globals, constants and
// functions, which are portable: an expr built only from them can be
// carried to a caller (substituting arguments for parameters) or to
// another package in a fact. Any other value is an opaque local leaf.
//
// The exported fields make expr gob-encodable inside facts.
type expr struct {
	Kind  exprKind
	Name  string  // parameter/field/global/function name, constant, operator
	Index int     // parameter, free variable or tuple index
	Args  []*expr // operands

	str string // memoized rendering
}

type exprKind uint8

const (
	kParam   exprKind = iota + 1 // parameter Index (named Name)
	kFree                        // free variable Index of a closure (named Name)
	kGlobal                      // the content of package-level variable Name ("path.name")
	kConst                       // constant Name
	kFunc                        // function value Name
	kLocal                       // opaque value local to one function (Name is unique)
	kAny                         // any key: a key the analysis cannot name (a fresh ID made by a callee)
	kField                       // field Name of Args[0] (through pointers)
	kDeref                       // *Args[0]
	kAddr                        // &Args[0]
	kIndex                       // Args[0][Args[1]]
	kCall                        // Name(Args...): a call whose result depends only on its operands
	kBinOp                       // Args[0] Name Args[1]
	kUnOp                        // Name Args[0]
	kSlice                       // Args[0][Args[1]:Args[2]:Args[3]]
	kExtract                     // Args[0]#Index
	kResult                      // result Index of the function (in summaries)
)

func (e *expr) String() string {
	if e == nil {
		return "?"
	}
	if e.str == "" {
		var b strings.Builder
		e.render(&b)
		e.str = b.String()
	}
	return e.str
}

func (e *expr) render(b *strings.Builder) {
	if e == nil {
		b.WriteString("_")
		return
	}
	switch e.Kind {
	case kParam:
		b.WriteString("p")
		b.WriteString(strconv.Itoa(e.Index))
	case kFree:
		b.WriteString("f")
		b.WriteString(strconv.Itoa(e.Index))
	case kGlobal:
		b.WriteString("g:")
		b.WriteString(e.Name)
	case kConst:
		b.WriteString("c:")
		b.WriteString(e.Name)
	case kFunc:
		b.WriteString("fn:")
		b.WriteString(e.Name)
	case kLocal:
		b.WriteString("l:")
		b.WriteString(e.Name)
	case kAny:
		b.WriteString("*any*")
	case kResult:
		b.WriteString("r")
		b.WriteString(strconv.Itoa(e.Index))
	case kField:
		e.Args[0].render(b)
		b.WriteString(".")
		b.WriteString(e.Name)
	case kDeref:
		b.WriteString("*(")
		e.Args[0].render(b)
		b.WriteString(")")
	case kAddr:
		b.WriteString("&(")
		e.Args[0].render(b)
		b.WriteString(")")
	case kIndex:
		e.Args[0].render(b)
		b.WriteString("[")
		e.Args[1].render(b)
		b.WriteString("]")
	case kExtract:
		e.Args[0].render(b)
		b.WriteString("#")
		b.WriteString(strconv.Itoa(e.Index))
	default:
		b.WriteString(e.Name)
		b.WriteString("(")
		for i, a := range e.Args {
			if i > 0 {
				b.WriteString(",")
			}
			a.render(b)
		}
		b.WriteString(")")
	}
}

// display renders e for messages ("c.pending", "req.ID"); params and free
// variables show their names.
func (e *expr) display() string {
	if e == nil {
		return "?"
	}
	switch e.Kind {
	case kParam, kFree:
		if e.Name != "" {
			return e.Name
		}
	case kGlobal:
		if i := strings.LastIndexByte(e.Name, '.'); i >= 0 {
			return e.Name[i+1:]
		}
		return e.Name
	case kField:
		return e.Args[0].display() + "." + e.Name
	case kDeref:
		return e.Args[0].display()
	case kAddr:
		return e.Args[0].display()
	case kConst:
		return e.Name
	}
	return e.String()
}

// same reports whether a and b denote the same map or key.
func same(a, b *expr) bool {
	if a == nil || b == nil {
		return false
	}
	return a == b || a.String() == b.String()
}

// portable reports whether e is made only of parameters, free variables,
// globals, constants, functions and kAny.
func (e *expr) portable() bool {
	if e == nil {
		return false
	}
	if e.Kind == kLocal {
		return false
	}
	for _, a := range e.Args {
		if a != nil && !a.portable() {
			return false
		}
	}
	return true
}

// depth returns the height of e.
func (e *expr) depth() int {
	if e == nil {
		return 0
	}
	d := 0
	for _, a := range e.Args {
		if ad := a.depth(); ad > d {
			d = ad
		}
	}
	return d + 1
}

// mentionsFree reports whether e refers to a free variable.
func (e *expr) mentionsFree() bool {
	if e == nil {
		return false
	}
	if e.Kind == kFree {
		return true
	}
	for _, a := range e.Args {
		if a.mentionsFree() {
			return true
		}
	}
	return false
}

// root returns the leaf at the base of an access path (c in c.a.b[k]) and
// the number of field selections on the way.
func (e *expr) root() (*expr, int) {
	fields := 0
	for e != nil {
		switch e.Kind {
		case kField:
			fields++
			e = e.Args[0]
		case kDeref, kAddr:
			e = e.Args[0]
		case kIndex:
			e = e.Args[0]
		default:
			return e, fields
		}
	}
	return nil, fields
}

func leaf(kind exprKind, name string, index int) *expr {
	return &expr{Kind: kind, Name: name, Index: index}
}

func node(kind exprKind, name string, args ...*expr) *expr {
	return &expr{Kind: kind, Name: name, Args: args}
}

// mkDeref builds *x, simplifying *&y to y.
func mkDeref(x *expr) *expr {
	if x.Kind == kAddr {
		return x.Args[0]
	}
	return node(kDeref, "", x)
}

// mkAddr builds &x, simplifying &*y to y.
func mkAddr(x *expr) *expr {
	if x.Kind == kDeref {
		return x.Args[0]
	}
	return node(kAddr, "", x)
}

// ctorLookup finds the expression a constructor stores into a field of its
// result: NewPending(id).seq is id.
type ctorLookup func(call *expr, field string) *expr

// mkField builds base.name, where base is a pointer to a struct (or a
// struct value). A field of a constructor's result resolves to the
// argument the constructor stored there.
func mkField(base *expr, name string, ctor ctorLookup) *expr {
	if base.Kind == kAddr {
		// (&x).f is x.f: a field of a struct-valued field or variable.
		base = base.Args[0]
	}
	if base.Kind == kCall && ctor != nil {
		if r := ctor(base, name); r != nil {
			return r
		}
	}
	return node(kField, name, base)
}

// subst replaces parameters and free variables of e by the given
// expressions. It returns nil when e mentions a parameter or free
// variable with no replacement.
func subst(e *expr, params, frees []*expr, ctor ctorLookup) *expr {
	if e == nil {
		return nil
	}
	switch e.Kind {
	case kParam:
		if e.Index < len(params) && params[e.Index] != nil {
			return params[e.Index]
		}
		return nil
	case kFree:
		if e.Index < len(frees) && frees[e.Index] != nil {
			return frees[e.Index]
		}
		return nil
	case kGlobal, kConst, kFunc, kLocal, kAny, kResult:
		return e
	}
	args := make([]*expr, len(e.Args))
	for i, a := range e.Args {
		if a == nil {
			continue
		}
		if args[i] = subst(a, params, frees, ctor); args[i] == nil {
			return nil
		}
	}
	switch e.Kind {
	case kField:
		return mkField(args[0], e.Name, ctor)
	case kDeref:
		return mkDeref(args[0])
	case kAddr:
		return mkAddr(args[0])
	}
	return &expr{Kind: e.Kind, Name: e.Name, Index: e.Index, Args: args}
}

// substResults replaces the results of a summarized function by the
// values of the call.
func substResults(e *expr, results []*expr) *expr {
	if e == nil {
		return nil
	}
	switch e.Kind {
	case kResult:
		if e.Index < len(results) {
			return results[e.Index]
		}
		return nil
	case kParam, kFree, kGlobal, kConst, kFunc, kLocal, kAny:
		return e
	}
	args := make([]*expr, len(e.Args))
	for i, a := range e.Args {
		if a == nil {
			continue
		}
		if args[i] = substResults(a, results); args[i] == nil {
			return nil
		}
	}
	return &expr{Kind: e.Kind, Name: e.Name, Index: e.Index, Args: args}
}

// derivesFrom reports whether e is v or reached from v through fields
// and dereferences (call.Done derives from call).
func derivesFrom(e, v *expr) bool {
	for e != nil {
		if same(e, v) {
			return true
		}
		switch e.Kind {
		case kField, kDeref, kAddr:
			e = e.Args[0]
		default:
			return false
		}
	}
	return false
}

// prefixes returns e and the access paths it is reached through
// (s.conn.subs -> s.conn.subs, s.conn, s).
func prefixes(e *expr) []*expr {
	var out []*expr
	for e != nil {
		out = append(out, e)
		switch e.Kind {
		case kField, kDeref, kAddr, kIndex:
			e = e.Args[0]
		default:
			return out
		}
	}
	return out
}

// maxExprDepth bounds canonical expressions: deeper values are opaque.
const maxExprDepth = 12

// canonicalizer computes the canonical exprs of the values of one function.
type canonicalizer struct {
	a    *checker
	fn   *ssa.Function
	memo map[ssa.Value]*expr
	// locals maps the name of a kLocal leaf back to its value.
	locals map[string]ssa.Value
	cells  map[*ssa.Alloc]ssa.Value // single value stored into a cell; nil: several
	depth  int
}

func newCanonicalizer(a *checker, fn *ssa.Function) *canonicalizer {
	return &canonicalizer{
		a:      a,
		fn:     fn,
		memo:   make(map[ssa.Value]*expr),
		locals: make(map[string]ssa.Value),
	}
}

func (c *canonicalizer) local(v ssa.Value) *expr {
	name := c.a.localName(v)
	c.locals[name] = v
	return leaf(kLocal, name, 0)
}

// inProgress marks a value whose expr is being computed.
var inProgress = &expr{Kind: kLocal, Name: "in progress"}

// of returns the canonical expr of v.
func (c *canonicalizer) of(v ssa.Value) *expr {
	if v == nil {
		return leaf(kAny, "", 0)
	}
	if e, ok := c.memo[v]; ok {
		if e == inProgress {
			return c.local(v) // a cycle through phis
		}
		return e
	}
	if c.depth >= maxExprDepth {
		return c.local(v)
	}
	c.memo[v] = inProgress
	c.depth++
	e := c.compute(v)
	c.depth--
	c.memo[v] = e
	return e
}

func (c *canonicalizer) compute(v ssa.Value) *expr {
	switch v := v.(type) {
	case *ssa.Parameter:
		for i, p := range c.fn.Params {
			if p == v {
				return leaf(kParam, v.Name(), i)
			}
		}
	case *ssa.FreeVar:
		for i, fv := range c.fn.FreeVars {
			if fv == v {
				return leaf(kFree, v.Name(), i)
			}
		}
	case *ssa.Global:
		return mkAddr(leaf(kGlobal, globalName(v), 0))
	case *ssa.Const:
		return leaf(kConst, constName(v), 0)
	case *ssa.Function:
		return leaf(kFunc, funcName(v), 0)
	case *ssa.Alloc:
		if s := c.singleStore(v); s != nil {
			return mkAddr(c.of(s))
		}
		return mkAddr(c.local(v))
	case *ssa.UnOp:
		switch v.Op.String() {
		case "*":
			return mkDeref(c.of(v.X))
		case "<-":
			return c.local(v)
		}
		return node(kUnOp, v.Op.String(), c.of(v.X))
	case *ssa.FieldAddr:
		return mkAddr(mkField(c.of(v.X), fieldName(v.X.Type(), v.Field), c.a.ctorField))
	case *ssa.Field:
		// p.f and (*p).f select the same field.
		base := c.of(v.X)
		if base.Kind == kDeref {
			base = base.Args[0]
		}
		return mkField(base, fieldName(v.X.Type(), v.Field), c.a.ctorField)
	case *ssa.IndexAddr:
		return mkAddr(node(kIndex, "", c.of(v.X), c.of(v.Index)))
	case *ssa.Index:
		return node(kIndex, "", c.of(v.X), c.of(v.Index))
	case *ssa.Lookup:
		if !v.CommaOk {
			return node(kIndex, "", c.of(v.X), c.of(v.Index))
		}
	case *ssa.Convert:
		return c.of(v.X)
	case *ssa.ChangeType:
		return c.of(v.X)
	case *ssa.MakeInterface:
		return c.of(v.X)
	case *ssa.ChangeInterface:
		return c.of(v.X)
	case *ssa.MultiConvert:
		return c.of(v.X)
	case *ssa.SliceToArrayPointer:
		return c.of(v.X)
	case *ssa.TypeAssert:
		if !v.CommaOk {
			return c.of(v.X)
		}
	case *ssa.Extract:
		if ta, ok := v.Tuple.(*ssa.TypeAssert); ok && v.Index == 0 {
			return c.of(ta.X)
		}
		if _, ok := v.Tuple.(*ssa.Call); ok {
			return node(kExtract, "", c.of(v.Tuple)).withIndex(v.Index)
		}
	case *ssa.BinOp:
		return node(kBinOp, v.Op.String(), c.of(v.X), c.of(v.Y))
	case *ssa.Slice:
		return node(kSlice, "", c.of(v.X), c.optional(v.Low), c.optional(v.High), c.optional(v.Max))
	case *ssa.Phi:
		var common *expr
		for _, e := range v.Edges {
			if e == v {
				continue
			}
			x := c.of(e)
			if common == nil {
				common = x
			} else if !same(common, x) {
				return c.local(v)
			}
		}
		if common != nil {
			return common
		}
	case *ssa.Call:
		return c.call(v)
	}
	return c.local(v)
}

func (e *expr) withIndex(i int) *expr {
	e.Index = i
	return e
}

func (c *canonicalizer) optional(v ssa.Value) *expr {
	if v == nil {
		return leaf(kConst, "none", 0)
	}
	return c.of(v)
}

// call canonicalizes a call whose result is treated as a function of its
// operands (respToken(inbox), req.ID(), strconv.Itoa(id)). A call without
// operands (nextID()) is a fresh value.
func (c *canonicalizer) call(v *ssa.Call) *expr {
	common := v.Common()
	var name string
	var args []*expr
	if common.IsInvoke() {
		name = "invoke." + common.Method.Name()
		args = append(args, c.of(common.Value))
	} else if callee := common.StaticCallee(); callee != nil {
		name = funcName(callee)
		c.a.loadCtor(callee)
	} else if b, ok := common.Value.(*ssa.Builtin); ok {
		switch b.Name() {
		case "len", "cap", "min", "max", "real", "imag", "complex":
			name = b.Name()
		default:
			return c.local(v)
		}
	} else {
		return c.local(v)
	}
	for _, a := range common.Args {
		args = append(args, c.of(a))
	}
	if len(args) == 0 {
		return c.local(v)
	}
	return node(kCall, name, args...)
}

// singleStore returns the only value ever stored into the cell a (in its
// function and in the closures that capture it), or nil.
func (c *canonicalizer) singleStore(a *ssa.Alloc) ssa.Value {
	if c.cells == nil {
		c.cells = make(map[*ssa.Alloc]ssa.Value)
	}
	if v, ok := c.cells[a]; ok {
		return v
	}
	c.cells[a] = nil
	var stored ssa.Value
	n := 0
	var visit func(addr ssa.Value, depth int) bool
	visit = func(addr ssa.Value, depth int) bool {
		refs := addr.Referrers()
		if refs == nil {
			return true
		}
		for _, r := range *refs {
			switch r := r.(type) {
			case *ssa.Store:
				if r.Addr == addr {
					n++
					stored = r.Val
				} else {
					return false // the address itself escapes
				}
			case *ssa.UnOp, *ssa.FieldAddr, *ssa.IndexAddr, *ssa.DebugRef:
			case *ssa.MakeClosure:
				if depth > 4 {
					return false
				}
				fn, ok := r.Fn.(*ssa.Function)
				if !ok {
					return false
				}
				for i, b := range r.Bindings {
					if b == addr && i < len(fn.FreeVars) {
						if !visit(fn.FreeVars[i], depth+1) {
							return false
						}
					}
				}
			default:
				// Passed to a call, converted, compared...: it may be
				// written through the pointer.
				return false
			}
		}
		return true
	}
	if visit(a, 0) && n == 1 {
		c.cells[a] = stored
	}
	return c.cells[a]
}

func globalName(g *ssa.Global) string {
	if g.Pkg != nil && g.Pkg.Pkg != nil {
		return g.Pkg.Pkg.Path() + "." + g.Name()
	}
	return g.Name()
}

func constName(c *ssa.Const) string {
	if c.Value == nil {
		return "nil"
	}
	if c.Value.Kind() == constant.String {
		return c.Value.ExactString()
	}
	return c.Value.ExactString()
}

// funcName identifies a function across packages: generic instances are
// named by their origin.
func funcName(fn *ssa.Function) string {
	if o := fn.Origin(); o != nil {
		fn = o
	}
	if obj, ok := fn.Object().(*types.Func); ok && obj != nil {
		return obj.FullName()
	}
	return fn.String()
}

// fieldName returns the name of field i of the struct that t is or points to.
func fieldName(t types.Type, i int) string {
	t = types.Unalias(t)
	if p, ok := t.Underlying().(*types.Pointer); ok {
		t = p.Elem()
	}
	st, ok := typeparamCore(t).(*types.Struct)
	if !ok || i >= st.NumFields() {
		return "#" + strconv.Itoa(i)
	}
	return st.Field(i).Name()
}

// fieldVar returns field i of the struct that t is or points to.
func fieldVar(t types.Type, i int) *types.Var {
	t = types.Unalias(t)
	if p, ok := t.Underlying().(*types.Pointer); ok {
		t = p.Elem()
	}
	st, ok := typeparamCore(t).(*types.Struct)
	if !ok || i >= st.NumFields() {
		return nil
	}
	return st.Field(i).Origin()
}

// typeparamCore returns the underlying type of t, or for a type parameter
// the single underlying type of its constraint, if any.
func typeparamCore(t types.Type) types.Type {
	if tp, ok := types.Unalias(t).(*types.TypeParam); ok {
		var core types.Type
		iface, _ := tp.Constraint().Underlying().(*types.Interface)
		if iface == nil {
			return nil
		}
		for i := 0; i < iface.NumEmbeddeds(); i++ {
			u, ok := iface.EmbeddedType(i).(*types.Union)
			if !ok {
				if core == nil {
					core = iface.EmbeddedType(i).Underlying()
				}
				continue
			}
			if u.Len() == 1 {
				core = u.Term(0).Type().Underlying()
			}
		}
		return core
	}
	return t.Underlying()
}
