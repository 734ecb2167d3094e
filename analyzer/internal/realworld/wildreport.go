package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// wildScope describes what a wild run covered, for report headers.
func (ri runInfo) wildScope() string {
	tests := "production files only (-test=false)"
	if ri.Tests {
		tests = "test files included"
	}
	sample := "every finding to triage"
	if ri.Sample > 0 {
		sample = fmt.Sprintf("triage sample %d per target (seed %d)", ri.Sample, ri.Seed)
	}
	return fmt.Sprintf("half %s, %s, %s", ri.Half, tests, sample)
}

// targetHalf is the half column of a target.
func targetHalf(t WildTarget) string {
	if t.Half == "" {
		return "-"
	}
	return string(t.Half)
}

// scoreCells are the count columns of a score, in table order.
func scoreCells(s WildScore) []string {
	return []string{
		fmt.Sprint(s.Findings), fmt.Sprint(s.TriageSet), fmt.Sprint(s.True), fmt.Sprint(s.Debatable),
		fmt.Sprint(s.False), fmt.Sprint(s.Untriaged), fmt.Sprint(s.Gone), s.ShareString(),
	}
}

var scoreHeader = []string{"findings", "triage set", "true", "debatable", "false", "untriaged", "gone", "true or debatable"}

// WriteWildText prints a findings-in-the-wild run for a terminal: per
// target its counts, its untriaged findings, the labels whose finding is
// gone and its load problems; then the scores per target, per half and
// overall.
func WriteWildText(w io.Writer, ri runInfo, reports []WildReport, took time.Duration) {
	fmt.Fprintf(w, "mapleak findings in the wild for %s (%d targets; %s)\n", ri.Source, len(reports), ri.wildScope())
	if ri.FetchOnly {
		fmt.Fprintf(w, "fetch only (no analysis); %s; cache %s\n", ri.Go, ri.Cache)
	} else {
		fmt.Fprintf(w, "mapleak built from %s; flags %s; %s; cache %s\nlabels %s (%d)\n", ri.analyzerText(), ri.flagsString(), ri.Go, ri.Cache, ri.Labels, ri.LabelCount)
	}
	for _, rep := range reports {
		j := rep.Job
		fmt.Fprintf(w, "\n== %s [%s] %s: ", j.ModuleVersion, targetHalf(rep.Target), strings.Join(j.Patterns, " "))
		if j.Err != nil {
			fmt.Fprintf(w, "FAILED\n%s\n", j.Err)
			continue
		}
		fetch := "fetch " + roundDuration(j.FetchTook)
		if j.Cached {
			fetch = "cached"
		}
		if ri.FetchOnly {
			fmt.Fprintf(w, "resolved (%s)\n", fetch)
		} else {
			s := rep.Triage.Score
			fmt.Fprintf(w, "%d findings", s.Findings)
			if rep.Triage.Sampled {
				fmt.Fprintf(w, ", sample of %d to triage", s.TriageSet)
			}
			fmt.Fprintf(w, ": true %d, debatable %d, false %d, untriaged %d, gone %d; true or debatable %s (%s, analysis %s)\n",
				s.True, s.Debatable, s.False, s.Untriaged, s.Gone, s.ShareString(), fetch, roundDuration(j.AnalysisTook))
		}
		for _, wmsg := range j.Warnings {
			fmt.Fprintf(w, "warning: %s\n", wmsg)
		}
		if len(rep.Triage.Untriaged) > 0 {
			fmt.Fprintln(w, "untriaged:")
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "  LOCATION\tFUNCTION\tCATEGORY\tMESSAGE")
			for _, f := range rep.Triage.Untriaged {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", f.Location(), f.Function, f.Category, oneLine(f.Message, 160))
			}
			_ = tw.Flush() // report output: a failing writer is not worth an error path
		}
		if len(rep.Triage.Gone) > 0 {
			fmt.Fprintln(w, "gone (labelled, no longer reported):")
			for _, l := range rep.Triage.Gone {
				fmt.Fprintf(w, "  %s:%d [%s] %s %s\n", l.Key.File, l.Key.Line, l.Key.Category, l.Label, l.Function)
			}
		}
		if len(rep.Problems) > 0 {
			fmt.Fprintf(w, "%d load/analysis problem(s):\n", len(rep.Problems))
			for _, p := range rep.Problems {
				fmt.Fprintf(w, "  %s\n", oneLine(p, 200))
			}
		}
	}
	if ri.FetchOnly {
		fmt.Fprintf(w, "\ntime=%s\n", roundDuration(took))
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "TARGET\tHALF\t%s\n", strings.ToUpper(strings.Join(scoreHeader, "\t")))
	for _, rep := range reports {
		if rep.Job.Err != nil {
			fmt.Fprintf(tw, "%s\t%s\tFAILED%s\n", rep.Job.ModuleVersion, targetHalf(rep.Target), strings.Repeat("\t-", len(scoreHeader)-1))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", rep.Job.ModuleVersion, targetHalf(rep.Target), strings.Join(scoreCells(rep.Triage.Score), "\t"))
	}
	dev, test, all := HalfScores(reports)
	for _, h := range []struct {
		name string
		s    WildScore
	}{{"dev", dev}, {"test", test}, {"all", all}} {
		fmt.Fprintf(tw, "total (%d targets)\t%s\t%s\n", h.s.Targets, h.name, strings.Join(scoreCells(h.s), "\t"))
	}
	_ = tw.Flush() // report output: a failing writer is not worth an error path
	fmt.Fprintf(w, "\ntime=%s\n", roundDuration(took))
}

// WriteWildMarkdown prints a findings-in-the-wild run as Markdown: the
// score table (per target, per half, overall), then for each target with
// untriaged findings a triage table with empty triage and reasoning
// columns, and the labels whose finding is gone.
func WriteWildMarkdown(w io.Writer, ri runInfo, reports []WildReport) {
	fmt.Fprintf(w, "Findings in the wild on %s: %s, flags `%s`, %s; %s; labels `%s`.\n\n",
		ri.Date.Format(time.DateOnly), ri.analyzerMarkdown(), ri.flagsString(), ri.Go, ri.wildScope(), ri.Labels)
	fmt.Fprintf(w, "| target | half | %s |\n", strings.Join(scoreHeader, " | "))
	fmt.Fprintln(w, "|---|---|"+strings.Repeat("---|", len(scoreHeader)))
	for _, rep := range reports {
		if rep.Job.Err != nil {
			fmt.Fprintf(w, "| `%s` | %s | failed: %s |%s\n", mdCell(rep.Job.ModuleVersion), targetHalf(rep.Target),
				mdCell(oneLine(rep.Job.Err.Error(), 120)), strings.Repeat(" |", len(scoreHeader)-1))
			continue
		}
		fmt.Fprintf(w, "| `%s` | %s | %s |\n", mdCell(rep.Job.ModuleVersion), targetHalf(rep.Target), strings.Join(scoreCells(rep.Triage.Score), " | "))
	}
	dev, test, all := HalfScores(reports)
	for _, h := range []struct {
		name string
		s    WildScore
	}{{"dev", dev}, {"test", test}, {"all", all}} {
		cells := scoreCells(h.s)
		for i := range cells {
			cells[i] = "**" + cells[i] + "**"
		}
		fmt.Fprintf(w, "| **%s** (%d targets) | | %s |\n", h.name, h.s.Targets, strings.Join(cells, " | "))
	}
	for _, rep := range reports {
		tt := rep.Triage
		if rep.Job.Err != nil || (len(tt.Untriaged) == 0 && len(tt.Gone) == 0) {
			continue
		}
		fmt.Fprintf(w, "\n### %s\n", rep.Job.ModuleVersion)
		if len(tt.Untriaged) > 0 {
			fmt.Fprintf(w, "\nUntriaged findings (%d):\n\n", len(tt.Untriaged))
			fmt.Fprintln(w, "| # | location | function | category | message | triage | reasoning |")
			fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
			for i, f := range tt.Untriaged {
				fn := "`" + mdCell(f.Function) + "`"
				if f.Function == "" {
					fn = "(package level)"
				}
				fmt.Fprintf(w, "| %d | `%s` | %s | %s | %s |  |  |\n", i+1, mdCell(f.Location()), fn, mdCell(f.Category), mdCell(f.Message))
			}
		}
		if len(tt.Gone) > 0 {
			fmt.Fprintf(w, "\nLabelled findings no longer reported (%d):\n\n", len(tt.Gone))
			for _, l := range tt.Gone {
				fmt.Fprintf(w, "- `%s:%d` %s `%s`: was %s (%s)\n", mdCell(l.Key.File), l.Key.Line, mdCell(l.Key.Category), mdCell(l.Function), l.Label, mdCell(l.Reason))
			}
		}
	}
}

// WriteUntriagedTSV prints one line in the format of wild-labels.tsv for
// every untriaged finding, with the label and reason columns empty, ready
// to be filled in and appended to the labels file.
func WriteUntriagedTSV(w io.Writer, reports []WildReport) error {
	for _, rep := range reports {
		for _, f := range rep.Triage.Untriaged {
			k := f.Key(rep.Job.ModuleVersion)
			if _, err := fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t\t%s\n", k.Target, k.File, k.Line, k.Category, f.Function, oneLine(f.Message, 0)); err != nil {
				return err
			}
		}
	}
	return nil
}
