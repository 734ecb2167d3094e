package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// runInfo describes a run for the report header.
type runInfo struct {
	Source   string // manifest or wild list, as given
	Checkout string // repository the analyzer was built from
	Commit   string // its commit, "" without git
	Dirty    bool   // the analyzer has uncommitted changes
	Date     time.Time
	Flags    []string
	Go       string
	Cache    string
	// FetchOnly marks a run that resolved modules without analysing them.
	FetchOnly bool
	// Half is the -half selection.
	Half halfSelection
	// With -wild: test files analysed, the labels file and its size, and
	// the triage sample.
	Tests      bool
	Labels     string
	LabelCount int
	Sample     int
	Seed       uint64
}

// analyzerText names the evaluated analyzer for a terminal.
func (ri runInfo) analyzerText() string {
	s := ri.Checkout
	if ri.Commit != "" {
		s += " at " + ri.Commit
		if ri.Dirty {
			s += " with uncommitted changes"
		}
	}
	return s
}

// analyzerMarkdown names the evaluated analyzer in a document: its commit,
// not a machine's path, when there is one.
func (ri runInfo) analyzerMarkdown() string {
	if ri.Commit == "" {
		return "mapleak built from " + ri.Checkout
	}
	s := "mapleak at commit `" + ri.Commit + "`"
	if ri.Dirty {
		s += " plus uncommitted changes"
	}
	return s
}

func (ri runInfo) flagsString() string {
	if len(ri.Flags) == 0 {
		return "(defaults)"
	}
	return strings.Join(ri.Flags, " ")
}

// oneLine flattens s to one line of at most n runes for tables.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); n > 0 && len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return s
}

// mdCell escapes s for a Markdown table cell.
func mdCell(s string) string {
	s = strings.ReplaceAll(oneLine(s, 0), "|", `\|`)
	return s
}

func diagString(r RowResult, d Diagnostic, withMessage bool) string {
	s := fmt.Sprintf("%s:%d", r.RelName(d.File), d.Pos.Line)
	if d.Pos.Col > 0 {
		s += fmt.Sprintf(":%d", d.Pos.Col)
	}
	if d.Category != "" {
		s += " [" + d.Category + "]"
	}
	if withMessage {
		s += " " + oneLine(d.Message, 140)
	}
	return s
}

func roundDuration(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// WriteText prints the evaluation for a terminal: one block per row, the
// module versions with their timings, the error rows in full, then the
// scores.
func (ev *Evaluation) WriteText(w io.Writer, ri runInfo) {
	fmt.Fprintf(w, "mapleak real-world evaluation of %s (%d rows, %d module versions)\n", ri.Source, len(ev.Rows), len(ev.Jobs))
	if ev.FetchOnly {
		fmt.Fprintf(w, "fetch only (no analysis); %s; cache %s\n\n", ri.Go, ri.Cache)
	} else {
		fmt.Fprintf(w, "mapleak built from %s; flags %s; %s; cache %s\n\n", ri.analyzerText(), ri.flagsString(), ri.Go, ri.Cache)
	}

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tLABEL\tFOUND\tVERDICT\tDETAIL")
	for _, r := range ev.Rows {
		found, detail := "-", []string{}
		switch {
		case r.Verdict == ErrorRow:
			detail = append(detail, oneLine(r.Err.Error(), 160))
		case ev.FetchOnly:
			found = "?"
			detail = append(detail, fmt.Sprintf("%s %s in %s (%s)", r.Row.ModuleVersion(), r.Row.Function, r.Row.File, r.Span))
		default:
			found = "no"
			if r.Found() {
				found = "yes"
			}
			for _, d := range r.Inside {
				detail = append(detail, diagString(r, d, true))
			}
			if o, ok := r.NearestOutside(); ok {
				detail = append(detail, fmt.Sprintf("%d outside the function, nearest %s", len(r.Outside), diagString(r, o, true)))
			} else if !r.Found() {
				detail = append(detail, "no diagnostic in the package")
			}
		}
		if r.Warning != "" {
			detail = append(detail, "warning: "+r.Warning)
		}
		verdict := string(r.Verdict)
		if verdict == "" {
			verdict = "loads"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Row.ID, r.Row.Label, found, verdict, detail[0])
		for _, d := range detail[1:] {
			fmt.Fprintf(tw, "\t\t\t\t%s\n", d)
		}
	}
	_ = tw.Flush() // report output: a failing writer is not worth an error path

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODULE VERSION\tFETCH\tANALYSIS\tSTATUS")
	for _, j := range ev.Jobs {
		fetch := "fetched " + roundDuration(j.FetchTook)
		if j.Cached {
			fetch = "cached"
		}
		status := "ok"
		if j.Err != nil {
			status = "FAILED: " + oneLine(j.Err.Error(), 100)
			if j.FetchTook == 0 && !j.Cached {
				fetch = "-"
			}
		}
		for _, wmsg := range j.Warnings {
			status += "; " + oneLine(wmsg, 100)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", j.ModuleVersion, fetch, roundDuration(j.AnalysisTook), status)
	}
	_ = tw.Flush() // report output: a failing writer is not worth an error path

	var errorRows []RowResult
	for _, r := range ev.Rows {
		if r.Verdict == ErrorRow {
			errorRows = append(errorRows, r)
		}
	}
	if len(errorRows) > 0 {
		fmt.Fprintf(w, "\nerror rows (excluded from the scores):\n")
		for _, r := range errorRows {
			fmt.Fprintf(w, "  %s (%s, line %d): %s\n", r.Row.ID, r.Row.ModuleVersion(), r.Row.Line, strings.ReplaceAll(r.Err.Error(), "\n", "\n      "))
		}
	}

	s := ev.Summary
	fmt.Fprintf(w, "\nrows=%d scored=%d errors=%d TP=%d FP=%d FN=%d TN=%d time=%s\n",
		len(ev.Rows), s.Scored(), s.Errors, s.TP, s.FP, s.FN, s.TN, roundDuration(ev.Took))
	if !ev.FetchOnly {
		fmt.Fprintf(w, "precision=%s recall=%s\n", s.PrecisionString(), s.RecallString())
		if groups := GroupSummaries(ev.Rows); len(groups) > 1 || (len(groups) == 1 && groups[0].Half != "") {
			fmt.Fprintln(w)
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SET/HALF	ROWS	TP	FP	FN	TN	ERRORS	PRECISION	RECALL")
			for _, g := range groups {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", g.Name(), g.Scored()+g.Errors, g.TP, g.FP, g.FN, g.TN, g.Errors, g.PrecisionString(), g.RecallString())
			}
			_ = tw.Flush() // report output: a failing writer is not worth an error path
		}
	}
}

// WriteMarkdown prints the per-row table and the scores in Markdown, the
// form docs/evaluation.md quotes.
func (ev *Evaluation) WriteMarkdown(w io.Writer, ri runInfo) {
	fmt.Fprintf(w, "Evaluation of `%s` on %s: %s, flags `%s`, %s.\n\n", ri.Source, ri.Date.Format(time.DateOnly), ri.analyzerMarkdown(), ri.flagsString(), ri.Go)
	fmt.Fprintln(w, "| id | module@version | function | label | found | verdict | diagnostics in the function (line, category) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range ev.Rows {
		found, cell := "", ""
		switch {
		case r.Verdict == ErrorRow:
			found, cell = "—", "error: "+oneLine(r.Err.Error(), 120)
		case r.Found():
			found = "yes"
			var parts []string
			for _, d := range r.Inside {
				p := fmt.Sprintf("%d", d.Pos.Line)
				if d.Category != "" {
					p += " " + d.Category
				}
				parts = append(parts, p)
			}
			cell = strings.Join(parts, ", ")
		default:
			found = "no"
		}
		fmt.Fprintf(w, "| %s | `%s` | `%s` | %s | %s | %s | %s |\n",
			mdCell(r.Row.ID), mdCell(r.Row.ModuleVersion()), mdCell(r.Row.Function), r.Row.Label, found, r.Verdict, mdCell(cell))
	}
	s := ev.Summary
	fmt.Fprintf(w, "\n**precision %s, recall %s**; TP %d, FP %d, FN %d, TN %d, error rows %d (of %d rows).\n",
		s.PrecisionString(), s.RecallString(), s.TP, s.FP, s.FN, s.TN, s.Errors, len(ev.Rows))
	if groups := GroupSummaries(ev.Rows); len(groups) > 1 || (len(groups) == 1 && groups[0].Half != "") {
		fmt.Fprintln(w, "\n| set/half | rows | TP | FP | FN | TN | errors | precision | recall |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
		for _, g := range groups {
			fmt.Fprintf(w, "| %s | %d | %d | %d | %d | %d | %d | %s | %s |\n", mdCell(g.Name()), g.Scored()+g.Errors, g.TP, g.FP, g.FN, g.TN, g.Errors, g.PrecisionString(), g.RecallString())
		}
	}
}
