package analyzer

import (
	"fmt"

	"golang.org/x/tools/go/analysis"
)

// checkNeverRemoved applies rule 3: inserts into an unexported tracked map
// that nothing in the package ever removes from.
func (a *checker) checkNeverRemoved() {
	for _, fn := range a.funcs {
		fi := a.infos[fn]
		if fn.Synthetic != "" {
			continue
		}
		for _, op := range fi.ops {
			if !a.reportsNeverRemoved(fi, op) {
				continue
			}
			name := op.mapName
			diag := analysis.Diagnostic{
				Pos:      op.pos,
				Category: categoryNeverRemoved,
				Message:  fmt.Sprintf("entries of %s are never deleted; it grows with every request", name),
			}
			if op.mapAST != nil {
				diag.End = op.mapAST.End()
			}
			if op.mapVar.Pos().IsValid() {
				diag.Related = append(diag.Related, analysis.RelatedInformation{Pos: op.mapVar.Pos(), Message: name + " is declared here; nothing in the package deletes from it"})
			}
			a.report(&finding{diag: diag, fn: a.funcDecl(fi), mapVar: op.mapVar})
		}
	}
}
