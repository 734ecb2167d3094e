package analyzer

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"testing"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/ssa"
	"golang.org/x/tools/go/ssa/ssautil"
)

// A testPackage is a one-file package without imports, type-checked and
// built into SSA, for the white-box tests of the analyzer's machinery.
type testPackage struct {
	fset  *token.FileSet
	file  *ast.File
	info  *types.Info
	pkg   *ssa.Package
	funcs []*ssa.Function // as buildssa's SrcFuncs: declared functions, then their closures
}

// loadTestPackage parses, type-checks and builds src, failing the test if
// it does not compile.
func loadTestPackage(t *testing.T, src string) *testPackage {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	pkg, info, err := ssautil.BuildPackage(&types.Config{}, fset, types.NewPackage("p", "p"), []*ast.File{f}, ssa.InstantiateGenerics)
	if err != nil {
		t.Fatal(err)
	}
	tp := &testPackage{fset: fset, file: f, info: info, pkg: pkg}
	var add func(fn *ssa.Function)
	add = func(fn *ssa.Function) {
		tp.funcs = append(tp.funcs, fn)
		for _, anon := range fn.AnonFuncs {
			add(anon)
		}
	}
	for _, decl := range f.Decls {
		if fd, ok := decl.(*ast.FuncDecl); ok {
			add(pkg.Prog.FuncValue(info.Defs[fd.Name].(*types.Func)))
		}
	}
	return tp
}

// fn returns the function or method (Type.Method) named name.
func (tp *testPackage) fn(t *testing.T, name string) *ssa.Function {
	t.Helper()
	for _, fn := range tp.funcs {
		full := fn.Name()
		if recv := fn.Signature.Recv(); recv != nil {
			if named := derefNamed(recv.Type()); named != nil {
				full = named.Obj().Name() + "." + full
			}
		}
		if full == name {
			return fn
		}
	}
	t.Fatalf("no function %s", name)
	return nil
}

// checker returns a checker over the package, set up (phase 1) with the
// default configuration.
func (tp *testPackage) checker(t *testing.T) *checker {
	t.Helper()
	cfg, err := DefaultConfig().compile()
	if err != nil {
		t.Fatal(err)
	}
	pass := &analysis.Pass{
		Fset:      tp.fset,
		Files:     []*ast.File{tp.file},
		Pkg:       tp.pkg.Pkg,
		TypesInfo: tp.info,
	}
	a := newChecker(pass, cfg, debugOptions{}, tp.funcs)
	a.setup()
	return a
}
