package main

import (
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/mapleak/mapleak/reference/historysync"
)

// printSummary writes a table with a row per archive: what its catch-up
// fetched and stored, whether it is complete, and its error.
func printSummary(w io.Writer, reports []historysync.Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cells ...string) {
		for i, c := range cells {
			if i > 0 {
				_, _ = io.WriteString(tw, "\t")
			}
			_, _ = io.WriteString(tw, c)
		}
		_, _ = io.WriteString(tw, "\n")
	}
	row("ARCHIVE", "PAGES", "MESSAGES", "NEW", "DUPLICATES", "GAPS", "COMPLETE", "RESULT")
	var total historysync.Report
	for _, r := range reports {
		result := "ok"
		switch {
		case interrupted(r.Err):
			result = "interrupted"
		case r.Err != nil:
			result = "failed: " + r.Err.Error()
		}
		row(r.Archive.String(), itoa(r.Pages), itoa(r.Messages), itoa(r.Inserted), itoa(r.Duplicates), itoa(r.Gaps), yesNo(r.Complete), result)
		total.Pages += r.Pages
		total.Messages += r.Messages
		total.Inserted += r.Inserted
		total.Duplicates += r.Duplicates
	}
	row("total", itoa(total.Pages), itoa(total.Messages), itoa(total.Inserted), itoa(total.Duplicates))
	return tw.Flush()
}

func itoa(n int) string { return strconv.Itoa(n) }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
