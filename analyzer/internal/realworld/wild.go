package main

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// Finding is one mapleak diagnostic in the wild, ready for triage.
type Finding struct {
	Package  string
	File     string // slash path relative to the module root (GOROOT/src for std)
	Pos      Pos
	Function string // enclosing function, "Func" or "Recv.Method"
	Category string
	Message  string
}

// Location is "file:line".
func (f Finding) Location() string { return fmt.Sprintf("%s:%d", f.File, f.Pos.Line) }

// WildReport is the outcome of one target of a findings-in-the-wild run.
type WildReport struct {
	Target   WildTarget
	Job      JobReport
	Findings []Finding // all findings, sorted by file and position
	Shown    []Finding // Findings, or a random sample of them
	Sampled  bool
	Problems []string // packages that did not load or analyse
}

// compareFindings orders findings by file, position and message.
func compareFindings(a, b Finding) int {
	return cmp.Or(
		strings.Compare(a.File, b.File),
		cmp.Compare(a.Pos.Line, b.Pos.Line),
		cmp.Compare(a.Pos.Col, b.Pos.Col),
		strings.Compare(a.Message, b.Message),
	)
}

// SampleFindings returns n findings drawn at random without replacement
// from fs (all of them when n <= 0 or n >= len(fs)), in file order. The
// draw depends only on the set of findings, n and seed, so a triage table
// can be reproduced.
func SampleFindings(fs []Finding, n int, seed uint64) (shown []Finding, sampled bool) {
	all := slices.Clone(fs)
	slices.SortFunc(all, compareFindings)
	if n <= 0 || n >= len(all) {
		return all, false
	}
	r := rand.New(rand.NewPCG(seed, 0x6d61706c65616b)) // "mapleak"
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	shown = all[:n]
	slices.SortFunc(shown, compareFindings)
	return shown, true
}

// Wild runs mapleak over every target and collects its findings. sample
// and seed select a random sample per target (sample <= 0 keeps all).
func (s *session) Wild(ctx context.Context, targets []WildTarget, sample int, seed uint64) ([]WildReport, time.Duration) {
	start := time.Now()
	reports := make([]WildReport, len(targets))
	forEachJob(len(targets), s.parallel, func(i int) {
		reports[i] = s.wildTarget(ctx, targets[i], sample, seed)
	})
	return reports, time.Since(start)
}

func (s *session) wildTarget(ctx context.Context, t WildTarget, sample int, seed uint64) WildReport {
	rep := WildReport{Target: t, Job: JobReport{ModuleVersion: t.ModuleVersion(), Patterns: t.Patterns}}
	if err := ctx.Err(); err != nil {
		rep.Job.Err = fmt.Errorf("not analysed: run interrupted (%w)", err)
		return rep
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	s.log.Info("fetch", "module", t.ModuleVersion())
	sm, err := s.fetch.Resolve(ctx, t.Module, t.Version, t.Patterns)
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
	run, err := runMapleak(ctx, s.log, s.bin, sm.Dir, s.maxRSS, s.extra, t.Patterns)
	if err != nil {
		rep.Job.Err = s.explainTimeout(err)
		return rep
	}
	rep.Job.AnalysisTook = run.Took
	s.log.Info("analysed", "module", t.ModuleVersion(), "took", run.Took.Round(time.Millisecond))

	root := s.canonical(sm.ModuleDir)
	files := make(map[string]*ParsedFile)
	for _, pkg := range sortedKeys(run.Results) {
		for _, e := range run.Results.PackageErrors(pkg) {
			rep.Problems = append(rep.Problems, pkg+": "+e)
		}
		for _, d := range run.Results.Diagnostics(pkg, analyzerName) {
			abs := s.canonical(d.File)
			rel := abs
			if r, err := filepath.Rel(root, abs); err == nil && !strings.HasPrefix(r, "..") {
				rel = filepath.ToSlash(r)
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
	slices.SortFunc(rep.Findings, compareFindings)
	rep.Shown, rep.Sampled = SampleFindings(rep.Findings, sample, seed)
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
