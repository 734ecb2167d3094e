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

func TestWriteWildMarkdown(t *testing.T) {
	reports := []WildReport{{
		Target: WildTarget{Module: "golang.org/x/net", Version: "v0.62.0", Patterns: []string{"golang.org/x/net/..."}},
		Job:    JobReport{ModuleVersion: "golang.org/x/net@v0.62.0", Patterns: []string{"golang.org/x/net/..."}},
		Findings: []Finding{
			{File: "http2/transport.go", Pos: Pos{100, 2}, Function: "ClientConn.roundTrip", Category: "cancel", Message: "a | b"},
			{File: "a.go", Pos: Pos{1, 1}, Message: "pkg"},
		},
		Sampled:  true,
		Problems: []string{"golang.org/x/net/x: broken"},
	}, {
		Job: JobReport{ModuleVersion: "example.com/gone@v1.0.0", Patterns: []string{"example.com/gone"}, Err: errors.New("fetch failed")},
	}}
	reports[0].Shown = reports[0].Findings
	_, ri := sampleEvaluation()
	var sb strings.Builder
	WriteWildMarkdown(&sb, ri, reports, 7)
	out := sb.String()
	for _, want := range []string{
		"### golang.org/x/net@v0.62.0\n\nPatterns `golang.org/x/net/...`: 2 findings, random sample of 2 (seed 7); 1 package(s) did not load or analyse.",
		"| 1 | `http2/transport.go:100` | `ClientConn.roundTrip` | cancel | a \\| b |  |  |\n",
		"| 2 | `a.go:1` | (package level) |  | pkg |  |  |\n",
		"### example.com/gone@v1.0.0\n\nPatterns `example.com/gone`: failed: fetch failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("wild markdown lacks %q\n%s", want, out)
		}
	}
}
