package analyzer

import (
	"go/types"
	"strconv"
	"strings"

	"golang.org/x/tools/go/ssa"
)

func isMap(t types.Type) bool {
	if t == nil {
		return false
	}
	_, ok := typeparamCore(t).(*types.Map)
	return ok
}

func isSyncMapType(t types.Type) bool {
	if t == nil {
		return false
	}
	n, ok := types.Unalias(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "sync" && n.Obj().Name() == "Map"
}

// isTimeType reports whether t is time.Time (the element type of timers'
// and tickers' channels).
func isTimeType(t types.Type) bool {
	if t == nil {
		return false
	}
	n, ok := types.Unalias(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "time" && n.Obj().Name() == "Time"
}

func derefType(t types.Type) types.Type {
	if p, ok := types.Unalias(t).Underlying().(*types.Pointer); ok {
		return p.Elem()
	}
	return t
}

// derefNamed returns the named type t is or points to.
func derefNamed(t types.Type) *types.Named {
	named, _ := types.Unalias(derefType(t)).(*types.Named)
	return named
}

var errorType = types.Universe.Lookup("error").Type()

func isErrorType(t types.Type) bool {
	if t == nil {
		return false
	}
	if types.Identical(t, errorType) {
		return true
	}
	if _, ok := t.Underlying().(*types.Interface); ok {
		return false
	}
	// A concrete error type (*MyError) as a result.
	_, named := types.Unalias(derefType(t)).(*types.Named)
	return named && types.Implements(t, errorType.Underlying().(*types.Interface))
}

func chanElem(t types.Type) types.Type {
	if ch, ok := typeparamCore(t).(*types.Chan); ok {
		return ch.Elem()
	}
	return nil
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

// lookupField finds field name in the struct t is or points to,
// following embedded fields.
func lookupField(t types.Type, name string) *types.Var {
	t = types.Unalias(t)
	if p, ok := t.Underlying().(*types.Pointer); ok {
		t = p.Elem()
	}
	var pkg *types.Package
	if n, ok := types.Unalias(t).(*types.Named); ok {
		pkg = n.Obj().Pkg()
	}
	if core := typeparamCore(t); core != nil {
		if st, ok := core.(*types.Struct); ok {
			for i := 0; i < st.NumFields(); i++ {
				if st.Field(i).Name() == name {
					return st.Field(i).Origin()
				}
			}
		}
	}
	obj, _, _ := types.LookupFieldOrMethod(t, true, pkg, name)
	if v, ok := obj.(*types.Var); ok && v.IsField() {
		return v.Origin()
	}
	return nil
}

// lookupFieldType reports whether f is a field of the struct t is or
// points to.
func lookupFieldType(t types.Type, f *types.Var) bool {
	return lookupField(t, f.Name()) == f
}

// isStdPackage reports whether path is a standard library package.
func isStdPackage(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// methodRecvName returns the name of the receiver's named type of a
// method ("Map" for (*sync.Map).Store), or "".
func methodRecvName(fn *types.Func) string {
	sig, ok := fn.Type().(*types.Signature)
	if !ok || sig.Recv() == nil {
		return ""
	}
	t := derefType(sig.Recv().Type())
	if n, ok := types.Unalias(t).(*types.Named); ok {
		return n.Obj().Name()
	}
	return ""
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

// qualifiedFuncName is the name -cleanup matches: pkgpath.Func or
// pkgpath.Type.Method.
func qualifiedFuncName(fn *types.Func) string {
	path := ""
	if fn.Pkg() != nil {
		path = fn.Pkg().Path() + "."
	}
	if recv := methodRecvName(fn); recv != "" {
		return path + recv + "." + fn.Name()
	}
	return path + fn.Name()
}

// shortFuncName names a function for messages: send, (*Client).send -> send.
func shortFuncName(fn *ssa.Function) string {
	if o := fn.Origin(); o != nil {
		fn = o
	}
	if fn.Parent() != nil {
		return "a closure in " + shortFuncName(fn.Parent())
	}
	return fn.Name()
}
