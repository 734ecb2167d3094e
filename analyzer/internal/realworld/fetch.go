package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/module"
)

// resolvedFile marks a scratch module that resolved completely; its content
// is a resolution.
const resolvedFile = "resolved.json"

// resolution is what resolving a scratch module found out. It is stored in
// the scratch module so later runs can reuse it without asking the proxy.
type resolution struct {
	Module    string   // module path, or "std"
	Version   string   // resolved module version (std: the row's Go version)
	GoVersion string   // the installed Go that resolved it
	Patterns  []string // package patterns fetched
	// Tests records that the test dependencies of Patterns were fetched
	// too (go list -test), as a run of mapleak with tests needs.
	Tests     bool   `json:",omitempty"`
	ModuleDir string // module root on disk (GOROOT/src for std)
	// PackageErrors maps a requested package to the error go list reported
	// for it or its dependencies (missing module, syntax error, ...).
	PackageErrors map[string]string `json:",omitempty"`
}

// scratchModule is a resolved scratch module ready for analysis.
type scratchModule struct {
	Dir string // the scratch module (holds go.mod)
	resolution
	Cached bool          // reused from an earlier run
	Took   time.Duration // time spent resolving (0 when cached)
}

// toolchain describes the installed Go.
type toolchain struct {
	Version string // go1.26.8
	GOROOT  string
}

// fetcher resolves scratch modules in a cache directory.
type fetcher struct {
	cacheDir string
	goTool   toolchain
	log      *slog.Logger
}

// scratchDir is where the scratch module of module@version lives.
func (f *fetcher) scratchDir(mod, ver string) (string, error) {
	if mod == stdModule {
		return filepath.Join(f.cacheDir, "modules", "std@"+f.goTool.Version), nil
	}
	ep, err := module.EscapePath(mod)
	if err != nil {
		return "", err
	}
	ev, err := module.EscapeVersion(ver)
	if err != nil {
		return "", err
	}
	return filepath.Join(f.cacheDir, "modules", filepath.FromSlash(ep)+"@"+ev), nil
}

// Resolve returns a scratch module in which patterns (packages or ./...
// patterns of mod@ver) load: `go mod init eval && go get pattern@ver...`
// through the Go module proxy, reusing an earlier resolution when it covers
// the same patterns. With tests, the modules that the patterns' tests
// import are fetched too. A failure of go get fails the whole module
// version; a package that does not load is recorded in PackageErrors.
func (f *fetcher) Resolve(ctx context.Context, mod, ver string, patterns []string, tests bool) (*scratchModule, error) {
	dir, err := f.scratchDir(mod, ver)
	if err != nil {
		return nil, err
	}
	if res, ok := f.reusable(dir, mod, ver, patterns); ok && (res.Tests || !tests) {
		return &scratchModule{Dir: dir, resolution: *res, Cached: true}, nil
	}
	// Keep the patterns an earlier run resolved here (the std module serves
	// both the net/rpc row and the whole std in the wild), so two modes do
	// not evict each other's scratch module.
	if prev, ok := f.reusable(dir, mod, ver, nil); ok {
		tests = tests || prev.Tests
		for _, p := range prev.Patterns {
			if !slices.Contains(patterns, p) {
				patterns = append(slices.Clip(patterns), p)
			}
		}
	}
	start := time.Now()
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	// Resolve in a staging directory and rename it into place at the end,
	// so a crash or a concurrent run never sees a half-resolved module.
	staging, err := os.MkdirTemp(parent, ".staging-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(staging) // no-op after a successful rename
	res, err := f.resolveIn(ctx, staging, mod, ver, patterns, tests)
	if err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(res, "", "\t")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(staging, resolvedFile), append(data, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("remove stale scratch module: %w", err)
	}
	if err := os.Rename(staging, dir); err != nil {
		// A concurrent run may have won the race; use its module if it fits.
		if other, ok := f.reusable(dir, mod, ver, patterns); ok && (other.Tests || !tests) {
			return &scratchModule{Dir: dir, resolution: *other, Cached: true}, nil
		}
		return nil, err
	}
	return &scratchModule{Dir: dir, resolution: *res, Took: time.Since(start)}, nil
}

// reusable reports whether dir holds a resolution of mod@ver by the
// installed Go that covers patterns and whose module files still exist.
func (f *fetcher) reusable(dir, mod, ver string, patterns []string) (*resolution, bool) {
	data, err := os.ReadFile(filepath.Join(dir, resolvedFile))
	if err != nil {
		return nil, false
	}
	var res resolution
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, false
	}
	if res.Module != mod || res.GoVersion != f.goTool.Version || (mod != stdModule && res.Version != ver) {
		return nil, false
	}
	for _, p := range patterns {
		if !slices.Contains(res.Patterns, p) {
			return nil, false
		}
	}
	if _, err := os.Stat(res.ModuleDir); err != nil { // module cache cleaned
		return nil, false
	}
	res.Version = ver
	return &res, true
}

// resolveIn creates and resolves the scratch module in dir.
func (f *fetcher) resolveIn(ctx context.Context, dir, mod, ver string, patterns []string, tests bool) (*resolution, error) {
	env := scratchEnv()
	if _, _, err := runCommand(ctx, f.log, dir, env, "go", "mod", "init", "eval"); err != nil {
		return nil, err
	}
	res := &resolution{Module: mod, Version: ver, GoVersion: f.goTool.Version, Patterns: slices.Clone(patterns), Tests: tests}
	if mod == stdModule {
		res.ModuleDir = filepath.Join(f.goTool.GOROOT, "src")
	} else {
		args := []string{"get"}
		for _, p := range patterns {
			args = append(args, p+"@"+ver)
		}
		if _, _, err := runCommand(ctx, f.log, dir, env, "go", args...); err != nil {
			return nil, fmt.Errorf("fetch %s@%s: %w", mod, ver, err)
		}
		if tests {
			// The tests' dependencies can require a newer version of the
			// module itself (nats.go's tests import nats-server, which
			// requires the newest nats.go): a replace directive keeps the
			// analysed code at the listed version.
			if _, _, err := runCommand(ctx, f.log, dir, env, "go", "mod", "edit", "-replace="+mod+"="+mod+"@"+ver); err != nil {
				return nil, fmt.Errorf("pin %s@%s: %w", mod, ver, err)
			}
		}
	}
	errs, err := listPackageErrors(ctx, f.log, dir, env, patterns, tests)
	if err != nil {
		return nil, fmt.Errorf("list packages of %s@%s: %w", mod, ver, err)
	}
	if len(errs) > 0 {
		res.PackageErrors = errs
	}
	if mod != stdModule {
		if res.ModuleDir, err = locateModule(ctx, f.log, dir, env, mod, ver); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// listPackageErrors runs `go list -e` (with tests, `go list -e -test`) on
// patterns and returns, for each matched package or test variant that does
// not load, its error or its dependencies' errors. This also downloads the
// modules the packages (and their tests) import.
func listPackageErrors(ctx context.Context, log *slog.Logger, dir string, env []string, patterns []string, tests bool) (map[string]string, error) {
	args := []string{"list", "-e", "-json=ImportPath,Error,DepsErrors"}
	if tests {
		args = append(args, "-test")
	}
	args = append(args, patterns...)
	out, _, err := runCommand(ctx, log, dir, env, "go", args...)
	if err != nil {
		return nil, err
	}
	type pkgError struct{ Err string }
	errs := make(map[string]string)
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Error      *pkgError
			DepsErrors []*pkgError
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("decode go list output: %w", err)
		}
		var msgs []string
		if p.Error != nil {
			msgs = append(msgs, p.Error.Err)
		}
		for _, d := range p.DepsErrors {
			msgs = append(msgs, d.Err)
		}
		if len(msgs) > 0 {
			errs[p.ImportPath] = strings.Join(msgs, "; ")
		}
	}
	return errs, nil
}

// pruneStaging removes staging directories older than a day left by
// crashed runs.
func (f *fetcher) pruneStaging() {
	root := filepath.Join(f.cacheDir, "modules")
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil //nolint:nilerr // best effort: what cannot be read is left alone
		}
		if !d.IsDir() || path == root {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".staging-") {
			if info, err := d.Info(); err == nil && time.Since(info.ModTime()) > 24*time.Hour {
				_ = os.RemoveAll(path)
			}
			return fs.SkipDir
		}
		if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
			return fs.SkipDir // a scratch module: nothing below to prune
		}
		return nil
	})
}

// locateModule asks the scratch module in dir which version of mod it
// selected and where its files are, following a replace directive, and
// checks that the version is ver.
func locateModule(ctx context.Context, log *slog.Logger, dir string, env []string, mod, ver string) (string, error) {
	out, _, err := runCommand(ctx, log, dir, env, "go", "list", "-m", "-json", mod)
	if err != nil {
		return "", fmt.Errorf("locate %s@%s: %w", mod, ver, err)
	}
	type moduleInfo struct {
		Path, Version, Dir string
		Replace            *moduleInfo
		Error              *struct{ Err string }
	}
	var m moduleInfo
	if err := json.Unmarshal(out, &m); err != nil {
		return "", fmt.Errorf("locate %s@%s: decode go list -m: %w", mod, ver, err)
	}
	if m.Error != nil {
		return "", fmt.Errorf("locate %s@%s: %s", mod, ver, m.Error.Err)
	}
	used := m
	if m.Replace != nil {
		used = *m.Replace
	}
	switch {
	case used.Path != mod || used.Version != ver:
		return "", fmt.Errorf("fetch %s@%s: the scratch module selected %s@%s instead", mod, ver, used.Path, used.Version)
	case used.Dir == "":
		return "", fmt.Errorf("locate %s@%s: go list -m reports no directory", mod, ver)
	}
	return used.Dir, nil
}
