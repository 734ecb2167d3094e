package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
)

// Pos is a line:column position in a file (both 1-based; column 0 means
// "the whole line").
type Pos struct {
	Line, Col int
}

// Less reports whether p comes before q.
func (p Pos) Less(q Pos) bool {
	return p.Line < q.Line || p.Line == q.Line && p.Col < q.Col
}

// Span is the extent of a function declaration in its file.
type Span struct {
	Start, End Pos
}

// Contains reports whether p lies inside s (bounds included). A position
// without a column counts when its line is inside the span.
func (s Span) Contains(p Pos) bool {
	if p.Col == 0 {
		return s.Start.Line <= p.Line && p.Line <= s.End.Line
	}
	return !p.Less(s.Start) && !s.End.Less(p)
}

func (s Span) String() string { return fmt.Sprintf("lines %d-%d", s.Start.Line, s.End.Line) }

// ParsedFile is a parsed Go source file.
type ParsedFile struct {
	fset *token.FileSet
	file *ast.File
}

// ParseGoFile parses src (the content of filename) for function lookups.
func ParseGoFile(filename string, src []byte) (*ParsedFile, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filename, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", filename, err)
	}
	return &ParsedFile{fset: fset, file: f}, nil
}

// FindFunc locates the declaration of fn ("Func" or "Recv.Method") and
// returns its span, from the func keyword (the doc comment is not part of
// it) to the closing brace. Receivers may be pointers and generic
// (func (c *Conn[T]) M()).
func (pf *ParsedFile) FindFunc(fn string) (Span, error) {
	recv, name, err := splitFunction(fn)
	if err != nil {
		return Span{}, err
	}
	var found []*ast.FuncDecl
	for _, d := range pf.file.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Name.Name != name || fd.Body == nil {
			continue
		}
		if receiverTypeName(fd) == recv {
			found = append(found, fd)
		}
	}
	switch len(found) {
	case 0:
		return Span{}, fmt.Errorf("function %s not found in %s", fn, pf.fset.File(pf.file.Pos()).Name())
	case 1:
		return pf.span(found[0]), nil
	default:
		return Span{}, fmt.Errorf("function %s is declared %d times in %s", fn, len(found), pf.fset.File(pf.file.Pos()).Name())
	}
}

func (pf *ParsedFile) span(n ast.Node) Span {
	s, e := pf.fset.Position(n.Pos()), pf.fset.Position(n.End())
	return Span{Pos{s.Line, s.Column}, Pos{e.Line, e.Column}}
}

// EnclosingFunc names the innermost top-level function declaration that
// contains p: "Func" or "Recv.Method", with " (func literal)" appended when
// p is inside a function literal of it. It returns "" outside any function
// (package-level variable initializers, for example).
func (pf *ParsedFile) EnclosingFunc(p Pos) string {
	for _, d := range pf.file.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || !pf.span(fd).Contains(p) {
			continue
		}
		name := fd.Name.Name
		if r := receiverTypeName(fd); r != "" {
			name = r + "." + name
		}
		inLit := false
		ast.Inspect(fd, func(n ast.Node) bool {
			if lit, ok := n.(*ast.FuncLit); ok && pf.span(lit).Contains(p) {
				inLit = true
				return false
			}
			return !inLit
		})
		if inLit {
			name += " (func literal)"
		}
		return name
	}
	return ""
}

// receiverTypeName returns the receiver's type name of a method with the
// pointer and type parameters stripped, or "" for a plain function.
func receiverTypeName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return ""
	}
	t := fd.Recv.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
		case *ast.ParenExpr:
			t = x.X
		case *ast.IndexExpr:
			t = x.X
		case *ast.IndexListExpr:
			t = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}

// parsePosn parses a token.Position string as printed by the analysis
// drivers: "file:line:col", "file:line" or "file". The file name may
// itself contain colons (Windows drive letters), so the numbers are taken
// from the right.
func parsePosn(s string) (file string, p Pos, err error) {
	if s == "" || s == "-" {
		return "", Pos{}, fmt.Errorf("invalid position %q", s)
	}
	rest := s
	var nums []int
	for range 2 {
		i := strings.LastIndexByte(rest, ':')
		if i < 0 {
			break
		}
		n, err := strconv.Atoi(rest[i+1:])
		if err != nil || n < 0 {
			break
		}
		nums = append(nums, n)
		rest = rest[:i]
	}
	switch len(nums) {
	case 2:
		p = Pos{Line: nums[1], Col: nums[0]}
	case 1:
		p = Pos{Line: nums[0]}
	}
	if rest == "" {
		return "", Pos{}, fmt.Errorf("invalid position %q: no file name", s)
	}
	return rest, p, nil
}
