package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// The integration tests build and run real binaries, so they are opt-in:
//
//	MAPLEAK_REALWORLD=1 go test ./analyzer/internal/realworld -run Integration -v
//
// TestIntegrationOffline needs no network: it serves a small module from a
// file:// proxy and evaluates a stand-in analyzer (also named mapleak) that
// flags every map insert, so each verdict and both modes are exercised
// end to end whatever state the real analyzer is in.
//
// With MAPLEAK_REALWORLD=network, TestIntegrationVisibleSet also resolves
// every module of testdata/realworld/visible.tsv through the Go module
// proxy and locates every row's function (-fetch-only).
func skipUnlessIntegration(t *testing.T, want ...string) {
	t.Helper()
	v := os.Getenv("MAPLEAK_REALWORLD")
	if v == "" {
		t.Skip("set MAPLEAK_REALWORLD=1 to run the integration tests (they build and run go commands)")
	}
	if len(want) > 0 && v != want[0] {
		t.Skipf("set MAPLEAK_REALWORLD=%s to run this test (it downloads modules)", want[0])
	}
}

const leakySrc = `package rpc

// Client has a map of pending calls.
type Client struct {
	pending map[uint64]chan int
	seq     uint64
}

// Call inserts and never deletes: a leak.
func (c *Client) Call() error {
	c.seq++
	c.pending[c.seq] = make(chan int)
	return nil
}

// Done removes an entry: no insert at all.
func (c *Client) Done(id uint64) {
	delete(c.pending, id)
}

// Safe inserts and deletes: the stand-in analyzer flags it anyway.
func (c *Client) Safe() {
	id := c.seq
	c.pending[id] = nil
	delete(c.pending, id)
}
`

// standInAnalyzer is a cmd/mapleak that reports every map insert.
const standInAnalyzer = `package main

import (
	"go/ast"
	"go/types"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/singlechecker"
)

var analyzer = &analysis.Analyzer{
	Name: "mapleak",
	Doc:  "stand-in: reports every map insert",
	Run: func(pass *analysis.Pass) (any, error) {
		for _, f := range pass.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				as, ok := n.(*ast.AssignStmt)
				if !ok {
					return true
				}
				for _, lhs := range as.Lhs {
					if ix, ok := lhs.(*ast.IndexExpr); ok {
						if _, isMap := pass.TypesInfo.TypeOf(ix.X).Underlying().(*types.Map); isMap {
							pass.Report(analysis.Diagnostic{Pos: as.Pos(), Category: "insert", Message: "map insert | here"})
						}
					}
				}
				return true
			})
		}
		return nil, nil
	},
}

func main() { singlechecker.Main(analyzer) }
`

// writeProxyModule adds mod@ver with files to a file:// module proxy at dir.
func writeProxyModule(t *testing.T, proxy, mod, ver string, files map[string]string) {
	t.Helper()
	src := t.TempDir()
	for name, content := range files {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ep, err := module.EscapePath(mod)
	if err != nil {
		t.Fatal(err)
	}
	vdir := filepath.Join(proxy, filepath.FromSlash(ep), "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		t.Fatal(err)
	}
	var zbuf bytes.Buffer
	if err := modzip.CreateFromDir(&zbuf, module.Version{Path: mod, Version: ver}, src); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"list":        []byte(ver + "\n"),
		ver + ".info": []byte(`{"Version":"` + ver + `","Time":"2024-01-02T03:04:05Z"}`),
		ver + ".mod":  []byte(files["go.mod"]),
		ver + ".zip":  zbuf.Bytes(),
	} {
		if err := os.WriteFile(filepath.Join(vdir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestIntegrationOffline(t *testing.T) {
	skipUnlessIntegration(t)
	ctx := context.Background()

	realModCache, err := exec.CommandContext(ctx, "go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	proxy := t.TempDir()
	writeProxyModule(t, proxy, "example.com/leaky", "v1.0.0", map[string]string{
		"go.mod":             "module example.com/leaky\n\ngo 1.22\n",
		"rpc/client.go":      leakySrc,
		"rpc/client_test.go": "package rpc\n\nimport \"testing\"\n\nfunc TestInsert(t *testing.T) {\n\tm := map[int]int{}\n\tm[1] = 1\n}\n",
		// A package that does not type-check: its row is an error row, the
		// other rows analysed in the same mapleak run are unaffected.
		"broken/b.go": "package broken\n\nfunc F() { var x int = \"s\"; _ = x }\n",
	})
	// A private module cache, fed by the fake proxy and, for x/tools, by the
	// download cache of the real one: nothing touches the network.
	modCache := t.TempDir()
	t.Cleanup(func() {
		cmd := exec.Command("go", "clean", "-modcache")
		cmd.Env = withEnv(os.Environ(), "GOMODCACHE="+modCache)
		_ = cmd.Run()
	})
	t.Setenv("GOMODCACHE", modCache)
	t.Setenv("GOPROXY", "file://"+filepath.ToSlash(proxy)+",file://"+filepath.ToSlash(filepath.Join(strings.TrimSpace(string(realModCache)), "cache", "download")))
	t.Setenv("GOSUMDB", "off")
	t.Setenv("GOFLAGS", "-mod=mod")

	checkout := t.TempDir()
	goSum, err := os.ReadFile(filepath.Join("..", "..", "..", "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"go.mod":              "module fake\n\ngo 1.26.0\n\nrequire golang.org/x/tools v0.52.0\n",
		"go.sum":              string(goSum),
		"cmd/mapleak/main.go": standInAnalyzer,
	} {
		p := filepath.Join(checkout, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	manifest := filepath.Join(t.TempDir(), "m.tsv")
	rows := header +
		row("call", "example.com/leaky", "v1.0.0", "example.com/leaky/rpc", "rpc/client.go", "Client.Call", "c.pending", "c.seq", "leak", "error-path", "", "12") +
		row("done", "example.com/leaky", "v1.0.0", "example.com/leaky/rpc", "rpc/client.go", "Client.Done", "c.pending", "id", "ok", "", "", "") +
		row("safe", "example.com/leaky", "v1.0.0", "example.com/leaky/rpc", "rpc/client.go", "Client.Safe", "c.pending", "id", "ok", "defer", "", "") +
		row("gone", "example.com/leaky", "v1.0.0", "example.com/leaky/rpc", "rpc/client.go", "Client.Gone", "", "", "leak", "", "", "") +
		row("broken", "example.com/leaky", "v1.0.0", "example.com/leaky/broken", "broken/b.go", "F", "", "", "ok", "", "", "") +
		row("nomod", "example.com/absent", "v1.0.0", "example.com/absent", "a.go", "F", "", "", "leak", "", "", "")
	if err := os.WriteFile(manifest, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	evaluate := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"-repo", checkout, "-cache", cache, "-manifest", manifest}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}

	code, out, stderr := evaluate("-min-precision", "0.9")
	t.Logf("output:\n%s\nstderr:\n%s", out, stderr)
	if code != exitGate {
		t.Errorf("exit %d, want %d (precision 0.5 < 0.9 and 3 error rows)", code, exitGate)
	}
	for _, re := range []string{
		`(?m)^call\s+leak\s+yes\s+TP\s+rpc/client.go:12:2 \[insert\] map insert \| here$`,
		`(?m)^done\s+ok\s+no\s+TN\s+2 outside the function, nearest rpc/client.go:12:2 \[insert\]`,
		`(?m)^safe\s+ok\s+yes\s+FP\s+rpc/client.go:24:2 \[insert\]`,
		`(?m)^gone\s+leak\s+-\s+ERROR\s+function Client.Gone not found in `,
		`(?m)^nomod\s+leak\s+-\s+ERROR\s+fetch example.com/absent@v1.0.0: `,
		`(?m)^example.com/leaky@v1.0.0\s+fetched \S+\s+\S+\s+ok$`,
		`(?m)^broken\s+ok\s+-\s+ERROR\s+mapleak on example.com/leaky/broken: mapleak: analysis skipped due to errors in package`,
		`(?m)^rows=6 scored=3 errors=3 TP=1 FP=1 FN=0 TN=1 `,
		`(?m)^precision=0.500 \(1/2\) recall=1.000 \(1/1\)$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output does not match %s", re)
		}
	}
	for _, want := range []string{"FAIL: precision 0.500 (1/2) is below -min-precision 0.9", "FAIL: 3 error row(s), more than -max-errors 0"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}

	// Second run: the scratch module is reused, the gates pass.
	code, out, stderr = evaluate("-max-errors", "2", "-min-recall", "1", "-markdown", "-only", "call|done|safe|gone|nomod")
	if !strings.Contains(out, "`example.com/leaky@v1.0.0` | `Client.Call`") {
		t.Fatalf("second run lost its rows:\n%s", out)
	}
	if code != exitOK {
		t.Errorf("second run: exit %d, want 0; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		"| call | `example.com/leaky@v1.0.0` | `Client.Call` | leak | yes | TP | 12 insert |",
		"| done | `example.com/leaky@v1.0.0` | `Client.Done` | ok | no | TN |  |",
		"| safe | `example.com/leaky@v1.0.0` | `Client.Safe` | ok | yes | FP | 24 insert |",
		"| gone | `example.com/leaky@v1.0.0` | `Client.Gone` | leak | — | ERROR | error: function Client.Gone not found",
		"**precision 0.500 (1/2), recall 1.000 (1/1)**; TP 1, FP 1, FN 0, TN 1, error rows 2 (of 5 rows).",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q\n%s", want, out)
		}
	}

	// Findings in the wild over the same module: a split, then a run with
	// tests (the test variant repeats the package's two findings, which
	// count once, and the test file adds one) scored against two labels.
	list := filepath.Join(t.TempDir(), "wild.txt")
	if err := os.WriteFile(list, []byte("example.com/leaky@v1.0.0 repo=example.com/leaky example.com/leaky/...\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	splitFile := filepath.Join(t.TempDir(), "split.tsv")
	var sout, serr bytes.Buffer
	if code := run([]string{"-repo", checkout, "-manifest", manifest, "-list", list, "-split", splitFile, "-extend-split"}, &sout, &serr); code != exitOK {
		t.Fatalf("extend-split: exit %d; stderr:\n%s", code, serr.String())
	}
	if !strings.Contains(sout.String(), "1 repositories added (seed 1), 1 in all") {
		t.Errorf("extend-split output:\n%s", sout.String())
	}
	labels := filepath.Join(t.TempDir(), "labels.tsv")
	if err := os.WriteFile(labels, []byte("target\tfile\tline\tcategory\tfunction\tlabel\treason\n"+
		"example.com/leaky@v1.0.0\trpc/client.go\t12\tinsert\tClient.Call\ttrue\tno release at all\n"+
		"example.com/leaky@v1.0.0\trpc/client.go\t30\tinsert\tClient.Gone\tfalse\tfixed since\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wild := func(args ...string) string {
		var wout, werr bytes.Buffer
		code := run(append([]string{"-repo", checkout, "-cache", cache, "-wild", "-list", list, "-split", splitFile, "-labels", labels}, args...), &wout, &werr)
		if code != exitOK {
			t.Fatalf("wild %q: exit %d; stderr:\n%s", args, code, werr.String())
		}
		return wout.String()
	}
	half := "dev"
	if strings.Contains(sout.String(), "\ttest\t") {
		half = "test"
	}
	untriaged := filepath.Join(t.TempDir(), "untriaged.tsv")
	out = wild("-markdown", "-untriaged-tsv", untriaged)
	for _, want := range []string{
		"| `example.com/leaky@v1.0.0` | " + half + " | 3 | 3 | 1 | 0 | 0 | 2 | 1 | 100.0% (1/1) |",
		"| 1 | `rpc/client.go:24` | `Client.Safe` | insert | map insert \\| here |  |  |",
		"| 2 | `rpc/client_test.go:7` | `TestInsert` | insert | map insert \\| here |  |  |",
		"- `rpc/client.go:30` insert `Client.Gone`: was false (fixed since)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("wild markdown lacks %q\n%s", want, out)
		}
	}
	if tsv, err := os.ReadFile(untriaged); err != nil || !strings.Contains(string(tsv), "example.com/leaky@v1.0.0\trpc/client.go\t24\tinsert\tClient.Safe\t\t") {
		t.Errorf("untriaged TSV (%v):\n%s", err, tsv)
	}
	// Production files only, the other half selected, a sample of 1.
	if out = wild("-test=false", "-sample", "1"); !regexp.MustCompile(`(?m)^== example.com/leaky@v1.0.0 \[` + half + `\] example.com/leaky/...: 2 findings, sample of 1 to triage: true 1, debatable 0, false 0, untriaged [01], gone 1;`).MatchString(out) {
		t.Errorf("wild -test=false output:\n%s", out)
	}
	// A split manifest scored together with the unsplit one: per set and
	// half, and -half of the other side keeps only the unsplit rows.
	corpus := filepath.Join(t.TempDir(), "corpus.tsv")
	if err := os.WriteFile(corpus, []byte(corpusHeader+
		row("c-call", "example.com/leaky", "v1.0.0", "example.com/leaky/rpc", "rpc/client.go", "Client.Call", "leak", "example.com/leaky", "c-safe")+
		row("c-safe", "example.com/leaky", "v1.0.0", "example.com/leaky/rpc", "rpc/client.go", "Client.Safe", "ok", "example.com/leaky", "c-call")), 0o644); err != nil {
		t.Fatal(err)
	}
	other := map[string]string{"dev": "test", "test": "dev"}[half]
	for _, tc := range []struct{ half, want, absent string }{
		{half, "| corpus/" + half + " | 2 | 1 | 1 | 0 | 0 | 0 | 0.500 (1/2) | 1.000 (1/1) |", ""},
		{other, "TP 1, FP 0, FN 0, TN 1, error rows 0 (of 2 rows).", "c-call"},
	} {
		var cout, cerr bytes.Buffer
		code := run([]string{"-repo", checkout, "-cache", cache, "-manifest", manifest + "," + corpus, "-split", splitFile, "-half", tc.half, "-only", "^(call|done|c-.*)$", "-markdown"}, &cout, &cerr)
		if code != exitOK || !strings.Contains(cout.String(), tc.want) || (tc.absent != "" && strings.Contains(cout.String(), tc.absent)) {
			t.Errorf("-half %s: exit %d, want %q without %q:\n%s\n%s", tc.half, code, tc.want, tc.absent, cout.String(), cerr.String())
		}
	}

	var oout, oerr bytes.Buffer
	if code := run([]string{"-repo", checkout, "-cache", cache, "-wild", "-list", list, "-split", splitFile, "-labels", labels, "-half", other}, &oout, &oerr); code != exitUsage ||
		!strings.Contains(oerr.String(), "no target of") {
		t.Errorf("-half %s: exit %d, stderr %s", other, code, oerr.String())
	}
}

func TestIntegrationVisibleSet(t *testing.T) {
	skipUnlessIntegration(t, "network")
	var out, errb bytes.Buffer
	code := run([]string{"-fetch-only"}, &out, &errb)
	t.Logf("%s\n%s", out.String(), errb.String())
	if code != exitOK {
		t.Errorf("exit %d: some row of visible.tsv does not load", code)
	}
}
