package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// analyzerName is the name mapleak's results carry in the JSON tree.
const analyzerName = "mapleak"

// buildMapleak builds cmd/mapleak of the checkout at repo into a fresh
// directory under cacheDir, so the evaluated analyzer is always the working
// tree's. The caller removes the returned directory when done.
func buildMapleak(ctx context.Context, log *slog.Logger, repo, cacheDir string) (bin, tmpDir string, err error) {
	binDir := filepath.Join(cacheDir, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", "", err
	}
	tmpDir, err = os.MkdirTemp(binDir, "run-")
	if err != nil {
		return "", "", err
	}
	bin = filepath.Join(tmpDir, "mapleak")
	// The checkout builds with the caller's environment (GOFLAGS such as
	// -buildvcs=false included), not the scratch-module one.
	if _, _, err := runCommand(ctx, log, repo, os.Environ(), "go", "build", "-o", bin, "./cmd/mapleak"); err != nil {
		os.RemoveAll(tmpDir)
		return "", "", fmt.Errorf("build mapleak from %s: %w", repo, err)
	}
	return bin, tmpDir, nil
}

// mapleakRun is the outcome of one mapleak invocation.
type mapleakRun struct {
	Results Results
	Stderr  string // package load errors and warnings printed by the driver
	Took    time.Duration
}

// runMapleak runs `mapleak -json -test=TESTS extra... patterns...` in the
// scratch module dir and decodes its JSON tree. With tests false, test
// files are left out (the manifest rows are about production code); with
// tests true, mapleak also analyses each package's test variant and its
// external test package, as golangci-lint does by default. The driver
// exits non-zero when some package has errors but still prints JSON; only
// output that does not decode is an error. A run whose resident memory
// exceeds maxRSS bytes (0: no limit) is killed.
func runMapleak(ctx context.Context, log *slog.Logger, bin, dir string, maxRSS int64, tests bool, extra, patterns []string) (*mapleakRun, error) {
	args := append([]string{"-json", fmt.Sprintf("-test=%t", tests)}, extra...)
	args = append(args, patterns...)
	start := time.Now()
	stdout, stderr, err := runLimited(ctx, log, dir, scratchEnv(), maxRSS, bin, args...)
	took := time.Since(start)
	var memErr *memoryError
	if ctx.Err() != nil || errors.As(err, &memErr) {
		return nil, err // the command error says what expired or overflowed, and when
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return nil, err // could not start
	}
	results, perr := ParseResults(stdout)
	if perr != nil {
		if err != nil {
			return nil, err // the command error quotes stderr
		}
		return nil, fmt.Errorf("mapleak %s: %w (stderr: %s)", strings.Join(patterns, " "), perr, tail(string(stderr), 12, 1500))
	}
	return &mapleakRun{Results: results, Stderr: strings.TrimSpace(string(stderr)), Took: took}, nil
}

// splitArgs splits a flag value such as `-track-all -keys '^(id|seq)$'`
// into arguments, honouring single and double quotes and backslash escapes
// outside single quotes, like a POSIX shell without expansions.
func splitArgs(s string) ([]string, error) {
	var (
		args    []string
		cur     strings.Builder
		inArg   bool
		quote   rune
		escaped bool
	)
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, inArg = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inArg = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	if escaped {
		return nil, fmt.Errorf("trailing backslash in %q", s)
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in %q", quote, s)
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}
