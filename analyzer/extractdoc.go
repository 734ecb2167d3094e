package analyzer

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
)

// extractDoc returns the section of a package doc comment that documents
// analyzer name, in the x/tools convention:
//
//	# Analyzer NAME
//
//	NAME: summary
//
//	Full description...
//
// It returns the text after "NAME:", up to the next heading.
func extractDoc(content, name string) (string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "doc.go", content, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		return "", fmt.Errorf("not a Go source file: %w", err)
	}
	if f.Doc == nil {
		return "", fmt.Errorf("no package doc comment")
	}
	return extractDocSection(f.Doc, name)
}

func extractDocSection(doc *ast.CommentGroup, name string) (string, error) {
	for section := range strings.SplitSeq(doc.Text(), "\n# ") {
		body, ok := strings.CutPrefix(section, "Analyzer "+name)
		if !ok || body == "" || (body[0] != '\n' && body[0] != '\r') {
			continue
		}
		body = strings.TrimSpace(body)
		rest, ok := strings.CutPrefix(body, name+":")
		if !ok {
			return "", fmt.Errorf("'Analyzer %s' heading not followed by '%s: summary...' line", name, name)
		}
		return strings.TrimSpace(rest), nil
	}
	return "", fmt.Errorf("package doc comment contains no 'Analyzer %s' heading", name)
}

// mustExtractDoc is extractDoc for the embedded doc.go: a malformed manual
// is a programming error.
func mustExtractDoc(content, name string) string {
	doc, err := extractDoc(content, name)
	if err != nil {
		panic(err)
	}
	return doc
}
