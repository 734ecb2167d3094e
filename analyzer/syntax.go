package analyzer

import (
	"go/ast"
	"go/token"
	"go/types"
	"strconv"
	"strings"
)

// syntaxIndex maps the positions SSA instructions carry back to the
// syntax they came from: the index expression of a map write, the call of
// a delete, the return statement of a Return.
type syntaxIndex struct {
	fset    *token.FileSet
	info    *types.Info
	index   map[token.Pos]*ast.IndexExpr    // by Lbrack
	kv      map[token.Pos]*ast.KeyValueExpr // by Colon
	calls   map[token.Pos]*ast.CallExpr     // by Lparen
	returns map[token.Pos]*ast.ReturnStmt   // by Return
	rbraces map[token.Pos]bool              // closing braces of function bodies (implicit returns)
	goDefer map[token.Pos]ast.Stmt          // go and defer statements, by keyword
	parent  map[ast.Node]ast.Node           // parents of return statements
	files   []*ast.File
	indexed []bool // files whose nodes are in the maps above

	// assigns holds, per variable, the positions where it is assigned
	// after its declaration (computed on demand, for fixes).
	assigns map[types.Object][]token.Pos
}

func newSyntaxIndex(fset *token.FileSet, info *types.Info, files []*ast.File) *syntaxIndex {
	return &syntaxIndex{
		fset:    fset,
		info:    info,
		index:   make(map[token.Pos]*ast.IndexExpr),
		kv:      make(map[token.Pos]*ast.KeyValueExpr),
		calls:   make(map[token.Pos]*ast.CallExpr),
		returns: make(map[token.Pos]*ast.ReturnStmt),
		rbraces: make(map[token.Pos]bool),
		goDefer: make(map[token.Pos]ast.Stmt),
		parent:  make(map[ast.Node]ast.Node),
		files:   files,
		indexed: make([]bool, len(files)),
	}
}

// ensure indexes the file that contains pos.
func (s *syntaxIndex) ensure(pos token.Pos) {
	for i, f := range s.files {
		if f.FileStart <= pos && pos <= f.FileEnd {
			if !s.indexed[i] {
				s.indexed[i] = true
				s.indexFile(f)
			}
			return
		}
	}
}

func (s *syntaxIndex) indexFile(f *ast.File) {
	var stack []ast.Node
	ast.Inspect(f, func(n ast.Node) bool {
		if n == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		switch n := n.(type) {
		case *ast.IndexExpr:
			s.index[n.Lbrack] = n
		case *ast.KeyValueExpr:
			s.kv[n.Colon] = n
		case *ast.CallExpr:
			s.calls[n.Lparen] = n
		case *ast.ReturnStmt:
			s.returns[n.Return] = n
			if len(stack) > 0 {
				s.parent[n] = stack[len(stack)-1]
			}
		case *ast.DeferStmt:
			s.goDefer[n.Defer] = n
		case *ast.GoStmt:
			s.goDefer[n.Go] = n
		case *ast.FuncDecl:
			if n.Body != nil {
				s.rbraces[n.Body.Rbrace] = true
			}
		case *ast.FuncLit:
			s.rbraces[n.Body.Rbrace] = true
		}
		stack = append(stack, n)
		return true
	})
}

// A span is the source range a diagnostic, or a position related to it,
// covers.
type span struct {
	pos, end token.Pos
}

// spanAt returns the span of the syntax at a position go/ssa gives an
// instruction: the whole index expression whose [ is at pos (m[k] = v),
// the call whose ( is at pos (delete(m, k), m.Store(k, v), a helper), the
// composite literal element whose : is at pos, the return, go or defer
// statement at pos, or the closing brace of a function body (its implicit
// return).
// Elsewhere the span is the single point pos.
func (s *syntaxIndex) spanAt(pos token.Pos) span {
	s.ensure(pos)
	var n ast.Node
	switch {
	case s.index[pos] != nil:
		n = s.index[pos]
	case s.calls[pos] != nil:
		n = s.calls[pos]
	case s.kv[pos] != nil:
		n = s.kv[pos]
	case s.returns[pos] != nil:
		n = s.returns[pos]
	case s.goDefer[pos] != nil:
		n = s.goDefer[pos]
	case s.rbraces[pos]:
		return span{pos, pos + 1}
	default:
		return span{pos, pos}
	}
	return span{pos, n.End()}
}

// nameSpan returns the span of the name obj is declared by.
func nameSpan(obj types.Object) span {
	return span{obj.Pos(), obj.Pos() + token.Pos(len(obj.Name()))}
}

// indexExpr returns the index expression whose [ is at pos.
func (s *syntaxIndex) indexExpr(pos token.Pos) *ast.IndexExpr {
	s.ensure(pos)
	return s.index[pos]
}

// keyValue returns the composite literal element whose : is at pos.
func (s *syntaxIndex) keyValue(pos token.Pos) *ast.KeyValueExpr {
	s.ensure(pos)
	return s.kv[pos]
}

// call returns the call whose ( is at pos.
func (s *syntaxIndex) call(pos token.Pos) *ast.CallExpr {
	s.ensure(pos)
	return s.calls[pos]
}

// returnStmt returns the return statement at pos.
func (s *syntaxIndex) returnStmt(pos token.Pos) *ast.ReturnStmt {
	s.ensure(pos)
	return s.returns[pos]
}

// assignments returns the positions where obj is assigned after its
// declaration (x = ..., x++, &x, for x = range).
func (s *syntaxIndex) assignments(obj types.Object) []token.Pos {
	if s.assigns == nil {
		s.assigns = make(map[types.Object][]token.Pos)
		for _, f := range s.files {
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.AssignStmt:
					if n.Tok != token.DEFINE {
						for _, lhs := range n.Lhs {
							s.noteAssign(lhs)
						}
					}
				case *ast.IncDecStmt:
					s.noteAssign(n.X)
				case *ast.RangeStmt:
					if n.Tok == token.ASSIGN {
						s.noteAssign(n.Key)
						s.noteAssign(n.Value)
					}
				case *ast.UnaryExpr:
					if n.Op == token.AND {
						// &x: x may be written through the pointer.
						s.noteAssign(n.X)
					}
				}
				return true
			})
		}
	}
	return s.assigns[obj]
}

func (s *syntaxIndex) noteAssign(e ast.Expr) {
	if e == nil {
		return
	}
	e = ast.Unparen(e)
	switch e := e.(type) {
	case *ast.Ident:
		if obj := s.info.Uses[e]; obj != nil {
			s.assigns[obj] = append(s.assigns[obj], e.Pos())
		}
	case *ast.SelectorExpr:
		// c.f = ...: record on the field so that c.f read before is stale.
		if sel := s.info.Selections[e]; sel != nil {
			s.assigns[sel.Obj()] = append(s.assigns[sel.Obj()], e.Pos())
		}
		s.noteAssign(e.X)
	}
}

// file returns the syntax tree containing pos.
func (s *syntaxIndex) file(pos token.Pos) *ast.File {
	for _, f := range s.files {
		if f.FileStart <= pos && pos <= f.FileEnd {
			return f
		}
	}
	return nil
}

// enclosingFuncDecl returns the function declaration containing pos.
func (s *syntaxIndex) enclosingFuncDecl(pos token.Pos) *ast.FuncDecl {
	f := s.file(pos)
	if f == nil {
		return nil
	}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Pos() <= pos && pos < fd.End() {
			return fd
		}
	}
	return nil
}

// shortPos renders pos as file.go:line.
func (s *syntaxIndex) shortPos(pos token.Pos) string {
	p := s.fset.Position(pos)
	name := p.Filename
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	return name + ":" + strconv.Itoa(p.Line)
}

// exprString renders e as Go source.
func exprString(e ast.Expr) string {
	if e == nil {
		return ""
	}
	return types.ExprString(e)
}

// shortMapName returns the name to show for a map expression: pending for
// c.pending, stanzas for h.stanzas.
func shortMapName(e ast.Expr) string {
	if id := lastName(e); id != nil {
		return id.Name
	}
	return exprString(e)
}

// lastName returns the name an expression ends with: pending in
// c.pending or *c.pending, m in m[k] or &m, T in *pkg.T or T[int].
func lastName(e ast.Expr) *ast.Ident {
	switch e := ast.Unparen(e).(type) {
	case *ast.SelectorExpr:
		return e.Sel
	case *ast.Ident:
		return e
	case *ast.StarExpr:
		return lastName(e.X)
	case *ast.UnaryExpr:
		return lastName(e.X)
	case *ast.IndexExpr:
		return lastName(e.X)
	case *ast.IndexListExpr:
		return lastName(e.X)
	}
	return nil
}

// keyNames returns the names a key expression is known by: identifiers,
// fields and methods it is made of, and the named types involved
// (req.ID -> ID; respToken(inbox) -> respToken, inbox; QueryID(s) -> QueryID, s).
//
// A key whose type cannot be an ID (a pointer, channel, function,
// interface, map or slice: *ast.Ident is an identifier node, not a
// request ID) has no names.
func keyNames(e ast.Expr, info *types.Info) []string {
	if tv, ok := info.Types[e]; ok && !idLikeType(tv.Type) {
		return nil
	}
	var names []string
	add := func(n string) {
		if n != "" && n != "_" {
			names = append(names, n)
		}
	}
	addType := func(t types.Type) {
		if t == nil {
			return
		}
		if p, ok := types.Unalias(t).(*types.Pointer); ok {
			t = p.Elem()
		}
		if n, ok := types.Unalias(t).(*types.Named); ok {
			add(n.Obj().Name())
		}
	}
	var walk func(e ast.Expr, depth int)
	walk = func(e ast.Expr, depth int) {
		if e == nil || depth > 6 {
			return
		}
		if tv, ok := info.Types[e]; ok {
			addType(tv.Type)
		}
		switch e := e.(type) {
		case *ast.Ident:
			add(e.Name)
		case *ast.SelectorExpr:
			add(e.Sel.Name)
		case *ast.ParenExpr:
			walk(e.X, depth+1)
		case *ast.StarExpr:
			walk(e.X, depth+1)
		case *ast.UnaryExpr:
			walk(e.X, depth+1)
		case *ast.CallExpr:
			if tv, ok := info.Types[e.Fun]; ok && tv.IsType() {
				// T(x): a conversion.
				for _, a := range e.Args {
					walk(a, depth+1)
				}
				return
			}
			switch fun := ast.Unparen(e.Fun).(type) {
			case *ast.Ident:
				add(fun.Name)
			case *ast.SelectorExpr:
				add(fun.Sel.Name)
			case *ast.IndexExpr: // generic instantiation
				walk(fun.X, depth+1)
			}
			for _, a := range e.Args {
				walk(a, depth+1)
			}
		case *ast.BinaryExpr:
			walk(e.X, depth+1)
			walk(e.Y, depth+1)
		case *ast.SliceExpr:
			walk(e.X, depth+1)
		case *ast.IndexExpr:
			walk(e.X, depth+1)
		case *ast.TypeAssertExpr:
			walk(e.X, depth+1)
		}
	}
	walk(e, 0)
	return names
}
