package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// session holds what every module version of one run shares.
type session struct {
	fetch    *fetcher
	bin      string        // mapleak binary; "" in fetch-only mode
	extra    []string      // extra mapleak flags
	parallel int           // module versions processed at once
	timeout  time.Duration // limit per module version (fetch + analysis)
	maxRSS   int64         // resident memory limit of one mapleak run, bytes; 0 = none
	tests    bool          // -wild: analyse test files too
	log      *slog.Logger

	canonMu sync.Mutex
	canon   map[string]string
}

// canonical returns path with symbolic links resolved (or cleaned when it
// cannot be resolved), so diagnostics and rows name files alike.
func (s *session) canonical(path string) string {
	s.canonMu.Lock()
	defer s.canonMu.Unlock()
	if c, ok := s.canon[path]; ok {
		return c
	}
	c, err := filepath.EvalSymlinks(path)
	if err != nil {
		c = filepath.Clean(path)
	}
	if s.canon == nil {
		s.canon = make(map[string]string)
	}
	s.canon[path] = c
	return c
}

// JobReport tells how one module version went: fetching and analysis.
type JobReport struct {
	ModuleVersion string
	Patterns      []string
	Cached        bool          // scratch module reused
	FetchTook     time.Duration // 0 when cached
	AnalysisTook  time.Duration // 0 when not analysed
	Err           error         // the whole module version failed
	Warnings      []string
}

// Evaluation is the outcome of a manifest run.
type Evaluation struct {
	Rows      []RowResult // in manifest order
	Jobs      []JobReport // in order of first appearance in the manifest
	Summary   Summary
	FetchOnly bool
	Took      time.Duration
}

// job is one module version of the manifest with its rows.
type job struct {
	module, version string
	packages        []string
	rows            []int // indices into the manifest
}

// groupJobs groups rows by module version, in order of first appearance.
func groupJobs(rows []Row) []*job {
	var jobs []*job
	byKey := make(map[string]*job)
	for i, r := range rows {
		key := r.ModuleVersion()
		j := byKey[key]
		if j == nil {
			j = &job{module: r.Module, version: r.Version}
			byKey[key] = j
			jobs = append(jobs, j)
		}
		if !slices.Contains(j.packages, r.Package) {
			j.packages = append(j.packages, r.Package)
		}
		j.rows = append(j.rows, i)
	}
	return jobs
}

// forEachJob calls fn for i in [0,n) with at most parallel calls at once.
func forEachJob(n, parallel int, fn func(i int)) {
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(i)
		}()
	}
	wg.Wait()
}

// Evaluate runs mapleak on every row of the manifest and scores it. With
// s.bin empty it only resolves the modules and locates the functions
// (fetch-only mode): rows that load get an empty verdict.
func (s *session) Evaluate(ctx context.Context, rows []Row) *Evaluation {
	start := time.Now()
	jobs := groupJobs(rows)
	ev := &Evaluation{Rows: make([]RowResult, len(rows)), Jobs: make([]JobReport, len(jobs)), FetchOnly: s.bin == ""}
	forEachJob(len(jobs), s.parallel, func(i int) {
		ev.Jobs[i] = s.evaluateJob(ctx, jobs[i], rows, ev.Rows)
	})
	ev.Summary = Summarize(ev.Rows)
	ev.Took = time.Since(start)
	return ev
}

// evaluateJob fetches one module version, runs mapleak once on all its row
// packages and fills out[row] for its rows.
func (s *session) evaluateJob(ctx context.Context, j *job, rows []Row, out []RowResult) JobReport {
	rep := JobReport{ModuleVersion: j.module + "@" + j.version, Patterns: j.packages}
	fail := func(err error) JobReport {
		rep.Err = err
		for _, i := range j.rows {
			out[i] = ErrorResult(rows[i], err)
		}
		return rep
	}
	if err := ctx.Err(); err != nil {
		return fail(fmt.Errorf("not evaluated: run interrupted (%w)", err))
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	s.log.Info("fetch", "module", rep.ModuleVersion)
	sm, err := s.fetch.Resolve(ctx, j.module, j.version, j.packages, false)
	if err != nil {
		err = s.explainTimeout(err)
		s.log.Warn("fetch failed", "module", rep.ModuleVersion, "err", err)
		return fail(err)
	}
	rep.Cached, rep.FetchTook = sm.Cached, sm.Took
	s.log.Info("fetched", "module", rep.ModuleVersion, "cached", sm.Cached, "took", sm.Took.Round(time.Millisecond))

	var versionWarning string
	if j.module == stdModule && j.version != s.fetch.goTool.Version {
		versionWarning = fmt.Sprintf("labelled on %s, evaluated on the installed %s", j.version, s.fetch.goTool.Version)
		rep.Warnings = append(rep.Warnings, versionWarning)
	}

	// Locate every row's function first: a missing function or package is
	// an error row, and its package is not analysed for nothing.
	type located struct {
		abs  string
		span Span
	}
	loc := make(map[int]located)
	var analyse []string
	for _, i := range j.rows {
		row := rows[i]
		if perr, bad := sm.PackageErrors[row.Package]; bad {
			out[i] = ErrorResult(row, fmt.Errorf("package %s does not load: %s", row.Package, perr))
			continue
		}
		abs := filepath.Join(sm.ModuleDir, filepath.FromSlash(row.File))
		span, err := locateFunc(abs, row.File, row.Function)
		if err != nil {
			out[i] = ErrorResult(row, err)
			continue
		}
		if row.InsLine > 0 && !span.Contains(Pos{Line: row.InsLine}) {
			s.log.Warn("manifest line outside the function", "row", row.ID, "line", row.InsLine, "function", span.String())
		}
		loc[i] = located{abs, span}
		if !slices.Contains(analyse, row.Package) {
			analyse = append(analyse, row.Package)
		}
	}
	if s.bin == "" || len(analyse) == 0 {
		for i, l := range loc {
			out[i] = RowResult{Row: rows[i], AbsFile: l.abs, Root: sm.ModuleDir, Span: l.span, Warning: versionWarning}
		}
		return rep
	}

	s.log.Info("analyse", "module", rep.ModuleVersion, "packages", strings.Join(analyse, " "))
	run, err := runMapleak(ctx, s.log, s.bin, sm.Dir, s.maxRSS, false, s.extra, analyse)
	if err != nil {
		err = s.explainTimeout(err)
		s.log.Warn("analysis failed", "module", rep.ModuleVersion, "err", err)
		for i := range loc {
			out[i] = ErrorResult(rows[i], err)
		}
		rep.Err = err
		return rep
	}
	rep.AnalysisTook = run.Took
	s.log.Info("analysed", "module", rep.ModuleVersion, "took", run.Took.Round(time.Millisecond))
	roots := make(map[string]bool)
	for _, p := range analyse {
		roots[p] = true
	}
	if others := run.Results.OtherErrors(roots); len(others) > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d error(s) in dependencies, first: %s", len(others), others[0]))
	}
	for i, l := range loc {
		row := rows[i]
		if errs := run.Results.PackageErrors(row.Package); len(errs) > 0 {
			msg := strings.Join(errs, "; ")
			if run.Stderr != "" {
				msg += " (driver: " + tail(run.Stderr, 6, 600) + ")"
			}
			out[i] = ErrorResult(row, fmt.Errorf("mapleak on %s: %s", row.Package, msg))
			continue
		}
		diags := slices.Clone(run.Results.Diagnostics(row.Package, analyzerName))
		for k := range diags {
			diags[k].File = s.canonical(diags[k].File)
		}
		res := ScoreRow(row, s.canonical(l.abs), l.span, diags)
		res.Root = s.canonical(sm.ModuleDir)
		res.Warning = versionWarning
		out[i] = res
	}
	return rep
}

// explainTimeout names the -timeout flag in an error caused by it.
func (s *session) explainTimeout(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("exceeded -timeout %s: %w", s.timeout, err)
	}
	return err
}

// locateFunc parses the file at abs and finds fn in it; name is the file
// as the manifest spells it, for messages.
func locateFunc(abs, name, fn string) (Span, error) {
	src, err := os.ReadFile(abs)
	if err != nil {
		return Span{}, fmt.Errorf("read row file: %w", err)
	}
	pf, err := ParseGoFile(name, src)
	if err != nil {
		return Span{}, err
	}
	return pf.FindFunc(fn)
}
