package analyzer

import (
	"go/ast"
	"go/token"
	"go/types"
	"strings"
)

// Directives are line comments without a space after the slashes:
//
//	//mapleak:track                  on a map's declaration
//	//mapleak:ignore <reason>        on a map's declaration, a function, or a reported line
const directivePrefix = "//mapleak:"

// A directiveKind is what a directive asks for.
type directiveKind uint8

const (
	dirTrack directiveKind = iota + 1
	dirIgnore
)

// A directive is one //mapleak: comment.
type directive struct {
	kind   directiveKind
	reason string
	pos    token.Pos
	end    token.Pos
	file   *token.File
	line   int  // the line the comment is on
	alone  bool // the comment is the only thing on its line
	// What the directive is attached to.
	objs []types.Object // map declarations
	fn   *ast.FuncDecl  // function
	used bool
	bad  string // a problem with the directive itself
}

// directives are a package's directives, indexed by what they apply to.
type directives struct {
	all    []*directive
	byObj  map[types.Object][]*directive  // on a map variable's or field's declaration
	byFunc map[*ast.FuncDecl][]*directive // on a function's doc comment
	byLine map[lineKey][]*directive       // on a line (the next one for a directive alone on its line)
}

type lineKey struct {
	file *token.File
	line int
}

// parseDirectives finds the directives of files: it scans each file's
// comments, attaches the directives to the declarations they document,
// and indexes them.
func parseDirectives(fset *token.FileSet, info *types.Info, files []*ast.File) *directives {
	var all []*directive
	for _, f := range files {
		dirs, byComment := scanDirectives(fset, f)
		if len(dirs) == 0 {
			continue
		}
		attachDirectives(f, info, byComment)
		all = append(all, dirs...)
	}
	return indexDirectives(all)
}

// scanDirectives parses the //mapleak: comments of f, in source order, and
// returns them also by comment. A directive alone on its line applies to
// the next line, a trailing one to its own line.
func scanDirectives(fset *token.FileSet, f *ast.File) ([]*directive, map[*ast.Comment]*directive) {
	tf := fset.File(f.Pos())
	if tf == nil || !hasDirective(f) {
		return nil, nil
	}
	code := codeLines(tf, f)
	var all []*directive
	byComment := make(map[*ast.Comment]*directive)
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			rest, ok := strings.CutPrefix(c.Text, directivePrefix)
			if !ok {
				continue
			}
			verb, reason, _ := strings.Cut(rest, " ")
			reason = strings.TrimSpace(reason)
			dir := &directive{pos: c.Pos(), end: c.End(), file: tf, line: tf.Line(c.Pos())}
			dir.alone = !code[dir.line]
			switch verb {
			case "track":
				dir.kind = dirTrack
			case "ignore":
				dir.kind = dirIgnore
				dir.reason = reason
				if reason == "" {
					dir.bad = "//mapleak:ignore needs a reason: //mapleak:ignore <why the entries may stay>"
				}
			default:
				dir.kind = dirIgnore
				dir.bad = "unknown directive //mapleak:" + verb + " (want //mapleak:track or //mapleak:ignore <reason>)"
			}
			all = append(all, dir)
			byComment[c] = dir
		}
	}
	return all, byComment
}

// hasDirective reports whether a comment of f is a directive.
func hasDirective(f *ast.File) bool {
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			if strings.HasPrefix(c.Text, directivePrefix) {
				return true
			}
		}
	}
	return false
}

// codeLines returns the lines of f where a node starts or ends.
func codeLines(tf *token.File, f *ast.File) map[int]bool {
	lines := make(map[int]bool)
	ast.Inspect(f, func(n ast.Node) bool {
		switch n.(type) {
		case nil, *ast.CommentGroup, *ast.Comment, *ast.File:
			return true
		}
		if n.Pos().IsValid() {
			lines[tf.Line(n.Pos())] = true
		}
		if n.End().IsValid() {
			lines[tf.Line(n.End()-1)] = true
		}
		return true
	})
	return lines
}

// attachDirectives records on the directives of f (byComment, from
// scanDirectives) what they document: the variables of a var
// declaration (package-level or local) or the fields of a struct whose
// doc or line comment holds them, or the function whose doc comment does.
// A grouped var declaration's doc comment documents its variables only if
// the group has one spec or no parentheses.
func attachDirectives(f *ast.File, info *types.Info, byComment map[*ast.Comment]*directive) {
	attach := func(cg *ast.CommentGroup, objs []types.Object, fn *ast.FuncDecl) {
		if cg == nil {
			return
		}
		for _, c := range cg.List {
			dir := byComment[c]
			if dir == nil {
				continue
			}
			dir.objs = append(dir.objs, objs...)
			if fn != nil {
				dir.fn = fn
			}
		}
	}
	for _, decl := range f.Decls {
		switch decl := decl.(type) {
		case *ast.FuncDecl:
			attach(decl.Doc, nil, decl)
		case *ast.GenDecl:
			if decl.Tok != token.VAR {
				break
			}
			var all []types.Object
			for _, spec := range decl.Specs {
				vs := spec.(*ast.ValueSpec)
				objs := definedBy(info, vs.Names)
				attach(vs.Doc, objs, nil)
				attach(vs.Comment, objs, nil)
				all = append(all, objs...)
			}
			if len(decl.Specs) == 1 || decl.Lparen == token.NoPos {
				attach(decl.Doc, all, nil)
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.StructType:
			for _, field := range n.Fields.List {
				names := field.Names
				if len(names) == 0 {
					// An embedded field: go/types records it as
					// defined by its type's name.
					if id := lastName(field.Type); id != nil {
						names = []*ast.Ident{id}
					}
				}
				objs := definedBy(info, names)
				attach(field.Doc, objs, nil)
				attach(field.Comment, objs, nil)
			}
		case *ast.DeclStmt:
			// Local variable declarations: var pending = map[...]...
			if gd, ok := n.Decl.(*ast.GenDecl); ok && gd.Tok == token.VAR {
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					objs := definedBy(info, vs.Names)
					attach(vs.Doc, objs, nil)
					attach(vs.Comment, objs, nil)
					attach(gd.Doc, objs, nil)
				}
			}
		}
		return true
	})
}

// definedBy returns the objects names define.
func definedBy(info *types.Info, names []*ast.Ident) []types.Object {
	var objs []types.Object
	for _, name := range names {
		if obj := info.Defs[name]; obj != nil {
			objs = append(objs, obj)
		}
	}
	return objs
}

// indexDirectives indexes directives by what they apply to: a
// declaration, a function, or else a line. A //mapleak:track that is not
// on a declaration is a bad directive.
func indexDirectives(all []*directive) *directives {
	d := &directives{
		all:    all,
		byObj:  make(map[types.Object][]*directive),
		byFunc: make(map[*ast.FuncDecl][]*directive),
		byLine: make(map[lineKey][]*directive),
	}
	for _, dir := range all {
		switch {
		case len(dir.objs) > 0:
			for _, obj := range dir.objs {
				d.byObj[obj] = append(d.byObj[obj], dir)
			}
		case dir.fn != nil:
			d.byFunc[dir.fn] = append(d.byFunc[dir.fn], dir)
		default:
			if dir.kind == dirTrack && dir.bad == "" {
				dir.bad = "//mapleak:track must be on the declaration of a map variable or field"
				continue
			}
			line := dir.line
			if dir.alone {
				line++
			}
			k := lineKey{dir.file, line}
			d.byLine[k] = append(d.byLine[k], dir)
		}
	}
	return d
}

// tracked reports whether obj's declaration carries //mapleak:track.
func (d *directives) tracked(obj types.Object) bool {
	if obj == nil {
		return false
	}
	for _, dir := range d.byObj[obj] {
		if dir.kind == dirTrack {
			dir.used = true
			return true
		}
	}
	return false
}

// declIgnored returns the //mapleak:ignore directive on obj's declaration.
func (d *directives) declIgnored(obj types.Object) *directive {
	if obj == nil {
		return nil
	}
	for _, dir := range d.byObj[obj] {
		if dir.kind == dirIgnore && dir.bad == "" {
			return dir
		}
	}
	return nil
}

// suppressor returns the directive that suppresses a finding reported at
// pos, inside fn, about the map declared by obj; nil if none.
func (d *directives) suppressor(fset *token.FileSet, pos token.Pos, fn *ast.FuncDecl, obj types.Object) *directive {
	if dir := d.declIgnored(obj); dir != nil {
		return dir
	}
	if fn != nil {
		for _, dir := range d.byFunc[fn] {
			if dir.kind == dirIgnore && dir.bad == "" {
				return dir
			}
		}
	}
	if tf := fset.File(pos); tf != nil {
		for _, dir := range d.byLine[lineKey{tf, tf.Line(pos)}] {
			if dir.kind == dirIgnore && dir.bad == "" {
				return dir
			}
		}
	}
	return nil
}
