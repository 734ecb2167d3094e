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
	key := types.TypeString(t, nil) + "." + name
	if fns, ok := a.impls[key]; ok {
		return fns
	}
	var found []*types.Func
	for _, recv := range a.implementers(t, iface) {
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
	a.impls[key] = found
	return found
}

// implementers returns the concrete types (T or *T) of concreteTypes that
// implement the interface iface, the underlying type of t, computed once
// per interface for all of its methods.
func (a *checker) implementers(t types.Type, iface *types.Interface) []types.Type {
	key := types.TypeString(t, nil)
	if recvs, ok := a.implementing[key]; ok {
		return recvs
	}
	var recvs []types.Type
	for _, c := range a.concreteTypes() {
		switch {
		case types.Implements(c, iface):
			recvs = append(recvs, c)
		case types.Implements(types.NewPointer(c), iface):
			recvs = append(recvs, types.NewPointer(c))
		}
	}
	if a.implementing == nil {
		a.implementing = make(map[string][]types.Type)
	}
	a.implementing[key] = recvs
	return recvs
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
