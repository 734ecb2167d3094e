package analyzer

import (
	"go/types"
	"slices"
)

// implementations returns the methods named name of the concrete types,
// declared in this package or one it imports, that implement the
// interface t (at most a few: more is no information).
func (a *checker) implementations(t types.Type, name string) []*types.Func {
	iface, ok := t.Underlying().(*types.Interface)
	if !ok {
		return nil
	}
	// Only the package's own interfaces and those of non-standard
	// packages: io.Writer or context.Context say nothing about maps.
	named, ok := types.Unalias(t).(*types.Named)
	if !ok || named.Obj().Pkg() == nil || isStdPackage(named.Obj().Pkg().Path()) && named.Obj().Pkg() != a.pass.Pkg {
		return nil
	}
	impls := a.implementersOf(t, iface)
	if fns, ok := impls.methods[name]; ok {
		return fns
	}
	var found []*types.Func
	for _, recv := range impls.recvs {
		obj, _, _ := types.LookupFieldOrMethod(recv, true, derefNamed(recv).Obj().Pkg(), name)
		fn, ok := obj.(*types.Func)
		if !ok || slices.Contains(found, fn) {
			continue
		}
		found = append(found, fn)
	}
	if len(found) > 4 {
		found = nil
	}
	impls.methods[name] = found
	return found
}

// implementers are the concrete types implementing an interface, and
// their methods by name as implementations returns them.
type implementers struct {
	recvs   []types.Type // T or *T
	methods map[string][]*types.Func
}

// implementersOf returns the concrete types (T or *T) of concreteTypes that
// implement the interface iface, the underlying type of t, computed once
// per interface for all of its methods.
func (a *checker) implementersOf(t types.Type, iface *types.Interface) *implementers {
	if impls, ok := a.ifaces.At(t).(*implementers); ok {
		return impls
	}
	impls := &implementers{methods: make(map[string][]*types.Func)}
	for _, c := range a.concreteTypes() {
		switch {
		case types.Implements(c, iface):
			impls.recvs = append(impls.recvs, c)
		case types.Implements(types.NewPointer(c), iface):
			impls.recvs = append(impls.recvs, types.NewPointer(c))
		}
	}
	a.ifaces.Set(t, impls)
	return impls
}

// concreteTypes returns the non-generic named non-interface types of this
// package and the non-standard packages it imports.
func (a *checker) concreteTypes() []*types.Named {
	if a.concrete != nil {
		return a.concrete
	}
	a.concrete = []*types.Named{}
	scan := func(pkg *types.Package) {
		scope := pkg.Scope()
		for _, n := range scope.Names() {
			tn, ok := scope.Lookup(n).(*types.TypeName)
			if !ok || tn.IsAlias() {
				continue
			}
			named, ok := tn.Type().(*types.Named)
			if !ok || named.TypeParams().Len() > 0 {
				continue
			}
			if _, isIface := named.Underlying().(*types.Interface); isIface {
				continue
			}
			a.concrete = append(a.concrete, named)
		}
	}
	scan(a.pass.Pkg)
	for _, imp := range a.pass.Pkg.Imports() {
		if !isStdPackage(imp.Path()) {
			scan(imp)
		}
	}
	return a.concrete
}
