package check

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"text/scanner"
)

// TestRepositoryDinoFixture runs golangci-lint with the default scenario over
// the analyzer's own Dino fixture (analyzer/testdata/src/*dino* in the
// repository) and expects exactly the diagnostics its `// want` comments expect of
// analysistest. The GOPATH-style fixture is copied into a throwaway
// workspace: one module per top-level fixture directory it imports.
func TestRepositoryDinoFixture(t *testing.T) {
	src, err := filepath.Abs(filepath.Join("..", "..", "..", "analyzer", "testdata", "src"))
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(src)
	var dinos []string
	for _, e := range entries {
		if e.IsDir() && strings.Contains(strings.ToLower(e.Name()), "dino") {
			dinos = append(dinos, e.Name())
		}
	}
	if len(dinos) == 0 {
		t.Fatalf("no Dino fixture (a directory named *dino*) in %s", src)
	}
	bin := golangciLint(t)
	config, err := filepath.Abs(filepath.Join("testdata", "scenarios", "default.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, dino := range dinos {
		t.Run(dino, func(t *testing.T) {
			work := t.TempDir()
			copyFixtureModules(t, src, work, dino)
			want := readWants(t, filepath.Join(work, dino))
			issues, code, stderr := run(t, bin, filepath.Join(work, dino), config, t.TempDir(), filepath.Join(work, "go.work"))
			if code != 0 && code != 1 {
				t.Fatalf("golangci-lint exited %d:\n%s", code, stderr)
			}
			compare(t, "default over analyzer/testdata/src/"+dino, config, want, issues)
		})
	}
}

// copyFixtureModules copies src/root, and every src/<dir> it imports
// (transitively), into work as modules named after the directories, joined by
// a go.work file.
func copyFixtureModules(t *testing.T, src, work, root string) {
	t.Helper()
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	stdSrc := filepath.Join(strings.TrimSpace(string(goroot)), "src")
	copied := map[string]bool{}
	queue := []string{root}
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		if copied[dir] {
			continue
		}
		copied[dir] = true
		err := filepath.WalkDir(filepath.Join(src, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, path)
			dst := filepath.Join(work, rel)
			if d.IsDir() {
				return os.MkdirAll(dst, 0o755)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if strings.HasSuffix(path, ".go") {
				f, err := parser.ParseFile(token.NewFileSet(), path, data, parser.ImportsOnly)
				if err != nil {
					return err
				}
				for _, imp := range f.Imports {
					p, _ := strconv.Unquote(imp.Path.Value)
					top, _, _ := strings.Cut(p, "/")
					if _, err := os.Stat(filepath.Join(stdSrc, top)); err == nil {
						continue // the standard library
					}
					if st, err := os.Stat(filepath.Join(src, top)); err == nil && st.IsDir() {
						queue = append(queue, top)
					}
				}
			}
			return os.WriteFile(dst, data, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(work, dir, "go.mod")); os.IsNotExist(err) {
			writeFile(t, filepath.Join(work, dir, "go.mod"), fmt.Sprintf("module %s\n\ngo 1.26.0\n", dir))
		}
	}
	var use strings.Builder
	for dir := range copied {
		fmt.Fprintf(&use, "\t./%s\n", dir)
	}
	writeFile(t, filepath.Join(work, "go.work"), "go 1.26.0\n\nuse (\n"+use.String()+")\n")
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readWants returns the diagnostic expectations of the `// want` comments
// below dir, as analysistest reads them (facts, `name:"re"`, are skipped:
// golangci-lint does not print facts).
func readWants(t *testing.T, dir string) []expectation {
	t.Helper()
	var out []expectation
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				text := strings.TrimPrefix(strings.TrimPrefix(c.Text, "//"), "/*")
				text = strings.TrimSpace(strings.TrimSuffix(text, "*/"))
				rest, ok := strings.CutPrefix(text, "want ")
				if !ok {
					continue
				}
				line := fset.Position(c.Pos()).Line
				rxs, offset, err := parseWant(rest)
				if err != nil {
					return fmt.Errorf("%s:%d: %w", rel, line, err)
				}
				for _, rx := range rxs {
					out = append(out, expectation{filepath.ToSlash(rel), line + offset, rx})
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// parseWant parses the text after "want" like analysistest: an optional +N
// line offset, then string literals (diagnostics) and name:"re" pairs (facts).
func parseWant(text string) (rxs []*regexp.Regexp, offset int, err error) {
	var s scanner.Scanner
	s.Init(strings.NewReader(text))
	s.Mode = scanner.ScanIdents | scanner.ScanInts | scanner.ScanStrings | scanner.ScanRawStrings
	s.Error = func(*scanner.Scanner, string) {}
	for tok := s.Scan(); tok != scanner.EOF; tok = s.Scan() {
		switch tok {
		case '+':
			if s.Scan() != scanner.Int {
				return nil, 0, fmt.Errorf("want +N: got %s", s.TokenText())
			}
			offset, _ = strconv.Atoi(s.TokenText())
		case scanner.Ident: // a fact: name:"re"
			if s.Scan() != ':' {
				return nil, 0, fmt.Errorf("want: %s not followed by ':'", s.TokenText())
			}
			s.Scan()
		case scanner.String, scanner.RawString:
			pattern, err := strconv.Unquote(s.TokenText())
			if err != nil {
				return nil, 0, err
			}
			rx, err := regexp.Compile(pattern)
			if err != nil {
				return nil, 0, err
			}
			rxs = append(rxs, rx)
		default:
			return nil, 0, fmt.Errorf("want: unexpected %s", s.TokenText())
		}
	}
	return rxs, offset, nil
}
