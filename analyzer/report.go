package analyzer

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"sort"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/ssa"
)

// Diagnostic categories.
const (
	categoryFailurePath       = "failure-path"
	categoryIncompleteCleanup = "incomplete-cleanup"
	categoryNeverRemoved      = "never-removed"
	categoryDirective         = "directive"
)

// diagnostic is the constructor of every mapleak diagnostic: a message of
// the category over the span at.
func diagnostic(category string, at span, message string) analysis.Diagnostic {
	return analysis.Diagnostic{Pos: at.pos, End: at.end, Category: category, Message: message}
}

// related is the constructor of the positions a diagnostic points to.
func related(at span, message string) analysis.RelatedInformation {
	return analysis.RelatedInformation{Pos: at.pos, End: at.end, Message: message}
}

// A finding is a diagnostic waiting for suppression checks.
type finding struct {
	diag   analysis.Diagnostic
	fn     *ast.FuncDecl
	mapVar *types.Var
	ignDir bool
}

// report queues a diagnostic; emit applies the suppression directives.
func (a *checker) report(f *finding) {
	a.findings = append(a.findings, f)
}

func (a *checker) emit() {
	sort.SliceStable(a.findings, func(i, j int) bool { return a.findings[i].diag.Pos < a.findings[j].diag.Pos })
	type reported struct {
		pos     token.Pos
		message string
	}
	seen := make(map[reported]bool)
	for _, f := range a.findings {
		key := reported{f.diag.Pos, f.diag.Message}
		if seen[key] {
			continue
		}
		seen[key] = true
		if f.ignDir {
			continue
		}
		if dir := a.dirs.suppressor(a.pass.Fset, f.diag.Pos, f.fn, f.mapVar); dir != nil {
			dir.used = true
			continue
		}
		a.pass.Report(f.diag)
	}
	for _, dir := range a.dirs.all {
		switch {
		case dir.bad != "":
			a.pass.Report(diagnostic(categoryDirective, span{dir.pos, dir.end}, dir.bad))
		case a.cfg.reportStale && dir.kind == dirIgnore && !dir.used:
			a.pass.Report(diagnostic(categoryDirective, span{dir.pos, dir.end}, "//mapleak:ignore suppresses nothing; remove it"))
		}
	}
}

// funcDecl returns the declaration enclosing fi's function (the outermost
// function for a closure).
func (a *checker) funcDecl(fi *funcInfo) *ast.FuncDecl {
	fn := fi.fn
	for fn.Parent() != nil {
		fn = fn.Parent()
	}
	if fd, ok := fn.Syntax().(*ast.FuncDecl); ok {
		return fd
	}
	return a.syn.enclosingFuncDecl(fi.fn.Pos())
}

// entryName renders an entry for messages: pending[seq].
func (op *mapOp) entryName() string {
	name := op.mapName
	if name == "" {
		name = "map"
	}
	key := ""
	if op.keyAST != nil {
		key = exprString(op.keyAST)
	} else if op.k != nil && op.k.Kind != kAny {
		key = op.k.display()
	}
	if key == "" {
		return name + " entry"
	}
	return name + "[" + key + "]"
}

// describeInsert names what an insert adds: pending[seq], or for a helper
// "the pendingResponses entry added by AddPendingResponse(rsp)".
func (a *checker) describeInsert(op *mapOp) string {
	if op.via == "" || op.mapAST != nil {
		return op.entryName()
	}
	call := op.via
	if ce := a.syn.call(callPos(op.instr)); ce != nil {
		call = exprString(ce)
	}
	name := op.mapName
	if name == "" {
		name = "map"
	}
	return "the " + name + " entry added by " + call
}

// retPos returns the position of a return: the return statement, or the
// closing brace of the function for the implicit return at its end.
func (fi *funcInfo) retPos(ret *ssa.Return) token.Pos {
	if ret.Pos().IsValid() {
		return ret.Pos()
	}
	switch syn := fi.fn.Syntax().(type) {
	case *ast.FuncDecl:
		if syn.Body != nil {
			return syn.Body.Rbrace
		}
	case *ast.FuncLit:
		return syn.Body.Rbrace
	}
	return fi.fn.Pos()
}

// leakList renders the leaking returns: "at client.go:88 (error path)".
func (a *checker) leakList(fi *funcInfo, leaks []leak) string {
	var parts []string
	for i, l := range leaks {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("%d more returns", len(leaks)-3))
			break
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", a.syn.shortPos(fi.retPos(l.ret)), l.kind))
	}
	switch len(parts) {
	case 1:
		return parts[0]
	default:
		return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
	}
}
