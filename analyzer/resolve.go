package analyzer

import (
	"go/types"
	"strings"
)

// classOf returns the variable or field that holds the map at path m in
// fi's function, walking the types of the path.
func (a *checker) classOf(fi *funcInfo, m *expr) *types.Var {
	switch m.Kind {
	case kGlobal:
		return a.lookupGlobal(m.Name)
	case kDeref:
		if m.Args[0].Kind == kGlobal {
			return a.lookupGlobal(m.Args[0].Name)
		}
	case kField:
		t := a.typeOf(fi, m.Args[0])
		if t == nil {
			return nil
		}
		return lookupField(t, m.Name)
	}
	return nil
}

// typeOf returns the type of the value an expr denotes in fi's function.
func (a *checker) typeOf(fi *funcInfo, e *expr) types.Type {
	switch e.Kind {
	case kParam:
		if e.Index < len(fi.fn.Params) {
			return fi.fn.Params[e.Index].Type()
		}
	case kFree:
		if e.Index < len(fi.fn.FreeVars) {
			return fi.fn.FreeVars[e.Index].Type()
		}
	case kGlobal:
		if v := a.lookupGlobal(e.Name); v != nil {
			return v.Type()
		}
	case kLocal:
		if v := fi.canon.locals[e.Name]; v != nil {
			return v.Type()
		}
	case kDeref:
		if t := a.typeOf(fi, e.Args[0]); t != nil {
			if p, ok := t.Underlying().(*types.Pointer); ok {
				return p.Elem()
			}
		}
	case kAddr:
		if t := a.typeOf(fi, e.Args[0]); t != nil {
			return types.NewPointer(t)
		}
	case kField:
		if t := a.typeOf(fi, e.Args[0]); t != nil {
			if v := lookupField(t, e.Name); v != nil {
				return v.Type()
			}
		}
	}
	return nil
}

func lookupFieldOf(a *checker, fi *funcInfo, k *expr) *types.Var {
	t := a.typeOf(fi, k.Args[0])
	if t == nil {
		return nil
	}
	return lookupField(t, k.Name)
}

// lookupGlobal finds a package-level variable by "path.name".
func (a *checker) lookupGlobal(name string) *types.Var {
	if v, ok := a.globals[name]; ok {
		return v
	}
	if a.globals == nil {
		a.globals = make(map[string]*types.Var)
	}
	var found *types.Var
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		if pkg := a.packageByPath(name[:i]); pkg != nil {
			found, _ = pkg.Scope().Lookup(name[i+1:]).(*types.Var)
		}
	}
	a.globals[name] = found
	return found
}

// packageByPath finds this package or one of its (transitive) imports.
func (a *checker) packageByPath(path string) *types.Package {
	if a.pkgs == nil {
		a.pkgs = make(map[string]*types.Package)
		var add func(p *types.Package)
		add = func(p *types.Package) {
			if _, seen := a.pkgs[p.Path()]; seen {
				return
			}
			a.pkgs[p.Path()] = p
			for _, imp := range p.Imports() {
				add(imp)
			}
		}
		add(a.pass.Pkg)
	}
	return a.pkgs[path]
}
