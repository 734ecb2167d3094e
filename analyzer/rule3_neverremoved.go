package analyzer

import (
	"fmt"
)

// Rule 3, never removed (category never-removed).
//
// Spec: doc.go, "Rule 3". Fixtures: testdata/src/neverremoved; also
// caches, errpath, locals and trackall.

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
			diag := diagnostic(categoryNeverRemoved, a.syn.spanAt(op.pos), fmt.Sprintf("entries of %s are never deleted; it grows with every request", name))
			if op.mapVar.Pos().IsValid() {
				diag.Related = append(diag.Related, related(nameSpan(op.mapVar), name+" is declared here; nothing in the package deletes from it"))
			}
			a.report(&finding{diag: diag, fn: a.funcDecl(fi), mapVar: op.mapVar})
		}
	}
}
