package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func sampleEvaluation() (*Evaluation, runInfo) {
	const root = "/mod/m@v1.0.0"
	span := Span{Pos{10, 1}, Pos{30, 2}}
	leak := Row{ID: "m-01", Module: "example.com/m", Version: "v1.0.0", Function: "Client.Call", Label: LabelLeak, File: "client.go"}
	ok := Row{ID: "m-02", Module: "example.com/m", Version: "v1.0.0", Function: "Client.send", Label: LabelOK, File: "client.go"}
	bad := Row{ID: "m-03", Module: "example.com/gone", Version: "v0.1.0", Function: "F", Label: LabelLeak, Line: 4}
	rows := []RowResult{
		ScoreRow(leak, root+"/client.go", span, []Diagnostic{
			{File: root + "/client.go", Pos: Pos{12, 3}, Category: "timeout", Message: "entry c.pending[id] | left\nbehind"},
			{File: root + "/client.go", Pos: Pos{40, 1}, Category: "cancel", Message: "elsewhere"},
		}),
		ScoreRow(ok, root+"/client.go", span, nil),
		ErrorResult(bad, errors.New("fetch example.com/gone@v0.1.0: not found")),
	}
	ev := &Evaluation{Rows: rows, Summary: Summarize(rows), Took: 1500 * time.Millisecond,
		Jobs: []JobReport{{ModuleVersion: "example.com/m@v1.0.0", Cached: true, AnalysisTook: time.Second}, {ModuleVersion: "example.com/gone@v0.1.0", Err: errors.New("fetch failed")}}}
	ri := runInfo{Source: "testdata/realworld/visible.tsv", Checkout: "/work/main", Commit: "abc1234", Dirty: true,
		Date: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), Flags: []string{"-track-all"}, Go: "go1.26.8", Cache: "/cache"}
	return ev, ri
}

func TestWriteMarkdown(t *testing.T) {
	ev, ri := sampleEvaluation()
	var sb strings.Builder
	ev.WriteMarkdown(&sb, ri)
	out := sb.String()
	for _, want := range []string{
		"Evaluation of `testdata/realworld/visible.tsv` on 2026-11-27: mapleak at commit `abc1234` plus uncommitted changes, flags `-track-all`, go1.26.8.",
		"| m-01 | `example.com/m@v1.0.0` | `Client.Call` | leak | yes | TP | 12 timeout |\n",
		"| m-02 | `example.com/m@v1.0.0` | `Client.send` | ok | no | TN |  |\n",
		"| m-03 | `example.com/gone@v0.1.0` | `F` | leak | — | ERROR | error: fetch example.com/gone@v0.1.0: not found |\n",
		"**precision 1.000 (1/1), recall 1.000 (1/1)**; TP 1, FP 0, FN 0, TN 1, error rows 1 (of 3 rows).",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q\n%s", want, out)
		}
	}
	// Every table line has the same number of cells.
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "|") && strings.Count(strings.ReplaceAll(line, `\|`, ""), "|") != 8 {
			t.Errorf("table line with a wrong cell count: %q", line)
		}
	}
}

func TestWriteText(t *testing.T) {
	ev, ri := sampleEvaluation()
	var sb strings.Builder
	ev.WriteText(&sb, ri)
	out := sb.String()
	for _, want := range []string{
		"mapleak built from /work/main at abc1234 with uncommitted changes; flags -track-all; go1.26.8; cache /cache",
		"m-01  leak   yes    TP       client.go:12:3 [timeout] entry c.pending[id] | left behind\n",
		"1 outside the function, nearest client.go:40:1 [cancel] elsewhere",
		"m-02  ok     no     TN       no diagnostic in the package",
		"m-03  leak   -      ERROR    fetch example.com/gone@v0.1.0: not found",
		"example.com/gone@v0.1.0  -       -         FAILED: fetch failed",
		"  m-03 (example.com/gone@v0.1.0, line 4): fetch example.com/gone@v0.1.0: not found",
		"rows=3 scored=2 errors=1 TP=1 FP=0 FN=0 TN=1 time=1.5s\nprecision=1.000 (1/1) recall=1.000 (1/1)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q\n%s", want, out)
		}
	}
}

func sampleWildReports() ([]WildReport, runInfo) {
	const tg = "golang.org/x/net@v0.62.0"
	findings := []Finding{
		{File: "http2/transport.go", Pos: Pos{100, 2}, Function: "ClientConn.roundTrip", Category: "cancel", Message: "a | b"},
		{File: "a.go", Pos: Pos{1, 1}, Message: "pkg"},
		{File: "b.go", Pos: Pos{7, 1}, Function: "F", Category: "timeout", Message: "labelled"},
	}
	labels := []WildLabel{
		{Key: FindingKey{tg, "b.go", 7, "timeout"}, Function: "F", Label: TriageDebatable, Reason: "broken conn"},
		{Key: FindingKey{tg, "old.go", 3, "timeout"}, Function: "G", Label: TriageFalse, Reason: "timer release"},
	}
	reports := []WildReport{{
		Target:   WildTarget{Module: "golang.org/x/net", Version: "v0.62.0", Patterns: []string{"golang.org/x/net/..."}, Half: HalfTest},
		Job:      JobReport{ModuleVersion: tg, Patterns: []string{"golang.org/x/net/..."}, Cached: true, AnalysisTook: 2 * time.Second},
		Findings: findings,
		Triage:   TriageTarget(tg, findings, labels, 0, 1),
		Problems: []string{"golang.org/x/net/x: broken"},
	}, {
		Target: WildTarget{Half: HalfDev},
		Job:    JobReport{ModuleVersion: "example.com/gone@v1.0.0", Patterns: []string{"example.com/gone"}, Err: errors.New("fetch failed")},
	}}
	_, ri := sampleEvaluation()
	ri.Source, ri.Half, ri.Tests, ri.Labels, ri.LabelCount, ri.Sample, ri.Seed = "testdata/realworld/wild.txt", selectAll, true, "testdata/realworld/wild-labels.tsv", 2, 40, 1
	return reports, ri
}

func TestWriteWildMarkdown(t *testing.T) {
	reports, ri := sampleWildReports()
	var sb strings.Builder
	WriteWildMarkdown(&sb, ri, reports)
	out := sb.String()
	for _, want := range []string{
		"Findings in the wild on 2026-11-27: mapleak at commit `abc1234` plus uncommitted changes, flags `-track-all`, go1.26.8; half all, test files included, triage sample 40 per target (seed 1); labels `testdata/realworld/wild-labels.tsv`.",
		"| target | half | findings | triage set | true | debatable | false | untriaged | gone | true or debatable |\n|---|---|---|---|---|---|---|---|---|---|\n",
		"| `golang.org/x/net@v0.62.0` | test | 3 | 3 | 0 | 1 | 0 | 2 | 1 | 100.0% (1/1) |\n",
		"| `example.com/gone@v1.0.0` | dev | failed: fetch failed | | | | | | | |\n",
		"| **dev** (0 targets) | | **0** | **0** | **0** | **0** | **0** | **0** | **0** | **undefined (0/0)** |\n",
		"| **test** (1 targets) | | **3** | **3** | **0** | **1** | **0** | **2** | **1** | **100.0% (1/1)** |\n",
		"### golang.org/x/net@v0.62.0\n\nUntriaged findings (2):",
		"| 1 | `a.go:1` | (package level) |  | pkg |  |  |\n",
		"| 2 | `http2/transport.go:100` | `ClientConn.roundTrip` | cancel | a \\| b |  |  |\n",
		"Labelled findings no longer reported (1):\n\n- `old.go:3` timeout `G`: was false (timer release)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("wild markdown lacks %q\n%s", want, out)
		}
	}
	if strings.Contains(out, "b.go:7") && !strings.Contains(out, "old.go") {
		t.Error("a labelled finding is listed as untriaged")
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "| ") && strings.Contains(line, "|---|---|---|---|---|---|---|---|---|---|") {
			continue
		}
		if strings.HasPrefix(line, "| `") || strings.HasPrefix(line, "| **") {
			if n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|"); n != 11 {
				t.Errorf("score line with %d bars: %q", n, line)
			}
		}
	}
}

func TestWriteWildText(t *testing.T) {
	reports, ri := sampleWildReports()
	var sb strings.Builder
	WriteWildText(&sb, ri, reports, 3*time.Second)
	out := sb.String()
	for _, want := range []string{
		"mapleak findings in the wild for testdata/realworld/wild.txt (2 targets; half all, test files included, triage sample 40 per target (seed 1))",
		"labels testdata/realworld/wild-labels.tsv (2)",
		"== golang.org/x/net@v0.62.0 [test] golang.org/x/net/...: 3 findings: true 0, debatable 1, false 0, untriaged 2, gone 1; true or debatable 100.0% (1/1) (cached, analysis 2s)",
		"  http2/transport.go:100  ClientConn.roundTrip  cancel    a | b",
		"gone (labelled, no longer reported):\n  old.go:3 [timeout] false G\n",
		"== example.com/gone@v1.0.0 [dev] example.com/gone: FAILED\nfetch failed",
		"example.com/gone@v1.0.0   dev   FAILED    -           -     -          -      -          -     -\n",
		"total (1 targets)         test  3         3           0     1          0      2          1     100.0% (1/1)\n",
		"time=3s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("wild text lacks %q\n%s", want, out)
		}
	}
}

func TestWriteUntriagedTSV(t *testing.T) {
	reports, _ := sampleWildReports()
	var sb strings.Builder
	if err := WriteUntriagedTSV(&sb, reports); err != nil {
		t.Fatal(err)
	}
	want := "golang.org/x/net@v0.62.0\ta.go\t1\t\t\t\tpkg\n" +
		"golang.org/x/net@v0.62.0\thttp2/transport.go\t100\tcancel\tClientConn.roundTrip\t\ta | b\n"
	if sb.String() != want {
		t.Errorf("got\n%q\nwant\n%q", sb.String(), want)
	}
}

func TestGroupTables(t *testing.T) {
	ev, ri := sampleEvaluation()
	for i := range ev.Rows {
		ev.Rows[i].Row.Set = "corpus"
		ev.Rows[i].Row.Half = HalfTest
	}
	ev.Rows[0].Row.Set, ev.Rows[0].Row.Half = "visible", ""
	var md, text strings.Builder
	ev.WriteMarkdown(&md, ri)
	ev.WriteText(&text, ri)
	for _, want := range []string{
		"| set/half | rows | TP | FP | FN | TN | errors | precision | recall |",
		"| visible | 1 | 1 | 0 | 0 | 0 | 0 | 1.000 (1/1) | 1.000 (1/1) |",
		"| corpus/test | 2 | 0 | 0 | 0 | 1 | 1 | undefined (0/0) | undefined (0/0) |",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q\n%s", want, md.String())
		}
	}
	if !strings.Contains(text.String(), "corpus/test  2     0   0   0   1   1       undefined (0/0)") {
		t.Errorf("text lacks the group table\n%s", text.String())
	}
}
