// Command realworld measures mapleak on real code: it runs the analyzer of
// this checkout on labelled functions of public Go modules and reports
// precision and recall, or lists its findings on whole modules for triage.
//
// Evaluation (the default mode) reads a manifest in the format of
// testdata/realworld/visible.tsv, fetches each module version through the
// Go module proxy into a scratch module, runs mapleak -json on each row's
// package and scores the row: found when a diagnostic lies inside the row's
// function. TP is a leak row found, FN a leak row missed, FP an ok row
// found, TN an ok row not found.
//
//	go run ./analyzer/internal/realworld                       # visible set, text report
//	go run ./analyzer/internal/realworld -markdown             # the table of docs/evaluation.md
//	go run ./analyzer/internal/realworld -min-precision 0.9 -min-recall 0.9
//	go run ./analyzer/internal/realworld -mapleak-flags='-track-all' -only 'nats-.*'
//	go run ./analyzer/internal/realworld -fetch-only           # warm the cache, check every row loads
//
// Several manifests can be scored together (-manifest a.tsv,b.tsv): each
// is a set, and a manifest with a repo column (corpus.tsv) takes part in
// the dev/test split of testdata/realworld/split.tsv, by upstream
// repository; -half dev|test selects one side, and the reports give the
// scores per set and half. -extend-split adds the repositories of new rows
// and wild targets to the split with a fixed seed, never moving the ones
// already there:
//
//	go run ./analyzer/internal/realworld -manifest testdata/realworld/visible.tsv,testdata/realworld/corpus.tsv -half dev
//	go run ./analyzer/internal/realworld -extend-split -manifest testdata/realworld/corpus.tsv
//
// Findings in the wild (-wild) runs mapleak, test files included, over the
// targets of testdata/realworld/wild.txt (module@version, optional
// repo=REPOSITORY, package patterns), merges a package's findings with its
// test variant's, and scores them against the triage labels of
// testdata/realworld/wild-labels.tsv per target, per half and overall (the
// share of labelled findings that are true or debatable). It lists only the
// findings still to triage, a stable seeded sample of 40 where a target
// has more, and the labels whose finding is gone:
//
//	go run ./analyzer/internal/realworld -wild -parallel 1 [-markdown] [-half dev] [-untriaged-tsv FILE]
//
// Scratch modules live under -cache (default $XDG_CACHE_HOME/mapleak-realworld
// or its platform equivalent); downloads go through the normal module cache.
// Every go command in a scratch module runs with GOFLAGS=-mod=mod
// GOSUMDB=off GOTOOLCHAIN=local GOWORK=off. The standard library rows use the
// installed Go.
//
// A row that cannot be evaluated (download fails, package does not build,
// function not found, mapleak fails or exceeds -timeout or -max-memory) is
// an error row: reported, excluded from the scores and counted separately.
//
// Exit status: 0 when every gate passes; 1 when precision or recall is
// below -min-precision or -min-recall (an undefined measure fails a positive
// threshold), when more rows than -max-errors (default 0) could not be
// evaluated, or when the run was interrupted; 2 for a usage error, an
// invalid manifest or a mapleak that does not build.
//
// The command downloads modules, so it is not part of go test ./...; set
// MAPLEAK_REALWORLD=1 to run its integration test.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Exit codes.
const (
	exitOK    = 0
	exitGate  = 1
	exitUsage = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed command-line flags.
type options struct {
	manifests    []string
	splitFile    string
	half         halfSelection
	extendSplit  bool
	splitSeed    uint64
	labels       string
	tests        bool
	untriagedTSV string
	wild         bool
	wildList     string
	cacheDir     string
	repo         string
	mapleakFlags string
	only         string
	parallel     int
	timeout      time.Duration
	maxMemory    byteSize
	minPrecision float64
	minRecall    float64
	maxErrors    int
	markdown     bool
	fetchOnly    bool
	sample       int
	seed         uint64
	verbose      bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("realworld", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	fs.Func("manifest", "manifest of labelled rows; repeat the flag or give a comma-separated list to score several sets together (default <repo>/testdata/realworld/visible.tsv)", func(v string) error {
		for _, m := range strings.Split(v, ",") {
			if m = strings.TrimSpace(m); m != "" {
				o.manifests = append(o.manifests, m)
			}
		}
		return nil
	})
	fs.StringVar(&o.splitFile, "split", "", "dev/test split of the repositories (default <repo>/testdata/realworld/split.tsv)")
	half := fs.String("half", string(selectAll), "rows and wild targets of this half only: dev, test or all (rows of a manifest without a repo column are always included)")
	fs.BoolVar(&o.extendSplit, "extend-split", false, "add the repositories of the -manifest rows and the -list targets that -split lacks, then exit (repositories already there never move)")
	fs.Uint64Var(&o.splitSeed, "split-seed", 1, "with -extend-split: seed of the assignment of new repositories")
	fs.StringVar(&o.labels, "labels", "", "with -wild: triage labels of findings (default <repo>/testdata/realworld/wild-labels.tsv; a missing default file means no labels)")
	fs.BoolVar(&o.tests, "test", true, "with -wild: analyse test files too, as golangci-lint does (-test=false: production files only)")
	fs.StringVar(&o.untriagedTSV, "untriaged-tsv", "", "with -wild: write the untriaged findings to this file as wild-labels.tsv lines with empty label and reason")
	fs.BoolVar(&o.wild, "wild", false, "findings-in-the-wild mode: run mapleak over the targets of -list and print every finding for triage")
	fs.StringVar(&o.wildList, "list", "", "targets of -wild, one \"module@version pattern...\" a line (default <repo>/testdata/realworld/wild.txt)")
	fs.StringVar(&o.cacheDir, "cache", "", "directory for scratch modules and the mapleak binary (default <user cache dir>/mapleak-realworld)")
	fs.StringVar(&o.repo, "repo", "", "checkout whose cmd/mapleak is evaluated (default: the main module of the current directory)")
	fs.StringVar(&o.mapleakFlags, "mapleak-flags", "", "extra mapleak flags, shell-quoted, e.g. '-track-all' or \"-keys '^id$'\"")
	fs.StringVar(&o.only, "only", "", "evaluate only the rows whose id matches this regexp (targets whose module@version matches, with -wild)")
	fs.IntVar(&o.parallel, "parallel", 2, "module versions fetched and analysed at once")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "time limit per module version (fetch and analysis); its rows become error rows when it expires")
	o.maxMemory = 8 << 30
	fs.Var(&o.maxMemory, "max-memory", "kill a mapleak run whose resident memory exceeds this (e.g. 8GiB, 512MiB; 0 = no limit); its rows become error rows")
	fs.Float64Var(&o.minPrecision, "min-precision", 0, "exit 1 when precision is below this (0 = no gate; undefined precision fails any positive gate)")
	fs.Float64Var(&o.minRecall, "min-recall", 0, "exit 1 when recall is below this (0 = no gate; undefined recall fails any positive gate)")
	fs.IntVar(&o.maxErrors, "max-errors", 0, "exit 1 when more rows than this cannot be evaluated (with -wild: targets that fail; -1 = no limit)")
	fs.BoolVar(&o.markdown, "markdown", false, "print Markdown tables (for docs/evaluation.md) instead of text")
	fs.BoolVar(&o.fetchOnly, "fetch-only", false, "only resolve the modules and locate the functions (warms the cache; no analysis, no scores)")
	fs.IntVar(&o.sample, "sample", 40, "with -wild: where a target has more findings than this, a seeded random sample of this many is what must be triaged (0 = all)")
	fs.Uint64Var(&o.seed, "seed", 1, "with -wild: random seed of the triage sample")
	fs.BoolVar(&o.verbose, "v", false, "log progress and every go command to stderr")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./analyzer/internal/realworld [flags]\n\n"+
			"Evaluates mapleak on the labelled real-world rows of a manifest (precision, recall),\n"+
			"or with -wild lists its findings on whole modules for triage.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if o.half, err = parseHalfSelection(*half); err != nil {
		return nil, err
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !o.wild {
		for _, name := range []string{"sample", "seed", "labels", "test", "untriaged-tsv"} {
			if set[name] {
				return nil, fmt.Errorf("-%s applies to -wild only", name)
			}
		}
	}
	if set["split-seed"] && !o.extendSplit {
		return nil, fmt.Errorf("-split-seed applies to -extend-split only")
	}
	switch {
	case o.parallel < 1:
		return nil, fmt.Errorf("-parallel must be at least 1")
	case o.timeout <= 0:
		return nil, fmt.Errorf("-timeout must be positive")
	case o.minPrecision < 0 || o.minPrecision > 1 || o.minRecall < 0 || o.minRecall > 1:
		return nil, fmt.Errorf("-min-precision and -min-recall must be between 0 and 1")
	case o.sample < 0:
		return nil, fmt.Errorf("-sample must not be negative")
	case o.extendSplit && (o.wild || o.fetchOnly):
		return nil, fmt.Errorf("-extend-split only writes the split: it does not combine with -wild or -fetch-only")
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "realworld: %v\n", err)
		return exitUsage
	}
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	code, err := execute(ctx, o, log, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "realworld: %v\n", err)
	}
	return code
}

func execute(ctx context.Context, o *options, log *slog.Logger, stdout, stderr io.Writer) (int, error) {
	extra, err := splitArgs(o.mapleakFlags)
	if err != nil {
		return exitUsage, fmt.Errorf("-mapleak-flags: %w", err)
	}
	var only *regexp.Regexp
	if o.only != "" {
		if only, err = regexp.Compile(o.only); err != nil {
			return exitUsage, fmt.Errorf("-only: %w", err)
		}
	}
	repo := o.repo
	if repo == "" {
		if repo, err = mainModuleDir(ctx); err != nil {
			return exitUsage, err
		}
	}
	if _, err := os.Stat(filepath.Join(repo, "cmd", "mapleak")); err != nil {
		return exitUsage, fmt.Errorf("%s is not a mapleak checkout (no cmd/mapleak): use -repo", repo)
	}
	cacheDir := o.cacheDir
	if cacheDir == "" {
		uc, err := os.UserCacheDir()
		if err != nil {
			return exitUsage, fmt.Errorf("no user cache directory (%w): use -cache", err)
		}
		cacheDir = filepath.Join(uc, "mapleak-realworld")
	}
	if cacheDir, err = filepath.Abs(cacheDir); err != nil {
		return exitUsage, err
	}
	goTool, err := installedGo(ctx)
	if err != nil {
		return exitUsage, err
	}

	// Read the input before building anything: a bad manifest fails fast.
	splitPath := defaultPath(o.splitFile, repo, "testdata/realworld/split.tsv")
	if o.extendSplit {
		return extendSplit(o, repo, splitPath, stdout)
	}
	var (
		rows       []Row
		targets    []WildTarget
		labels     []WildLabel
		source     string
		labelsPath string
	)
	if o.wild {
		source = defaultPath(o.wildList, repo, "testdata/realworld/wild.txt")
		if targets, err = readWildList(source); err != nil {
			return exitUsage, err
		}
		labelsPath = defaultPath(o.labels, repo, "testdata/realworld/wild-labels.tsv")
		if labels, err = readWildLabels(labelsPath, o.labels == "", targets); err != nil {
			return exitUsage, err
		}
		split, err := readSplit(splitPath)
		if err != nil {
			return exitUsage, err
		}
		if err := assignTargetHalves(targets, split, splitPath); err != nil {
			return exitUsage, err
		}
		targets = selectTargets(targets, o.half, only)
		if len(targets) == 0 {
			return exitUsage, fmt.Errorf("no target of %s is selected by -half %s -only %q", source, o.half, o.only)
		}
	} else {
		paths := o.manifests
		if len(paths) == 0 {
			paths = []string{defaultPath("", repo, "testdata/realworld/visible.tsv")}
		}
		if rows, err = readManifests(paths); err != nil {
			return exitUsage, err
		}
		if needsSplit(rows) {
			split, err := readSplit(splitPath)
			if err != nil {
				return exitUsage, err
			}
			if err := assignRowHalves(rows, split, splitPath); err != nil {
				return exitUsage, err
			}
		}
		rows = selectRows(rows, o.half, only)
		source = strings.Join(paths, ", ")
		if len(rows) == 0 {
			return exitUsage, fmt.Errorf("no row of %s is selected by -half %s -only %q", source, o.half, o.only)
		}
	}

	s := &session{
		fetch:    &fetcher{cacheDir: cacheDir, goTool: goTool, log: log},
		extra:    extra,
		parallel: o.parallel,
		timeout:  o.timeout,
		maxRSS:   int64(o.maxMemory),
		tests:    o.tests,
		log:      log,
	}
	s.fetch.pruneStaging()
	ri := runInfo{Source: relTo(repo, source), Checkout: repo, Flags: extra, Go: goTool.Version, Cache: cacheDir, FetchOnly: o.fetchOnly, Date: time.Now(),
		Half: o.half, Tests: o.tests, Labels: relTo(repo, labelsPath), LabelCount: len(labels), Sample: o.sample, Seed: o.seed}
	ri.Commit, ri.Dirty = describeCheckout(ctx, repo)
	if !o.wild {
		ri.Source = relList(repo, source)
	}
	if !o.fetchOnly {
		log.Info("build mapleak", "repo", repo)
		bin, tmp, err := buildMapleak(ctx, log, repo, cacheDir)
		if err != nil {
			return exitUsage, err
		}
		defer os.RemoveAll(tmp)
		s.bin = bin
	}

	if o.wild {
		reports, took := s.Wild(ctx, targets, labels, o.sample, o.seed)
		if o.markdown {
			WriteWildMarkdown(stdout, ri, reports)
		} else {
			WriteWildText(stdout, ri, reports, took)
		}
		if o.untriagedTSV != "" && !o.fetchOnly {
			if err := writeFileWith(o.untriagedTSV, func(w io.Writer) error { return WriteUntriagedTSV(w, reports) }); err != nil {
				return exitGate, fmt.Errorf("-untriaged-tsv: %w", err)
			}
		}
		failed := 0
		for _, r := range reports {
			if r.Job.Err != nil {
				failed++
			}
		}
		if o.maxErrors >= 0 && failed > o.maxErrors {
			return exitGate, fmt.Errorf("%d target(s) failed, more than -max-errors %d", failed, o.maxErrors)
		}
		return exitOK, ctx.Err()
	}

	ev := s.Evaluate(ctx, rows)
	if o.markdown {
		ev.WriteMarkdown(stdout, ri)
	} else {
		ev.WriteText(stdout, ri)
	}
	if err := ctx.Err(); err != nil {
		return exitGate, err
	}
	gate := Gate{MinPrecision: o.minPrecision, MinRecall: o.minRecall, MaxErrors: o.maxErrors}
	if ev.FetchOnly {
		gate.MinPrecision, gate.MinRecall = 0, 0
	}
	if fails := gate.Check(ev.Summary); len(fails) > 0 {
		for _, f := range fails {
			fmt.Fprintf(stderr, "realworld: FAIL: %s\n", f)
		}
		return exitGate, nil
	}
	return exitOK, nil
}

// defaultPath returns flagValue, or def joined to repo when it is empty.
func defaultPath(flagValue, repo, def string) string {
	if flagValue != "" {
		return flagValue
	}
	return filepath.Join(repo, filepath.FromSlash(def))
}

// mainModuleDir is the directory of the main module of the working
// directory, the checkout under evaluation.
func mainModuleDir(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module: run from the mapleak checkout or use -repo")
	}
	return filepath.Dir(gomod), nil
}

// installedGo asks the go command on PATH for its version and GOROOT.
func installedGo(ctx context.Context) (toolchain, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION", "GOROOT").Output()
	if err != nil {
		return toolchain{}, fmt.Errorf("go env: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || lines[0] == "" || lines[1] == "" {
		return toolchain{}, fmt.Errorf("go env GOVERSION GOROOT: unexpected output %q", out)
	}
	return toolchain{Version: strings.TrimSpace(lines[0]), GOROOT: strings.TrimSpace(lines[1])}, nil
}

// describeCheckout finds the commit of the checkout and whether the
// analyzer has uncommitted changes, for the report header. Without git the
// commit is empty.
func describeCheckout(ctx context.Context, repo string) (commit string, dirty bool) {
	out, err := exec.CommandContext(ctx, "git", "-C", repo, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "", false
	}
	status, err := exec.CommandContext(ctx, "git", "-C", repo, "status", "--porcelain", "--",
		"analyzer", "cmd", "go.mod", "go.sum", ":(exclude)analyzer/internal/realworld").Output()
	return strings.TrimSpace(string(out)), err == nil && len(strings.TrimSpace(string(status))) > 0
}
