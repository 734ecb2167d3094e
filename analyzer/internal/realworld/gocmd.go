package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
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
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	killGroupOnCancel(cmd)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err = cmd.Run()
	log.Debug("command", "dir", dir, "cmd", name+" "+strings.Join(args, " "), "took", time.Since(start).Round(time.Millisecond), "err", err)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = fmt.Errorf("%w after %s", ctxErr, time.Since(start).Round(time.Second))
		}
		return out.Bytes(), errb.Bytes(), &commandError{
			args:   append([]string{filepath.Base(name)}, args...),
			err:    err,
			stderr: tail(errb.String(), 12, 1500),
		}
	}
	return out.Bytes(), errb.Bytes(), nil
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
