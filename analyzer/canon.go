package analyzer

import (
	"go/token"
	"strconv"

	"golang.org/x/tools/go/ssa"
)

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

// localName gives an opaque local value a name unique in the package.
func (a *checker) localName(v ssa.Value) string {
	if n, ok := a.localIDs[v]; ok {
		return n
	}
	n := v.Name() + "#" + strconv.Itoa(len(a.localIDs))
	a.localIDs[v] = n
	return n
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
		switch v.Op {
		case token.MUL:
			return mkDeref(c.of(v.X))
		case token.ARROW:
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
	case *ssa.Convert, *ssa.ChangeType, *ssa.MakeInterface, *ssa.ChangeInterface, *ssa.MultiConvert, *ssa.SliceToArrayPointer:
		// A conversion denotes the value it converts, its one operand.
		return c.of(*v.(ssa.Instruction).Operands(nil)[0])
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
	return c.Value.ExactString()
}
