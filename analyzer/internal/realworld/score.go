package main

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// Verdict is the outcome of one manifest row.
type Verdict string

// Row verdicts. A row is "found" when at least one mapleak diagnostic lies
// inside its function.
const (
	TP       Verdict = "TP"    // leak row, found
	FN       Verdict = "FN"    // leak row, not found
	FP       Verdict = "FP"    // ok row, found
	TN       Verdict = "TN"    // ok row, not found
	ErrorRow Verdict = "ERROR" // could not be evaluated; excluded from the scores
)

// RowResult is the evaluation of one manifest row.
type RowResult struct {
	Row     Row
	Verdict Verdict
	Err     error // set for error rows

	AbsFile string       // absolute path of the row's file
	Root    string       // module root (GOROOT/src for std), for relative names
	Span    Span         // the function's extent in AbsFile
	Inside  []Diagnostic // diagnostics inside the function
	Outside []Diagnostic // the package's other diagnostics
	Warning string       // non-fatal remark (errors in dependencies, Go version mismatch)
}

// RelName returns file relative to the row's module root with slashes, or
// file unchanged when it lies elsewhere.
func (r RowResult) RelName(file string) string {
	if rel, err := filepath.Rel(r.Root, file); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return file
}

// Found reports whether the row's function holds a diagnostic.
func (r RowResult) Found() bool { return len(r.Inside) > 0 }

// ScoreRow decides the verdict of row: its function spans span in absFile,
// and diags are mapleak's diagnostics on the row's package.
func ScoreRow(row Row, absFile string, span Span, diags []Diagnostic) RowResult {
	res := RowResult{Row: row, AbsFile: absFile, Root: filepath.Dir(absFile), Span: span}
	want := filepath.Clean(absFile)
	for _, d := range diags {
		if filepath.Clean(d.File) == want && span.Contains(d.Pos) {
			res.Inside = append(res.Inside, d)
		} else {
			res.Outside = append(res.Outside, d)
		}
	}
	switch found := res.Found(); {
	case row.Label == LabelLeak && found:
		res.Verdict = TP
	case row.Label == LabelLeak:
		res.Verdict = FN
	case found:
		res.Verdict = FP
	default:
		res.Verdict = TN
	}
	return res
}

// ErrorResult is the result of a row that could not be evaluated.
func ErrorResult(row Row, err error) RowResult {
	return RowResult{Row: row, Verdict: ErrorRow, Err: err}
}

// NearestOutside returns the diagnostic outside the function most useful to
// show next to a row: the one closest to the function in the same file, or
// else the package's first one. ok is false when there is none.
func (r RowResult) NearestOutside() (d Diagnostic, ok bool) {
	best, bestDist := -1, 0
	for i, o := range r.Outside {
		if filepath.Clean(o.File) != filepath.Clean(r.AbsFile) {
			continue
		}
		dist := r.Span.Start.Line - o.Pos.Line
		if o.Pos.Line > r.Span.End.Line {
			dist = o.Pos.Line - r.Span.End.Line
		}
		if best < 0 || dist < bestDist {
			best, bestDist = i, dist
		}
	}
	if best >= 0 {
		return r.Outside[best], true
	}
	if len(r.Outside) > 0 {
		return r.Outside[0], true
	}
	return Diagnostic{}, false
}

// Summary counts the verdicts of an evaluation.
type Summary struct {
	TP, FP, FN, TN, Errors int
}

// Summarize counts the verdicts of results.
func Summarize(results []RowResult) Summary {
	var s Summary
	for _, r := range results {
		s.add(r.Verdict)
	}
	return s
}

// add counts one verdict.
func (s *Summary) add(v Verdict) {
	switch v {
	case TP:
		s.TP++
	case FP:
		s.FP++
	case FN:
		s.FN++
	case TN:
		s.TN++
	case ErrorRow:
		s.Errors++
	}
}

// Scored is the number of rows that count in the scores.
func (s Summary) Scored() int { return s.TP + s.FP + s.FN + s.TN }

// Precision is TP/(TP+FP), the share of flagged rows that are leaks. It is
// undefined (ok false) when no row was flagged: an analyzer that reports
// nothing makes no false claim, but it has not shown any precision either.
func (s Summary) Precision() (p float64, ok bool) {
	return ratio(s.TP, s.TP+s.FP)
}

// Recall is TP/(TP+FN), the share of leak rows that are flagged. It is
// undefined (ok false) when no leak row was scored.
func (s Summary) Recall() (r float64, ok bool) {
	return ratio(s.TP, s.TP+s.FN)
}

func ratio(num, den int) (float64, bool) {
	if den == 0 {
		return 0, false
	}
	return float64(num) / float64(den), true
}

// formatRatio prints a measure as "0.917 (11/12)" or "undefined (0/0)".
func formatRatio(v float64, ok bool, num, den int) string {
	if !ok {
		return fmt.Sprintf("undefined (%d/%d)", num, den)
	}
	return fmt.Sprintf("%.3f (%d/%d)", v, num, den)
}

// PrecisionString formats the precision with its fraction.
func (s Summary) PrecisionString() string {
	p, ok := s.Precision()
	return formatRatio(p, ok, s.TP, s.TP+s.FP)
}

// RecallString formats the recall with its fraction.
func (s Summary) RecallString() string {
	r, ok := s.Recall()
	return formatRatio(r, ok, s.TP, s.TP+s.FN)
}

// Gate holds the pass/fail thresholds of an evaluation run.
type Gate struct {
	MinPrecision float64 // 0 disables the check
	MinRecall    float64 // 0 disables the check
	MaxErrors    int     // error rows tolerated; negative disables the check
}

// Check returns the reasons s fails g, or nil when it passes. An undefined
// measure fails any positive threshold: an analyzer that flags nothing must
// not pass a precision gate by default.
func (g Gate) Check(s Summary) []string {
	var fails []string
	if g.MinPrecision > 0 {
		if p, ok := s.Precision(); !ok || p < g.MinPrecision {
			fails = append(fails, fmt.Sprintf("precision %s is below -min-precision %g", s.PrecisionString(), g.MinPrecision))
		}
	}
	if g.MinRecall > 0 {
		if r, ok := s.Recall(); !ok || r < g.MinRecall {
			fails = append(fails, fmt.Sprintf("recall %s is below -min-recall %g", s.RecallString(), g.MinRecall))
		}
	}
	if g.MaxErrors >= 0 && s.Errors > g.MaxErrors {
		fails = append(fails, fmt.Sprintf("%d error row(s), more than -max-errors %d", s.Errors, g.MaxErrors))
	}
	return fails
}

// GroupSummary counts the verdicts of the rows of one set (manifest) and
// half; Half is empty for a set outside the split.
type GroupSummary struct {
	Set  string
	Half Half
	Summary
}

// Name is "set" or "set/half".
func (g GroupSummary) Name() string {
	if g.Half == "" {
		return g.Set
	}
	return g.Set + "/" + string(g.Half)
}

// GroupSummaries counts the verdicts per set and half: sets in the order
// they first appear, the dev half before the test half.
func GroupSummaries(results []RowResult) []GroupSummary {
	type key struct {
		set  string
		half Half
	}
	var (
		order []key
		sums  = make(map[key]*Summary)
	)
	for _, r := range results {
		k := key{r.Row.Set, r.Row.Half}
		s := sums[k]
		if s == nil {
			s = &Summary{}
			sums[k] = s
			order = append(order, k)
		}
		s.add(r.Verdict)
	}
	setRank := make(map[string]int)
	for _, k := range order {
		if _, ok := setRank[k.set]; !ok {
			setRank[k.set] = len(setRank)
		}
	}
	halfRank := map[Half]int{"": 0, HalfDev: 1, HalfTest: 2}
	slices.SortFunc(order, func(a, b key) int {
		return cmp.Or(cmp.Compare(setRank[a.set], setRank[b.set]), cmp.Compare(halfRank[a.half], halfRank[b.half]))
	})
	out := make([]GroupSummary, len(order))
	for i, k := range order {
		out[i] = GroupSummary{Set: k.set, Half: k.half, Summary: *sums[k]}
	}
	return out
}
