package analyzer

import (
	"go/ast"
	"go/token"
	"go/types"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/ssa"
)

// releaseSource is how a fix writes the release: the map and key
// expressions, as the existing insert or delete spells them.
type releaseSource struct {
	mapSrc, keySrc string
	vars           []namedObj     // variables the expressions use
	fields         []types.Object // fields they select
	after          token.Pos      // the expressions are evaluated here
	syncMap        bool
}

func (s releaseSource) text() string {
	if s.syncMap {
		return s.mapSrc + ".Delete(" + s.keySrc + ")"
	}
	return "delete(" + s.mapSrc + ", " + s.keySrc + ")"
}

// A namedObj is a variable used by name in a release source.
type namedObj struct {
	name string
	obj  types.Object
}

// sourceOf returns the release source of a direct map operation, if its
// expressions can be evaluated again without side effects.
func (a *checker) sourceOf(op *mapOp) (releaseSource, bool) {
	if op.mapAST == nil || op.keyAST == nil {
		return releaseSource{}, false
	}
	src := releaseSource{mapSrc: exprString(op.mapAST), keySrc: exprString(op.keyAST), after: op.pos, syncMap: op.is(flagSyncMap)}
	for _, e := range []ast.Expr{op.mapAST, op.keyAST} {
		if !a.pureExpr(e, &src) {
			return releaseSource{}, false
		}
	}
	return src, true
}

// pureExpr reports whether e can be evaluated again at another place with
// the same result: identifiers, field selections, dereferences, constants,
// conversions and index expressions over them.
func (a *checker) pureExpr(e ast.Expr, src *releaseSource) bool {
	info := a.pass.TypesInfo
	ok := true
	ast.Inspect(e, func(n ast.Node) bool {
		if !ok {
			return false
		}
		switch n := n.(type) {
		case nil:
		case *ast.Ident:
			if obj := info.Uses[n]; obj != nil {
				src.vars = append(src.vars, namedObj{n.Name, obj})
			}
		case *ast.SelectorExpr:
			if sel := info.Selections[n]; sel != nil {
				if sel.Kind() != types.FieldVal {
					ok = false
					return false
				}
				src.fields = append(src.fields, sel.Obj())
			}
		case *ast.StarExpr, *ast.ParenExpr, *ast.BasicLit, *ast.IndexExpr:
			if ie, isIndex := n.(*ast.IndexExpr); isIndex {
				if tv, has := info.Types[ie.X]; has && isMap(tv.Type) {
					ok = false // a map read may change
				}
			}
		case *ast.CallExpr:
			if tv, has := info.Types[n.Fun]; !has || !tv.IsType() {
				ok = false
			}
		case *ast.ArrayType, *ast.MapType:
		case *ast.BinaryExpr:
		default:
			ok = false
		}
		return ok
	})
	return ok
}

// validAt reports whether the release source means the same at pos: every
// variable it uses is in scope and not assigned between src.after and pos.
func (a *checker) validAt(src releaseSource, pos token.Pos) bool {
	scope := a.innermost(pos)
	if scope == nil {
		return false
	}
	lo, hi := src.after, pos
	if lo > hi {
		lo, hi = hi, lo
	}
	for _, nv := range src.vars {
		obj := nv.obj
		switch obj.(type) {
		case *types.PkgName, *types.TypeName, *types.Const, *types.Nil, *types.Builtin:
			continue
		}
		v, isVar := obj.(*types.Var)
		if !isVar || v.IsField() {
			continue
		}
		if v.Parent() == a.pass.Pkg.Scope() {
			continue // a package variable
		}
		if _, found := scope.LookupParent(nv.name, pos); found != obj {
			return false
		}
		for _, p := range a.syn.assignments(obj) {
			if lo < p && p < hi {
				return false
			}
		}
	}
	for _, f := range src.fields {
		for _, p := range a.syn.assignments(f) {
			if lo < p && p < hi {
				return false
			}
		}
	}
	return true
}

// fixInsert offers, for rule 1, a release right before each leaking
// return.
func (a *checker) fixInsert(fi *funcInfo, ins *mapOp, leaks []leak) *analysis.SuggestedFix {
	// Prefer the spelling of an existing delete in the function.
	var srcs []releaseSource
	for _, r := range fi.ops {
		if r.kind == opRelease && !r.is(flagWhole) && r.direct() && !r.is(flagAsync) && r.releases(ins) && same(r.k, ins.k) {
			if s, ok := a.sourceOf(r); ok {
				srcs = append(srcs, s)
			}
		}
	}
	if s, ok := a.sourceOf(ins); ok {
		srcs = append(srcs, s)
	}
	if len(srcs) == 0 {
		return nil
	}
	var edits []analysis.TextEdit
	for _, l := range leaks {
		var edit *analysis.TextEdit
		for _, src := range srcs {
			if e := a.releaseEdit(fi, ins, src, l.ret); e != nil {
				edit = e
				break
			}
		}
		if edit == nil {
			return nil // a partial fix would leave some leaks behind
		}
		edits = append(edits, *edit)
	}
	return &analysis.SuggestedFix{
		Message:   "delete " + ins.entryName() + " before returning",
		TextEdits: edits,
	}
}

// fixCompleter offers, for rule 2, the release the other paths do, right
// before the leaking return.
func (a *checker) fixCompleter(fi *funcInfo, grp *completerGroup, ret *ssa.Return) *analysis.SuggestedFix {
	var srcs []releaseSource
	for _, r := range grp.releases {
		if r.direct() {
			if s, ok := a.sourceOf(r); ok {
				srcs = append(srcs, s)
			}
		}
	}
	if len(srcs) == 0 {
		// The release happens in a helper: spell the entry from the
		// function's own parameters, if possible.
		if s, ok := a.renderSource(fi, grp.m, grp.k, grp.rep.is(flagSyncMap)); ok {
			srcs = append(srcs, s)
		}
	}
	op := &mapOp{kind: opInsert, flags: grp.rep.flags & flagSyncMap, m: grp.m, k: grp.k, mapVar: grp.rep.mapVar, instr: grp.rep.instr, block: grp.rep.block}
	for _, src := range srcs {
		if e := a.releaseEdit(fi, op, src, ret); e != nil {
			return &analysis.SuggestedFix{
				Message:   "delete " + grp.rep.entryName() + " before returning",
				TextEdits: []analysis.TextEdit{*e},
			}
		}
	}
	return nil
}

// renderSource spells a map path and key made of parameters and fields
// (h.stanzas, queryID) as Go source in fi's function.
func (a *checker) renderSource(fi *funcInfo, m, k *expr, syncMap bool) (releaseSource, bool) {
	src := releaseSource{after: fi.fn.Pos(), syncMap: syncMap}
	var render func(e *expr) (string, bool)
	render = func(e *expr) (string, bool) {
		switch e.Kind {
		case kParam:
			if e.Index >= len(fi.fn.Params) {
				return "", false
			}
			p := fi.fn.Params[e.Index]
			obj, _ := p.Object().(*types.Var)
			if obj == nil || p.Name() == "" || p.Name() == "_" {
				return "", false
			}
			src.vars = append(src.vars, namedObj{p.Name(), obj})
			return p.Name(), true
		case kField:
			x, ok := render(e.Args[0])
			if !ok {
				return "", false
			}
			if !token.IsExported(e.Name) {
				if v := a.classOf(fi, e); v == nil || v.Pkg() != a.pass.Pkg {
					return "", false
				}
			}
			return x + "." + e.Name, true
		case kDeref:
			return render(e.Args[0])
		case kGlobal:
			if v := a.lookupGlobal(e.Name); v != nil && v.Pkg() == a.pass.Pkg {
				return v.Name(), true
			}
		}
		return "", false
	}
	var ok bool
	if src.mapSrc, ok = render(m); !ok {
		return src, false
	}
	if src.keySrc, ok = render(k); !ok {
		return src, false
	}
	return src, true
}

// releaseEdit returns the edit inserting the release before ret, taking
// the map's lock if the map is guarded by one; nil if that cannot be done
// safely.
func (a *checker) releaseEdit(fi *funcInfo, op *mapOp, src releaseSource, ret *ssa.Return) *analysis.TextEdit {
	if !ret.Pos().IsValid() {
		return nil
	}
	stmt := a.syn.returnStmt(ret.Pos())
	if stmt == nil {
		return nil
	}
	if _, labeled := a.syn.parent[stmt].(*ast.LabeledStmt); labeled {
		return nil
	}
	if !a.validAt(src, stmt.Pos()) {
		return nil
	}
	// Deleting before returning must not change what is returned.
	for _, res := range stmt.Results {
		if strings.Contains(exprString(res), src.mapSrc) {
			return nil
		}
	}
	text := src.text()
	if !src.syncMap {
		mu, ok := a.guard(fi, op, src)
		if !ok {
			return nil
		}
		if mu != nil {
			switch a.lockStateAt(fi, mu.canon, ret) {
			case lockHeld:
			case lockFree:
				if !a.validAt(mu.src, stmt.Pos()) {
					return nil
				}
				text = mu.src.mapSrc + ".Lock()\n" + text + "\n" + mu.src.mapSrc + ".Unlock()"
			default:
				return nil
			}
		}
	}
	indent, alone := a.lineIndent(stmt.Pos())
	if alone {
		text = strings.ReplaceAll(text, "\n", "\n"+indent) + "\n" + indent
	} else {
		text = strings.ReplaceAll(text, "\n", "; ") + "; "
	}
	return &analysis.TextEdit{Pos: stmt.Pos(), End: stmt.Pos(), NewText: []byte(text)}
}

// lineIndent returns the whitespace before pos on its line and whether
// nothing else precedes pos there.
func (a *checker) lineIndent(pos token.Pos) (string, bool) {
	tf := a.pass.Fset.File(pos)
	if tf == nil {
		return "", false
	}
	content, ok := a.sources[tf.Name()]
	if !ok {
		var err error
		content, err = a.pass.ReadFile(tf.Name())
		if err != nil {
			content = nil
		}
		if a.sources == nil {
			a.sources = make(map[string][]byte)
		}
		a.sources[tf.Name()] = content
	}
	if content == nil {
		return "", false
	}
	off := tf.Offset(pos)
	start := tf.Offset(tf.LineStart(tf.Line(pos)))
	if off > len(content) || start > off {
		return "", false
	}
	prefix := string(content[start:off])
	if strings.TrimLeft(prefix, " \t") != "" {
		return "", false
	}
	return prefix, true
}

// innermost returns the innermost scope containing pos, like
// types.Scope.Innermost but with a binary search among the children of a
// scope (a function with thousands of blocks has thousands of them).
func (a *checker) innermost(pos token.Pos) *types.Scope {
	scope := a.pass.Pkg.Scope()
	if !scope.Contains(pos) {
		// The package scope's extent is empty: start from the files.
		var file *types.Scope
		for i := 0; i < scope.NumChildren(); i++ {
			if c := scope.Child(i); c.Contains(pos) {
				file = c
				break
			}
		}
		if file == nil {
			return nil
		}
		scope = file
	}
	for {
		n := scope.NumChildren()
		lo, hi := 0, n
		for lo < hi {
			mid := (lo + hi) / 2
			if scope.Child(mid).End() <= pos {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		if lo < n && scope.Child(lo).Contains(pos) {
			scope = scope.Child(lo)
			continue
		}
		// Children out of order (rare): fall back to a linear search.
		found := false
		if lo == n || scope.Child(lo).Pos() > pos {
			for i := 0; i < n; i++ {
				if c := scope.Child(i); c.Contains(pos) {
					scope, found = c, true
					break
				}
			}
		}
		if !found {
			return scope
		}
	}
}

// baseIdents returns the identifiers of the access path e that name
// variables: c in c.mu, mus and i in mus[i] (not the field names of
// selections). Operands of anything else (calls, operators) are left out.
func baseIdents(e ast.Expr) []*ast.Ident {
	var ids []*ast.Ident
	ast.Inspect(e, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.Ident:
			ids = append(ids, n)
		case *ast.SelectorExpr:
			ids = append(ids, baseIdents(n.X)...)
			return false // n.Sel names a field
		case *ast.StarExpr, *ast.ParenExpr, *ast.IndexExpr:
			return true
		}
		return false
	})
	return ids
}
