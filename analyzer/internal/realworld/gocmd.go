package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// scratchEnv is the environment of every command run in a scratch module:
// resolve missing requirements on the fly (-mod=mod), skip the checksum
// database (old versions have no entry reachable from here), never switch
// toolchains (the installed Go is the one under evaluation) and ignore any
// go.work of the caller.
func scratchEnv() []string {
	return withEnv(os.Environ(),
		"GOFLAGS=-mod=mod",
		"GOSUMDB=off",
		"GOTOOLCHAIN=local",
		"GOWORK=off",
	)
}

// withEnv returns env with the KEY=value settings of set replacing any
// earlier value of the same key.
func withEnv(env []string, set ...string) []string {
	keys := make(map[string]bool, len(set))
	for _, kv := range set {
		k, _, _ := strings.Cut(kv, "=")
		keys[k] = true
	}
	out := make([]string, 0, len(env)+len(set))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !keys[k] {
			out = append(out, kv)
		}
	}
	return append(out, set...)
}

// commandError is a failed external command with the tail of its stderr.
// The directory is not part of the message (scratch directories are
// temporary); -v logs it.
type commandError struct {
	args   []string
	err    error
	stderr string
}

func (e *commandError) Error() string {
	msg := fmt.Sprintf("%s: %v", strings.Join(e.args, " "), e.err)
	if e.stderr != "" {
		msg += ": " + e.stderr
	}
	return msg
}

func (e *commandError) Unwrap() error { return e.err }

// runCommand runs name with args in dir and returns its stdout and stderr.
// When the context ends the whole process group is killed. A non-zero exit
// is returned as a *commandError that quotes the end of stderr.
func runCommand(ctx context.Context, log *slog.Logger, dir string, env []string, name string, args ...string) (stdout, stderr []byte, err error) {
	return runLimited(ctx, log, dir, env, 0, name, args...)
}

// memoryError is the cause of a run killed for its resident memory.
type memoryError struct {
	limit, rss int64
}

func (e *memoryError) Error() string {
	return fmt.Sprintf("resident memory %s exceeded -max-memory %s", formatBytes(e.rss), formatBytes(e.limit))
}

// runLimited is runCommand that also kills the process group when the
// process's resident memory exceeds maxRSS bytes (0: no limit). On a
// shared machine a runaway analysis is stopped before the kernel's OOM
// killer picks a victim. The check reads /proc and is a no-op elsewhere.
func runLimited(ctx context.Context, log *slog.Logger, dir string, env []string, maxRSS int64, name string, args ...string) (stdout, stderr []byte, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	killGroupOnCancel(cmd)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if err = cmd.Start(); err == nil {
		done := make(chan struct{})
		if maxRSS > 0 {
			go watchMemory(cmd.Process.Pid, maxRSS, done, cancel)
		}
		err = cmd.Wait()
		close(done)
	}
	log.Debug("command", "dir", dir, "cmd", name+" "+strings.Join(args, " "), "took", time.Since(start).Round(time.Millisecond), "err", err)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			err = fmt.Errorf("%w after %s", cause, time.Since(start).Round(time.Second))
		}
		return out.Bytes(), errb.Bytes(), &commandError{
			args:   append([]string{filepath.Base(name)}, args...),
			err:    err,
			stderr: tail(errb.String(), 12, 1500),
		}
	}
	return out.Bytes(), errb.Bytes(), nil
}

// watchMemory polls the resident memory of pid until done is closed and
// cancels with a *memoryError when it exceeds limit.
func watchMemory(pid int, limit int64, done <-chan struct{}, cancel context.CancelCauseFunc) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			rss, err := residentMemory(pid)
			if err != nil {
				return // no /proc, or the process is gone
			}
			if rss > limit {
				cancel(&memoryError{limit: limit, rss: rss})
				return
			}
		}
	}
}

// residentMemory reads VmRSS of pid from /proc, in bytes.
func residentMemory(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVMRSS(data)
}

// parseVMRSS extracts the VmRSS line ("VmRSS:\t  123456 kB") of a
// /proc/PID/status file.
func parseVMRSS(status []byte) (int64, error) {
	for _, line := range strings.Split(string(status), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected VmRSS line %q: %w", line, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("no VmRSS line")
}

// byteSize is a flag.Value for sizes such as 8GiB, 512MiB, 2G or 0.
type byteSize int64

var sizeUnits = []struct {
	suffix string
	factor int64
}{
	{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3},
	{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1},
}

func (b *byteSize) String() string { return formatBytes(int64(*b)) }

func (b *byteSize) Set(s string) error {
	num, factor := strings.TrimSpace(s), int64(1)
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, factor = strings.TrimSpace(n), u.factor
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return fmt.Errorf("invalid size %q: want a number with an optional unit (8GiB, 512MiB)", s)
	}
	*b = byteSize(v * float64(factor))
	return nil
}

// formatBytes prints n in GiB, MiB or bytes, with at most two decimals.
func formatBytes(n int64) string {
	trim := func(v float64) string {
		s := strconv.FormatFloat(v, 'f', 2, 64)
		return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
	}
	switch {
	case n == 0:
		return "0"
	case n >= 1<<30:
		return trim(float64(n)/(1<<30)) + "GiB"
	case n >= 1<<20:
		return trim(float64(n)/(1<<20)) + "MiB"
	default:
		return strconv.FormatInt(n, 10) + "B"
	}
}

// tail keeps the last maxLines lines and at most maxBytes bytes of s, for
// error messages.
func tail(s string, maxLines, maxBytes int) string {
	s = strings.TrimSpace(s)
	lines := strings.Split(s, "\n")
	if len(lines) > maxLines {
		lines = append([]string{"..."}, lines[len(lines)-maxLines:]...)
	}
	s = strings.Join(lines, "\n")
	if len(s) > maxBytes {
		s = "..." + s[len(s)-maxBytes:]
	}
	return s
}
