package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// Finding is one mapleak diagnostic in the wild, ready for triage.
type Finding struct {
	Package  string // the package (or test variant) it was reported on
	File     string // slash path relative to the module root (GOROOT/src for std)
	Pos      Pos
	Function string // enclosing function, "Func" or "Recv.Method"
	Category string
	Message  string
}

// Location is "file:line".
func (f Finding) Location() string { return fmt.Sprintf("%s:%d", f.File, f.Pos.Line) }

// Key identifies the finding of target for labels.
func (f Finding) Key(target string) FindingKey {
	return FindingKey{Target: target, File: f.File, Line: f.Pos.Line, Category: f.Category}
}

// WildReport is the outcome of one target of a findings-in-the-wild run.
type WildReport struct {
	Target   WildTarget
	Job      JobReport
	Findings []Finding // distinct findings, sorted by file and position
	Triage   TargetTriage
	Problems []string // packages that did not load or analyse
}

// compareFindings orders findings by file, position and message.
func compareFindings(a, b Finding) int {
	return cmp.Or(
		strings.Compare(a.File, b.File),
		cmp.Compare(a.Pos.Line, b.Pos.Line),
		cmp.Compare(a.Pos.Col, b.Pos.Col),
		strings.Compare(a.Category, b.Category),
		strings.Compare(a.Message, b.Message),
	)
}

// isTestVariant reports whether a package ID names a test variant
// ("p [p.test]") or a test main ("p.test") rather than the package itself.
func isTestVariant(pkg string) bool {
	return strings.Contains(pkg, " [") || strings.HasSuffix(pkg, ".test")
}

// DistinctFindings merges findings with the same file, line and category,
// the identity of a label: with tests included, mapleak reports a finding
// in a package's code once for the package and once for its test variant
// (sometimes with other return paths in the message), and it counts once.
// The finding reported on the package itself is kept. The result is
// sorted by file and position.
func DistinctFindings(fs []Finding) []Finding {
	all := slices.Clone(fs)
	slices.SortStableFunc(all, func(a, b Finding) int {
		return cmp.Or(
			strings.Compare(a.File, b.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			strings.Compare(a.Category, b.Category),
			compareBool(isTestVariant(a.Package), isTestVariant(b.Package)),
			cmp.Compare(a.Pos.Col, b.Pos.Col),
			strings.Compare(a.Message, b.Message),
		)
	})
	out := all[:0]
	for _, f := range all {
		if n := len(out); n > 0 && out[n-1].Key("") == f.Key("") {
			continue
		}
		out = append(out, f)
	}
	slices.SortFunc(out, compareFindings)
	return slices.Clip(out)
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// sampleRank is the place of a finding in the seeded order of a sample:
// the first 8 bytes of SHA-256(seed, file, line, category).
func sampleRank(seed uint64, f Finding) uint64 {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	fmt.Fprintf(h, "%s\x00%d\x00%s", f.File, f.Pos.Line, f.Category)
	return binary.BigEndian.Uint64(h.Sum(nil)[:8])
}

// SampleFindings returns the n findings of fs with the lowest
// sampleRank(seed, f) (all of them when n <= 0 or n >= len(fs)), in file
// order. A finding's place in the sample depends only on itself and the
// seed, not on the order of fs: a rerun after an analyzer change keeps
// every sampled finding that is still reported and still among the n
// lowest, so the labels of the previous sample stay useful.
func SampleFindings(fs []Finding, n int, seed uint64) (shown []Finding, sampled bool) {
	all := slices.Clone(fs)
	slices.SortFunc(all, compareFindings)
	if n <= 0 || n >= len(all) {
		return all, false
	}
	slices.SortStableFunc(all, func(a, b Finding) int {
		return cmp.Compare(sampleRank(seed, a), sampleRank(seed, b))
	})
	shown = all[:n]
	slices.SortFunc(shown, compareFindings)
	return shown, true
}

// Wild runs mapleak over every target, collects its distinct findings and
// scores them against labels. sample and seed select the findings of a
// target that must be triaged (sample <= 0: all of them).
func (s *session) Wild(ctx context.Context, targets []WildTarget, labels []WildLabel, sample int, seed uint64) ([]WildReport, time.Duration) {
	start := time.Now()
	byTarget := make(map[string][]WildLabel)
	for _, l := range labels {
		byTarget[l.Key.Target] = append(byTarget[l.Key.Target], l)
	}
	reports := make([]WildReport, len(targets))
	forEachJob(len(targets), s.parallel, func(i int) {
		reports[i] = s.wildTarget(ctx, targets[i])
		if reports[i].Job.Err == nil && s.bin != "" {
			mv := targets[i].ModuleVersion()
			reports[i].Triage = TriageTarget(mv, reports[i].Findings, byTarget[mv], sample, seed)
		}
	})
	return reports, time.Since(start)
}

func (s *session) wildTarget(ctx context.Context, t WildTarget) WildReport {
	rep := WildReport{Target: t, Job: JobReport{ModuleVersion: t.ModuleVersion(), Patterns: t.Patterns}}
	if err := ctx.Err(); err != nil {
		rep.Job.Err = fmt.Errorf("not analysed: run interrupted (%w)", err)
		return rep
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	s.log.Info("fetch", "module", t.ModuleVersion())
	sm, err := s.fetch.Resolve(ctx, t.Module, t.Version, t.Patterns, s.tests)
	if err != nil {
		rep.Job.Err = s.explainTimeout(err)
		return rep
	}
	rep.Job.Cached, rep.Job.FetchTook = sm.Cached, sm.Took
	if t.Module == stdModule && t.Version != s.fetch.goTool.Version {
		rep.Job.Warnings = append(rep.Job.Warnings, fmt.Sprintf("listed as %s, evaluated on the installed %s", t.Version, s.fetch.goTool.Version))
	}
	for _, p := range sortedKeys(sm.PackageErrors) {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%s: %s", p, sm.PackageErrors[p]))
	}
	if s.bin == "" {
		return rep
	}

	s.log.Info("analyse", "module", t.ModuleVersion(), "patterns", strings.Join(t.Patterns, " "))
	run, err := runMapleak(ctx, s.log, s.bin, sm.Dir, s.maxRSS, s.tests, s.extra, t.Patterns)
	if err != nil {
		rep.Job.Err = s.explainTimeout(err)
		return rep
	}
	rep.Job.AnalysisTook = run.Took
	s.log.Info("analysed", "module", t.ModuleVersion(), "took", run.Took.Round(time.Millisecond))

	root := s.canonical(sm.ModuleDir)
	files := make(map[string]*ParsedFile)
	outside := 0
	for _, pkg := range sortedKeys(run.Results) {
		for _, e := range run.Results.PackageErrors(pkg) {
			rep.Problems = append(rep.Problems, pkg+": "+e)
		}
		for _, d := range run.Results.Diagnostics(pkg, analyzerName) {
			abs := s.canonical(d.File)
			rel := abs
			if r, err := filepath.Rel(root, abs); err == nil && !strings.HasPrefix(r, "..") {
				rel = filepath.ToSlash(r)
			} else {
				outside++
			}
			f := Finding{Package: pkg, File: rel, Pos: d.Pos, Category: d.Category, Message: d.Message}
			pf, ok := files[abs]
			if !ok {
				if src, err := os.ReadFile(abs); err == nil {
					pf, _ = ParseGoFile(abs, src)
				}
				files[abs] = pf
			}
			if pf != nil {
				f.Function = pf.EnclosingFunc(d.Pos)
			}
			rep.Findings = append(rep.Findings, f)
		}
	}
	if outside > 0 {
		rep.Job.Warnings = append(rep.Job.Warnings, fmt.Sprintf("%d finding(s) lie outside the module root %s: was another version analysed?", outside, root))
	}
	rep.Findings = DistinctFindings(rep.Findings)
	return rep
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
