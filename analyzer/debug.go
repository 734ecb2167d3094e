package analyzer

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// debugEnv names the environment variable that turns on debugging output
// (doc.go, "Debugging").
const debugEnv = "MAPLEAK_DEBUG"

// debugOptions says what mapleak prints about its own work, for its
// developers: every function summary (MAPLEAK_DEBUG=summaries), or the map
// operations of the functions whose name contains a string
// (MAPLEAK_DEBUG=ops:NAME). The rules never look at it: the checker
// prints between its phases.
type debugOptions struct {
	summaries bool
	opsOf     string    // "" prints no operations
	out       io.Writer // where to print; nil when nothing is printed
}

// debugFromEnv reads MAPLEAK_DEBUG: this is the only place that does.
func debugFromEnv() debugOptions {
	return parseDebug(os.Getenv(debugEnv), os.Stderr)
}

// parseDebug interprets a MAPLEAK_DEBUG value. Other values print nothing.
func parseDebug(value string, out io.Writer) debugOptions {
	var d debugOptions
	if value == "summaries" {
		d.summaries = true
	} else if name, ok := strings.CutPrefix(value, "ops:"); ok {
		d.opsOf = name
	}
	if d.summaries || d.opsOf != "" {
		d.out = out
	}
	return d
}

// printSummaries prints the summary of every function that has one.
func (a *checker) printSummaries() {
	if !a.debug.summaries {
		return
	}
	for _, fn := range a.funcs {
		if s := a.sums[fn]; s != nil {
			fmt.Fprintf(a.debug.out, "mapleak: summary %s: %s\n", fn, s)
		}
	}
}

// printOps prints the map operations of fi's function if its name contains
// the string MAPLEAK_DEBUG=ops: asks for.
func (a *checker) printOps(fi *funcInfo) {
	if a.debug.opsOf == "" || !strings.Contains(fi.fn.String(), a.debug.opsOf) {
		return
	}
	for _, op := range fi.ops {
		fmt.Fprintf(a.debug.out, "mapleak: op %s kind=%d m=%s k=%s via=%q flags=%s at %s\n",
			fi.fn, op.kind, op.m, op.k, op.via, op.flags, a.syn.shortPos(op.pos))
	}
}
