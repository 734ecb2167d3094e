package check

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// golangciLint returns the binary under test.
func golangciLint(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("MAPLEAK_GOLANGCI_LINT"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	bin := filepath.Join(t.TempDir(), "golangci-lint-mapleak")
	t.Logf("MAPLEAK_GOLANGCI_LINT is not set: building %s with ../build.sh", bin)
	cmd := exec.Command("../build.sh", bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("../build.sh: %v\n%s", err, out)
	}
	return bin
}

// expectation is one `// expect(...)` comment of the fixture.
type expectation struct {
	file string // slash path relative to the fixture module
	line int
	rx   *regexp.Regexp
}

func (e expectation) String() string { return fmt.Sprintf("%s:%d: /%s/", e.file, e.line, e.rx) }

var (
	expectComment = regexp.MustCompile(`//\s*expect\(([^)]*)\):\s*(.*)$`)
	lineOffset    = regexp.MustCompile(`\{\+(\d+)\}`)
)

// readExpectations returns the expectations of every scenario, by name.
func readExpectations(t *testing.T, fixture string) map[string][]expectation {
	t.Helper()
	byScenario := make(map[string][]expectation)
	err := filepath.WalkDir(fixture, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		rel, err := filepath.Rel(fixture, path)
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for line := 1; sc.Scan(); line++ {
			m := expectComment.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			pattern := lineOffset.ReplaceAllStringFunc(m[2], func(s string) string {
				n, _ := strconv.Atoi(lineOffset.FindStringSubmatch(s)[1])
				return strconv.Itoa(line + n)
			})
			rx, err := regexp.Compile(strings.TrimSpace(pattern))
			if err != nil {
				return fmt.Errorf("%s:%d: bad expect pattern: %w", rel, line, err)
			}
			for name := range strings.SplitSeq(m[1], ",") {
				name = strings.TrimSpace(name)
				byScenario[name] = append(byScenario[name], expectation{filepath.ToSlash(rel), line, rx})
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return byScenario
}

// issue is the part of a golangci-lint JSON issue the check uses.
type issue struct {
	FromLinter string
	Text       string
	Pos        struct {
		Filename string
		Line     int
		Column   int
	}
}

func (i issue) String() string {
	return fmt.Sprintf("%s:%d:%d: %s (%s)", i.Pos.Filename, i.Pos.Line, i.Pos.Column, i.Text, i.FromLinter)
}

// run runs golangci-lint over ./... in dir with config and returns its
// issues, its exit code and its standard error. goWork is the workspace file,
// or "off".
func run(t *testing.T, bin, dir, config, cache, goWork string) ([]issue, int, string) {
	t.Helper()
	args := []string{"run", "--config", config, "--output.json.path", "stdout", "--show-stats=false", "./..."}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOLANGCI_LINT_CACHE="+cache, "GOWORK="+goWork, "GOFLAGS=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exitErr := (*exec.ExitError)(nil); errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %s: %v", bin, strings.Join(args, " "), err)
	}
	if code != 0 && code != 1 {
		return nil, code, stderr.String()
	}
	var report struct{ Issues []issue }
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("golangci-lint output is not its JSON report: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.Bytes(), stderr.Bytes())
	}
	return report.Issues, code, stderr.String()
}

// TestScenarios runs every scenario over the fixture module, sharing one
// golangci-lint cache, so a result cached under other settings would show.
func TestScenarios(t *testing.T) {
	bin := golangciLint(t)
	fixture, err := filepath.Abs(filepath.Join("testdata", "fixture"))
	if err != nil {
		t.Fatal(err)
	}
	expectations := readExpectations(t, fixture)
	configs, err := filepath.Glob(filepath.Join("testdata", "scenarios", "*.yml"))
	if err != nil || len(configs) == 0 {
		t.Fatalf("no scenarios in testdata/scenarios (%v)", err)
	}
	names := make(map[string]bool)
	cache := t.TempDir()
	for _, config := range configs {
		name := strings.TrimSuffix(filepath.Base(config), ".yml")
		names[name] = true
		config, err := filepath.Abs(config)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) {
			issues, code, stderr := run(t, bin, fixture, config, cache, "off")
			if code != 0 && code != 1 {
				t.Fatalf("golangci-lint exited %d:\n%s", code, stderr)
			}
			compare(t, name, config, expectations[name], issues)
		})
	}
	for name := range expectations {
		if !names[name] {
			t.Errorf("the fixture expects issues in scenario %q, which has no testdata/scenarios/%s.yml", name, name)
		}
	}
}

// compare matches issues against expectations one to one, and prints both
// lists so that a reader sees what was expected.
func compare(t *testing.T, name, config string, want []expectation, got []issue) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "scenario %s (%s)\n  expected %d mapleak issue(s):\n", name, filepath.Base(config), len(want))
	for _, e := range want {
		fmt.Fprintf(&b, "    %s\n", e)
	}
	fmt.Fprintf(&b, "  golangci-lint reported %d issue(s):\n", len(got))
	for _, i := range got {
		fmt.Fprintf(&b, "    %s\n", i)
	}

	var problems []string
	remaining := slices.Clone(got)
	for _, e := range want {
		found := slices.IndexFunc(remaining, func(i issue) bool {
			return i.FromLinter == "mapleak" && i.Pos.Filename == e.file && i.Pos.Line == e.line && e.rx.MatchString(i.Text)
		})
		if found < 0 {
			problems = append(problems, "missing: "+e.String())
			continue
		}
		remaining = slices.Delete(remaining, found, found+1)
	}
	for _, i := range remaining {
		problems = append(problems, "unexpected: "+i.String())
	}
	if len(problems) > 0 {
		fmt.Fprintf(&b, "  FAIL:\n    %s\n", strings.Join(problems, "\n    "))
		t.Error(b.String())
		return
	}
	t.Log(b.String())
}

// TestMisspeltSetting checks that golangci-lint refuses a configuration with
// an unknown mapleak setting and names it, instead of ignoring it.
func TestMisspeltSetting(t *testing.T) {
	bin := golangciLint(t)
	fixture, err := filepath.Abs(filepath.Join("testdata", "fixture"))
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join("testdata", "scenarios", "track-all.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, from, to, want string }{
		{"unknown key", "track-all: true", "trak-all: true", `unknown field "trak-all"`},
		{"wrong type", "track-all: true", "track-all: sometimes", "track-all"},
		{"bad pattern", "track-all: true", "keys: '(id'", "missing closing )"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := strings.Replace(string(good), tt.from, tt.to, 1)
			if bad == string(good) {
				t.Fatalf("track-all.yml has no %q to replace", tt.from)
			}
			config := filepath.Join(t.TempDir(), ".golangci.yml")
			if err := os.WriteFile(config, []byte(bad), 0o644); err != nil {
				t.Fatal(err)
			}
			_, code, stderr := run(t, bin, fixture, config, t.TempDir(), "off")
			if code == 0 || code == 1 || !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, "plugin(mapleak)") {
				t.Errorf("with %q: exit %d, stderr %q; want a configuration error from plugin(mapleak) mentioning %q", tt.to, code, stderr, tt.want)
			}
		})
	}
}

// TestDirectivesSilence shows that the fixture's //mapleak:ignore and
// //nolint:mapleak directives are what keeps rpc/ignore.go and rpc/nolint.go
// quiet in TestScenarios: on a copy of the fixture with the directives
// removed, golangci-lint reports each of the three silenced functions.
func TestDirectivesSilence(t *testing.T) {
	bin := golangciLint(t)
	fixture := filepath.Join(t.TempDir(), "fixture")
	if err := os.CopyFS(fixture, os.DirFS(filepath.Join("testdata", "fixture"))); err != nil {
		t.Fatal(err)
	}
	directive := regexp.MustCompile(`(?m)[ \t]*//(mapleak:ignore|nolint:mapleak).*$`)
	for _, name := range []string{"ignore.go", "nolint.go"} {
		path := filepath.Join(fixture, "rpc", name)
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		stripped := directive.ReplaceAll(src, nil)
		if len(stripped) == len(src) {
			t.Fatalf("rpc/%s has no directive to remove", name)
		}
		if err := os.WriteFile(path, stripped, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	config, err := filepath.Abs(filepath.Join("testdata", "scenarios", "default.yml"))
	if err != nil {
		t.Fatal(err)
	}
	issues, code, stderr := run(t, bin, fixture, config, t.TempDir(), "off")
	if code != 0 && code != 1 {
		t.Fatalf("golangci-lint exited %d:\n%s", code, stderr)
	}
	var silenced []string
	for _, i := range issues {
		if i.FromLinter == "mapleak" && (i.Pos.Filename == "rpc/ignore.go" || i.Pos.Filename == "rpc/nolint.go") {
			silenced = append(silenced, i.String())
		}
	}
	want := []string{"rpc/ignore.go:9:", "rpc/ignore.go:25:", "rpc/nolint.go:10:"}
	if len(silenced) != len(want) {
		t.Fatalf("without the directives golangci-lint reported %d issue(s) in rpc/ignore.go and rpc/nolint.go, want %d (%v):\n%s", len(silenced), len(want), want, strings.Join(silenced, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(silenced[i], w) || !strings.Contains(silenced[i], "pending[id] is not deleted") {
			t.Errorf("issue %d = %q, want one at %s about pending[id]", i, silenced[i], w)
		}
	}
	t.Logf("without the directives:\n  %s", strings.Join(silenced, "\n  "))
}
