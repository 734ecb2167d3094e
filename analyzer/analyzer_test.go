package analyzer_test

import (
	"fmt"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/mapleak/mapleak/analyzer"
)

// testdata returns the absolute path of the fixtures, testdata/src/<pkg>
// next to this file (the go command wants an absolute GOPATH).
func testdata() string {
	dir, err := filepath.Abs("testdata")
	if err != nil {
		panic(err)
	}
	return dir
}

func TestErrPath(t *testing.T) {
	analysistest.Run(t, testdata(), analyzer.Analyzer, "errpath")
}

func TestFamilies(t *testing.T) {
	for _, pkg := range []string{"timeouts", "loops", "switches", "defers", "helpers", "handoff", "completer", "syncmap", "generics", "reassign", "locals", "caches", "directives", "noreturn", "neverremoved", "keyident", "closures", "dino", "dinofixed", "freshkeys", "iface", "sweeper"} {
		t.Run(pkg, func(t *testing.T) {
			analysistest.Run(t, testdata(), analyzer.Analyzer, pkg)
		})
	}
}

func TestFacts(t *testing.T) {
	analysistest.Run(t, testdata(), analyzer.Analyzer, "facts/lib", "facts/user")
}

// run runs an analyzer built from cfg over one fixture package.
func runWith(t *testing.T, cfg analyzer.Config, pkg string) []*analysistest.Result {
	t.Helper()
	a, err := analyzer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return analysistest.Run(t, testdata(), a, pkg)
}

func TestCleanupFlag(t *testing.T) {
	cfg := analyzer.DefaultConfig()
	cfg.Cleanup = `cleanupflag\.(reap|Pool\.Drop)$`
	runWith(t, cfg, "cleanupflag")
}

func TestTrackAll(t *testing.T) {
	cfg := analyzer.DefaultConfig()
	cfg.TrackAll = true
	runWith(t, cfg, "trackall")
}

func TestStaleIgnores(t *testing.T) {
	cfg := analyzer.DefaultConfig()
	cfg.ReportStaleIgnores = true
	runWith(t, cfg, "stale")
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []analyzer.Config{{Keys: "("}, {Maps: "[a-"}, {Cleanup: "*x"}} {
		if _, err := analyzer.New(cfg); err == nil {
			t.Errorf("New(%+v): no error for an invalid pattern", cfg)
		}
	}
}

// TestRelated checks the positions a failure-path finding points to: the
// leaking return and the release on the other path.
func TestRelated(t *testing.T) {
	results := analysistest.Run(t, testdata(), analyzer.Analyzer, "related")
	var found bool
	for _, r := range results {
		for _, d := range r.Diagnostics {
			if d.Category != "failure-path" {
				continue
			}
			found = true
			var got []string
			for _, rel := range d.Related {
				p := r.Pass.Fset.Position(rel.Pos)
				got = append(got, fmt.Sprintf("%s:%d: %s", filepath.Base(p.Filename), p.Line, rel.Message))
			}
			want := []string{
				"related.go:21: pending[seq] leaks when returning here (error path)",
				"related.go:25: released here on other paths",
			}
			if !slices.Equal(got, want) {
				t.Errorf("Related = %q, want %q", got, want)
			}
			if len(d.SuggestedFixes) != 1 {
				t.Errorf("got %d suggested fixes, want 1", len(d.SuggestedFixes))
			}
		}
	}
	if !found {
		t.Fatal("no failure-path diagnostic")
	}
}

func TestSuggestedFixes(t *testing.T) {
	analysistest.RunWithSuggestedFixes(t, testdata(), analyzer.Analyzer, "fixes")
}

// TestNoFix checks findings for which no fix is safe.
func TestNoFix(t *testing.T) {
	for _, r := range analysistest.Run(t, testdata(), analyzer.Analyzer, "nofix") {
		for _, d := range r.Diagnostics {
			if len(d.SuggestedFixes) > 0 {
				t.Errorf("%s: unexpected fix %q", r.Pass.Fset.Position(d.Pos), d.SuggestedFixes[0].Message)
			}
		}
	}
}

// TestFixedCodeIsClean applies the fixes (the golden file) and checks that
// the result compiles and mapleak has nothing more to say about it.
func TestFixedCodeIsClean(t *testing.T) {
	golden, err := os.ReadFile(filepath.Join(testdata(), "src", "fixes", "fixes.go.golden"))
	if err != nil {
		t.Fatal(err)
	}
	// The golden file keeps the // want comments of the original; the
	// fixed code must not produce those diagnostics any more.
	want := regexp.MustCompile(`(?m)\s*// want .*$`)
	fixed := want.ReplaceAll(golden, nil)
	dir := t.TempDir()
	pkgDir := filepath.Join(dir, "src", "fixes")
	if err := os.MkdirAll(pkgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pkgDir, "fixes.go"), fixed, 0o644); err != nil {
		t.Fatal(err)
	}
	results := analysistest.Run(t, dir, analyzer.Analyzer, "fixes")
	if len(results) == 0 || results[0].Err != nil {
		t.Fatalf("analysis of the fixed code failed: %v", results)
	}
}

// TestDiagnosticRanges checks that every diagnostic and related position
// covers its syntax (the index expression, call or return statement,
// the directive's comment): End after Pos, on the same line here.
func TestDiagnosticRanges(t *testing.T) {
	pkgs := []string{"errpath", "completer", "neverremoved", "syncmap", "defers", "helpers", "directives"}
	results := analysistest.Run(t, testdata(), analyzer.Analyzer, pkgs...)
	checked := 0
	for _, r := range results {
		check := func(pos, end token.Pos, what string) {
			checked++
			p, e := r.Pass.Fset.Position(pos), r.Pass.Fset.Position(end)
			if !end.IsValid() || end <= pos || p.Filename != e.Filename {
				t.Errorf("%s: %s ends at %s", p, what, e)
			}
		}
		for _, d := range r.Diagnostics {
			check(d.Pos, d.End, d.Message)
			for _, rel := range d.Related {
				check(rel.Pos, rel.End, rel.Message)
			}
		}
	}
	if checked < 40 {
		t.Errorf("only %d positions checked", checked)
	}
}
