package main

import (
	"errors"
	"strings"
	"testing"
)

func diag(file string, line, col int, category string) Diagnostic {
	return Diagnostic{File: file, Pos: Pos{line, col}, Category: category, Message: category + " leak"}
}

func TestScoreRow(t *testing.T) {
	const file = "/mod/m@v1.0.0/client.go"
	span := Span{Pos{100, 1}, Pos{140, 2}}
	leak := Row{ID: "l", Label: LabelLeak}
	ok := Row{ID: "o", Label: LabelOK}
	inside := diag(file, 120, 3, "timeout")
	onFirstLine := diag(file, 100, 1, "cancel")
	beforeOnSameLine := diag(file, 99, 80, "cancel")
	after := diag(file, 141, 1, "cancel")
	otherFile := diag("/mod/m@v1.0.0/server.go", 120, 3, "error-path")
	sameNameOtherDir := diag("/mod/m@v1.0.0/sub/client.go", 120, 3, "error-path")

	tests := []struct {
		name    string
		row     Row
		diags   []Diagnostic
		verdict Verdict
		inside  int
	}{
		{"leak found", leak, []Diagnostic{inside}, TP, 1},
		{"leak found on the func line", leak, []Diagnostic{onFirstLine}, TP, 1},
		{"leak missed, nothing reported", leak, nil, FN, 0},
		{"leak missed, diagnostics elsewhere", leak, []Diagnostic{beforeOnSameLine, after, otherFile, sameNameOtherDir}, FN, 0},
		{"ok flagged", ok, []Diagnostic{after, inside}, FP, 1},
		{"ok clean", ok, []Diagnostic{otherFile}, TN, 0},
		{"ok clean, nothing reported", ok, nil, TN, 0},
		{"several inside", leak, []Diagnostic{inside, onFirstLine, otherFile}, TP, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ScoreRow(tt.row, file, span, tt.diags)
			if r.Verdict != tt.verdict || len(r.Inside) != tt.inside || len(r.Inside)+len(r.Outside) != len(tt.diags) {
				t.Errorf("verdict %s with %d inside, %d outside; want %s with %d inside", r.Verdict, len(r.Inside), len(r.Outside), tt.verdict, tt.inside)
			}
		})
	}
}

func TestNearestOutside(t *testing.T) {
	const file = "/m/a.go"
	span := Span{Pos{100, 1}, Pos{140, 2}}
	r := ScoreRow(Row{Label: LabelLeak}, file, span, []Diagnostic{
		diag("/m/b.go", 120, 1, "other-file"),
		diag(file, 10, 1, "far-before"),
		diag(file, 150, 1, "just-after"),
		diag(file, 300, 1, "far-after"),
	})
	if d, ok := r.NearestOutside(); !ok || d.Category != "just-after" {
		t.Errorf("NearestOutside = %+v, %v; want just-after", d, ok)
	}
	r = ScoreRow(Row{Label: LabelLeak}, file, span, []Diagnostic{diag("/m/b.go", 1, 1, "only")})
	if d, ok := r.NearestOutside(); !ok || d.Category != "only" {
		t.Errorf("NearestOutside without same-file diagnostics = %+v, %v; want the first one", d, ok)
	}
	r = ScoreRow(Row{Label: LabelLeak}, file, span, nil)
	if _, ok := r.NearestOutside(); ok {
		t.Error("NearestOutside found something in an empty package")
	}
}

func TestRelName(t *testing.T) {
	r := RowResult{Root: "/mod/m@v1.0.0"}
	if got := r.RelName("/mod/m@v1.0.0/core/client.go"); got != "core/client.go" {
		t.Errorf("RelName inside = %q", got)
	}
	if got := r.RelName("/elsewhere/x.go"); got != "/elsewhere/x.go" {
		t.Errorf("RelName outside = %q", got)
	}
}

func TestSummary(t *testing.T) {
	results := []RowResult{
		{Verdict: TP}, {Verdict: TP}, {Verdict: TP}, {Verdict: FN},
		{Verdict: FP}, {Verdict: TN}, {Verdict: TN},
		ErrorResult(Row{ID: "e"}, errors.New("download failed")),
		{Verdict: ""}, // fetch-only row: neither scored nor an error
	}
	s := Summarize(results)
	if s != (Summary{TP: 3, FP: 1, FN: 1, TN: 2, Errors: 1}) || s.Scored() != 7 {
		t.Fatalf("Summarize = %+v", s)
	}
	if p, ok := s.Precision(); !ok || p != 0.75 {
		t.Errorf("precision = %v, %v", p, ok)
	}
	if r, ok := s.Recall(); !ok || r != 0.75 {
		t.Errorf("recall = %v, %v", r, ok)
	}
	if got := s.PrecisionString() + " " + s.RecallString(); got != "0.750 (3/4) 0.750 (3/4)" {
		t.Errorf("strings = %q", got)
	}

	silent := Summary{FN: 10, TN: 13}
	if _, ok := silent.Precision(); ok {
		t.Error("precision of an analyzer that flags nothing is defined")
	}
	if got := silent.PrecisionString() + " " + silent.RecallString(); got != "undefined (0/0) 0.000 (0/10)" {
		t.Errorf("silent strings = %q", got)
	}
	if _, ok := (Summary{TN: 3, FP: 1}).Recall(); ok {
		t.Error("recall without leak rows is defined")
	}
}

func TestGate(t *testing.T) {
	good := Summary{TP: 9, FP: 1, FN: 1, TN: 12}
	silent := Summary{FN: 10, TN: 13}
	noLeakRows := Summary{TN: 5}
	tests := []struct {
		name string
		gate Gate
		s    Summary
		want []string // substrings, one per failure
	}{
		{"passes", Gate{MinPrecision: 0.9, MinRecall: 0.9}, good, nil},
		{"thresholds off", Gate{MaxErrors: -1}, Summary{FP: 5, FN: 5, Errors: 3}, nil},
		{"precision low", Gate{MinPrecision: 0.95}, good, []string{"precision 0.900 (9/10) is below -min-precision 0.95"}},
		{"recall low", Gate{MinRecall: 0.91}, good, []string{"recall 0.900 (9/10) is below -min-recall 0.91"}},
		{"undefined precision fails a positive gate", Gate{MinPrecision: 0.5}, silent, []string{"precision undefined (0/0)"}},
		{"undefined precision passes a disabled gate", Gate{MinRecall: 0}, silent, nil},
		{"undefined recall fails a positive gate", Gate{MinRecall: 0.1}, noLeakRows, []string{"recall undefined (0/0)"}},
		{"errors over the limit", Gate{MaxErrors: 1}, Summary{TP: 1, Errors: 2}, []string{"2 error row(s), more than -max-errors 1"}},
		{"errors at the limit", Gate{MaxErrors: 2}, Summary{TP: 1, Errors: 2}, nil},
		{"default gate rejects any error row", Gate{}, Summary{TP: 1, Errors: 1}, []string{"1 error row(s)"}},
		{"everything fails", Gate{MinPrecision: 1, MinRecall: 1}, Summary{TP: 1, FP: 1, FN: 1, Errors: 1}, []string{"precision", "recall", "error row"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.gate.Check(tt.s)
			if len(got) != len(tt.want) {
				t.Fatalf("Check = %q, want %d failure(s) %q", got, len(tt.want), tt.want)
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("failure %d = %q, want it to contain %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}
