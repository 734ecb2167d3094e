package analyzer_test

import (
	"path/filepath"
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/mapleak/mapleak/analyzer"
)

// testdata returns the absolute path of the fixtures (the go command
// wants an absolute GOPATH).
func testdata() string {
	dir, err := filepath.Abs(filepath.Join("..", "testdata"))
	if err != nil {
		panic(err)
	}
	return dir
}

func TestErrPath(t *testing.T) {
	analysistest.Run(t, testdata(), analyzer.Analyzer, "errpath")
}

func TestFamilies(t *testing.T) {
	for _, pkg := range []string{"timeouts", "loops", "switches", "defers", "helpers", "handoff", "completer", "syncmap", "generics", "reassign", "locals", "caches", "directives", "noreturn", "neverremoved", "keyident", "closures", "dino", "dinofixed"} {
		t.Run(pkg, func(t *testing.T) {
			analysistest.Run(t, testdata(), analyzer.Analyzer, pkg)
		})
	}
}

func TestFacts(t *testing.T) {
	analysistest.Run(t, testdata(), analyzer.Analyzer, "facts/lib", "facts/user")
}
