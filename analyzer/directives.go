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

type directiveKind uint8

const (
	dirTrack directiveKind = iota + 1
	dirIgnore
)

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

type directives struct {
	all    []*directive
	byObj  map[types.Object][]*directive
	byFunc map[*ast.FuncDecl][]*directive
	byLine map[lineKey][]*directive
}

type lineKey struct {
	file *token.File
	line int
}

func parseDirectives(fset *token.FileSet, info *types.Info, files []*ast.File) *directives {
	d := &directives{
		byObj:  make(map[types.Object][]*directive),
		byFunc: make(map[*ast.FuncDecl][]*directive),
		byLine: make(map[lineKey][]*directive),
	}
	byComment := make(map[*ast.Comment]*directive)
	for _, f := range files {
		tf := fset.File(f.Pos())
		if tf == nil {
			continue
		}
		hasDirective := false
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				if strings.HasPrefix(c.Text, directivePrefix) {
					hasDirective = true
				}
			}
		}
		if !hasDirective {
			continue
		}
		// Which lines hold code: a directive alone on its line applies to
		// the next line, a trailing one to its own line.
		codeLines := make(map[int]bool)
		ast.Inspect(f, func(n ast.Node) bool {
			switch n.(type) {
			case nil, *ast.CommentGroup, *ast.Comment, *ast.File:
				return true
			}
			if n.Pos().IsValid() {
				codeLines[tf.Line(n.Pos())] = true
			}
			if n.End().IsValid() {
				codeLines[tf.Line(n.End()-1)] = true
			}
			return true
		})
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				if !strings.HasPrefix(c.Text, directivePrefix) {
					continue
				}
				rest := strings.TrimPrefix(c.Text, directivePrefix)
				verb, reason, _ := strings.Cut(rest, " ")
				reason = strings.TrimSpace(reason)
				dir := &directive{pos: c.Pos(), end: c.End(), file: tf, line: tf.Line(c.Pos())}
				dir.alone = !codeLines[dir.line]
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
				d.all = append(d.all, dir)
				byComment[c] = dir
			}
		}
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
					var objs []types.Object
					for _, name := range vs.Names {
						if obj := info.Defs[name]; obj != nil {
							objs = append(objs, obj)
						}
					}
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
					var objs []types.Object
					for _, name := range field.Names {
						if obj := info.Defs[name]; obj != nil {
							objs = append(objs, obj)
						}
					}
					if len(field.Names) == 0 {
						// An embedded field is named by its type.
						if obj := info.Implicits[field]; obj != nil {
							objs = append(objs, obj)
						}
					}
					attach(field.Doc, objs, nil)
					attach(field.Comment, objs, nil)
				}
			case *ast.DeclStmt:
				// Local variable declarations: var pending = map[...]...
				if gd, ok := n.Decl.(*ast.GenDecl); ok && gd.Tok == token.VAR {
					for _, spec := range gd.Specs {
						vs := spec.(*ast.ValueSpec)
						var objs []types.Object
						for _, name := range vs.Names {
							if obj := info.Defs[name]; obj != nil {
								objs = append(objs, obj)
							}
						}
						attach(vs.Doc, objs, nil)
						attach(vs.Comment, objs, nil)
						attach(gd.Doc, objs, nil)
					}
				}
			}
			return true
		})
	}
	for _, dir := range d.all {
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
