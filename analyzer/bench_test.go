package analyzer_test

// Benchmarks of mapleak's cost. They load real code and run for seconds per
// iteration, so they only run with -bench; no test in this file does heavy
// work in a plain `go test`. See docs/performance.md for the commands and
// the figures.

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/checker"
	"golang.org/x/tools/go/analysis/passes/nilness"
	"golang.org/x/tools/go/packages"
	"golang.org/x/tools/go/ssa"
	"golang.org/x/tools/go/ssa/ssautil"

	"github.com/mapleak/mapleak/analyzer"
)

// A timedAnalyzer wraps an analyzer's Run to add up the CPU time its Run
// functions take over all packages, excluding its prerequisites (buildssa,
// ctrlflow) and the driver.
type timedAnalyzer struct {
	*analysis.Analyzer
	own atomic.Int64 // nanoseconds of CPU time spent in Run
}

func newTimedAnalyzer(a *analysis.Analyzer) *timedAnalyzer {
	t := new(timedAnalyzer)
	wrapped := *a // same name, prerequisites, facts and flags
	run := a.Run
	wrapped.Run = func(pass *analysis.Pass) (any, error) {
		// Locked to its thread, the goroutine's CPU time is the thread's:
		// other goroutines of the parallel driver cannot run there.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		start := threadCPUTime()
		defer func() { t.own.Add(int64(threadCPUTime() - start)) }()
		return run(pass)
	}
	t.Analyzer = &wrapped
	return t
}

// A cost is what running an analyzer took, added up over runs.
type cost struct {
	wall time.Duration // end to end, prerequisites included
	cpu  time.Duration // CPU time of the whole process meanwhile (all threads, GC included)
	own  time.Duration // CPU time of the analyzer's own Run functions
}

func (c *cost) add(d cost) { c.wall, c.cpu, c.own = c.wall+d.wall, c.cpu+d.cpu, c.own+d.own }

// analyze runs t over pkgs as the command-line drivers do (in parallel,
// prerequisites included) and returns what it cost. Any analysis error, a
// recovered panic included, fails the benchmark.
func (t *timedAnalyzer) analyze(b *testing.B, pkgs []*packages.Package) cost {
	b.Helper()
	runtime.GC() // the previous run's garbage is not this run's cost
	t.own.Store(0)
	start, startCPU := time.Now(), processCPUTime()
	graph, err := checker.Analyze([]*analysis.Analyzer{t.Analyzer}, pkgs, nil)
	c := cost{wall: time.Since(start), cpu: processCPUTime() - startCPU, own: time.Duration(t.own.Load())}
	if err != nil {
		b.Fatal(err)
	}
	for act := range graph.All() {
		if act.Err != nil {
			b.Fatalf("%s: %v", act, act.Err)
		}
	}
	return c
}

// median returns the median of xs (which it sorts).
func median(xs []float64) float64 {
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

// reportRatio reports num/den for the three measures that were taken,
// and num's and den's own figures per iteration, named after them.
func reportRatio(b *testing.B, numName, denName string, num, den cost) {
	n := float64(b.N)
	b.ReportMetric(float64(num.wall)/float64(den.wall), numName+"/"+denName)
	b.ReportMetric(float64(num.wall)/n, numName+"-ns/op")
	b.ReportMetric(float64(den.wall)/n, denName+"-ns/op")
	if den.cpu > 0 {
		b.ReportMetric(float64(num.cpu)/float64(den.cpu), "cpu-"+numName+"/"+denName)
		b.ReportMetric(float64(num.cpu)/n, "cpu-"+numName+"-ns/op")
		b.ReportMetric(float64(den.cpu)/n, "cpu-"+denName+"-ns/op")
	}
	if den.own > 0 {
		b.ReportMetric(float64(num.own)/float64(den.own), "own-"+numName+"/"+denName)
		b.ReportMetric(float64(num.own)/n, "own-"+numName+"-ns/op")
		b.ReportMetric(float64(den.own)/n, "own-"+denName+"-ns/op")
	}
}

var netHTTP struct {
	once sync.Once
	pkgs []*packages.Package
	err  error
}

// loadNetHTTP loads net/http and all its dependencies with syntax, once per
// process, and returns them all (dependencies first).
func loadNetHTTP(b *testing.B) []*packages.Package {
	b.Helper()
	netHTTP.once.Do(func() {
		roots, err := packages.Load(&packages.Config{Mode: packages.LoadAllSyntax}, "net/http")
		if err != nil {
			netHTTP.err = err
			return
		}
		if packages.PrintErrors(roots) > 0 {
			netHTTP.err = fmt.Errorf("net/http does not load cleanly")
			return
		}
		packages.Visit(roots, nil, func(p *packages.Package) { netHTTP.pkgs = append(netHTTP.pkgs, p) })
	})
	if netHTTP.err != nil {
		b.Fatal(netHTTP.err)
	}
	return netHTTP.pkgs
}

// prereqsAnalyzer returns an analyzer that runs mapleak's prerequisites
// and does nothing else.
func prereqsAnalyzer() *analysis.Analyzer {
	return &analysis.Analyzer{
		Name:     "prereqs",
		Doc:      "prereqs runs mapleak's prerequisites and nothing else.",
		Requires: analyzer.Analyzer.Requires,
		Run:      func(*analysis.Pass) (any, error) { return nil, nil },
	}
}

// BenchmarkVsNilness runs mapleak and x/tools' nilness, alternately, over
// net/http and all its dependencies (the same loaded packages, every one
// of them a root, so that both analyzers visit the same code), and reports
// the ratio of their times:
//
//   - mapleak/nilness: end to end, wall time of checker.Analyze with the
//     analyzer alone, prerequisites included (buildssa, which in x/tools
//     v0.52 requires ctrlflow and inspect, for both; mapleak also runs
//     over the imported packages for its facts, which it would do anyway
//     here), as `mapleak ./...` pays them;
//   - cpu-mapleak/nilness: the same, in CPU time of the whole process
//     (garbage collection included), which other jobs on a shared machine
//     disturb less than wall time;
//   - own-mapleak/nilness: CPU time of the analyzers' own Run functions,
//     without the prerequisites;
//   - prereqs/nilness (and cpu-): end to end, an analyzer that does
//     nothing but require what mapleak requires: the floor of
//     mapleak/nilness, which mapleak's own code cannot change.
//
// Loading (parsing and type checking) happens once, before the timer.
func BenchmarkVsNilness(b *testing.B) {
	pkgs := loadNetHTTP(b)
	mapleak, nilnessA := newTimedAnalyzer(analyzer.Analyzer), newTimedAnalyzer(nilness.Analyzer)
	prereqs := newTimedAnalyzer(prereqsAnalyzer())
	var mc, nc, pc cost
	var wallRatios, cpuRatios []float64 // per iteration
	runs := []struct {
		a    *timedAnalyzer
		c    *cost
		last cost
	}{{a: nilnessA, c: &nc}, {a: mapleak, c: &mc}, {a: prereqs, c: &pc}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Rotate the order, so that none always runs on a warmer (or
		// more fragmented) heap, or just after the same other one.
		for j := range runs {
			r := &runs[(i+j)%len(runs)]
			r.last = r.a.analyze(b, pkgs)
			r.c.add(r.last)
		}
		n, m := runs[0].last, runs[1].last
		wallRatios = append(wallRatios, float64(m.wall)/float64(n.wall))
		if n.cpu > 0 {
			cpuRatios = append(cpuRatios, float64(m.cpu)/float64(n.cpu))
		}
	}
	reportRatio(b, "mapleak", "nilness", mc, nc)
	// Medians of the iterations' ratios: a burst of load from other jobs
	// during one run moves them less than the ratio of the sums.
	b.ReportMetric(median(wallRatios), "median-mapleak/nilness")
	if len(cpuRatios) > 0 {
		b.ReportMetric(median(cpuRatios), "median-cpu-mapleak/nilness")
	}
	b.ReportMetric(float64(pc.wall)/float64(nc.wall), "prereqs/nilness")
	if nc.cpu > 0 {
		b.ReportMetric(float64(pc.cpu)/float64(nc.cpu), "cpu-prereqs/nilness")
	}
	b.ReportMetric(float64(len(pkgs)), "packages")
}

// BenchmarkLinearity analyzes one generated function of about 10,000 basic
// blocks with 500 inserts into a tracked map, and the same function at half
// that size, alternately, and reports the ratio of their times
// (large/small; 2.0 is linear): end to end (buildssa and its prerequisites
// included; the package imports nothing), in CPU time, and in CPU time of
// mapleak's own Run.
func BenchmarkLinearity(b *testing.B) {
	const inserts = 500
	small := loadGenerated(b, inserts/2)
	large := loadGenerated(b, inserts)
	mapleak, prereqs := newTimedAnalyzer(analyzer.Analyzer), newTimedAnalyzer(prereqsAnalyzer())
	var sc, lc, psc, plc cost
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sc.add(mapleak.analyze(b, small.pkgs))
		lc.add(mapleak.analyze(b, large.pkgs))
		psc.add(prereqs.analyze(b, small.pkgs))
		plc.add(prereqs.analyze(b, large.pkgs))
	}
	reportRatio(b, "large", "small", lc, sc)
	// The prerequisites alone (go/ssa's construction, whose lifting of
	// locals to registers is not linear either).
	b.ReportMetric(float64(plc.cpu)/float64(psc.cpu), "cpu-prereqs-large/small")
	b.ReportMetric(float64(small.blocks), "small-blocks")
	b.ReportMetric(float64(large.blocks), "large-blocks")
}

// A generated package: the loaded package and the number of basic blocks
// of its big function.
type generated struct {
	pkgs   []*packages.Package
	blocks int
}

// loadGenerated writes the package of generateBig(inserts) into a fresh
// module in a temporary directory and loads it.
func loadGenerated(b *testing.B, inserts int) generated {
	b.Helper()
	dir := b.TempDir()
	files := map[string]string{
		"go.mod": "module big\n\ngo 1.26\n",
		"big.go": generateBig(inserts),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	pkgs, err := packages.Load(&packages.Config{Mode: packages.LoadAllSyntax, Dir: dir, Env: append(os.Environ(), "GOFLAGS=-mod=mod")}, ".")
	if err != nil {
		b.Fatal(err)
	}
	if packages.PrintErrors(pkgs) > 0 {
		b.Fatal("the generated package does not compile")
	}
	prog, ssaPkgs := ssautil.Packages(pkgs, ssa.InstantiateGenerics)
	prog.Build()
	fn := ssaPkgs[0].Members["big"].(*ssa.Function)
	return generated{pkgs: pkgs, blocks: len(fn.Blocks)}
}

// generateBig returns the source of a package whose function big inserts
// into a tracked map (pending, keyed by request IDs) the given number of
// times, in a realistic mix of code of about 20 basic blocks per insert:
// an insert whose error path deletes the entry, one whose error path
// forgets to (a finding), one released by a deferred delete, one whose
// entry a retry loop releases on its way out, and plain branching and
// loops between them.
func generateBig(inserts int) string {
	var s strings.Builder
	s.WriteString(`package big

// No imports: end to end, only this package is analyzed.

type busyError struct{}

func (busyError) Error() string { return "busy" }

type request struct{ id uint64 }

type client struct {
	seq     uint64
	pending map[uint64]*request
}

var errBusy error = busyError{}

func (c *client) next() *request { c.seq++; return &request{id: c.seq} }

func send(r *request, n int) error {
	if n%7 == 0 {
		return errBusy
	}
	return nil
}

func big(c *client, n int) (total int, err error) {
`)
	for i := 0; i < inserts; i++ {
		fmt.Fprintf(&s, "\treq%d := c.next()\n\tc.pending[req%d.id] = req%d\n", i, i, i)
		switch i % 4 {
		case 0: // released on the error path
			fmt.Fprintf(&s, "\tif err := send(req%[1]d, n+%[1]d); err != nil {\n\t\tdelete(c.pending, req%[1]d.id)\n\t\treturn total, err\n\t}\n", i)
		case 1: // left behind on the error path
			fmt.Fprintf(&s, "\tif err := send(req%[1]d, n+%[1]d); err != nil {\n\t\treturn total, err\n\t}\n", i)
		case 2: // released by a deferred delete
			fmt.Fprintf(&s, "\tdefer delete(c.pending, req%[1]d.id)\n\tif err := send(req%[1]d, n); err != nil {\n\t\treturn 0, err\n\t}\n", i)
		case 3: // a retry loop that releases on every way out
			fmt.Fprintf(&s, `	for try := 0; ; try++ {
		err := send(req%[1]d, n+try)
		if err == nil {
			break
		}
		if try > 3 {
			delete(c.pending, req%[1]d.id)
			return total, err
		}
	}
`, i)
		}
		// Plain code between the inserts: branches and a loop.
		fmt.Fprintf(&s, `	switch {
	case n > %[1]d:
		total += n
	case n < -%[1]d:
		total -= n
	default:
		total++
	}
	for j := 0; j < n%%3; j++ {
		if j == %[1]d && total > 0 || total < -j {
			total *= 2
		} else if total == j {
			continue
		}
		total++
	}
	if total > 1<<20 {
		total = %[1]d
	}
	if total%%2 == 0 {
		total /= 2
	}
`, i)
	}
	s.WriteString("\treturn total, nil\n}\n")
	return s.String()
}
