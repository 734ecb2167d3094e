package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"

	"go.uber.org/goleak"
)

// envRunMain makes the test binary run mamsync's main instead of the tests,
// so that tests can run mamsync as a subprocess (to send it signals and
// check its exit status) without building it first.
const envRunMain = "MAMSYNC_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		main()
	}
	goleak.VerifyTestMain(m)
}

// result is how a mamsync run ended.
type result struct {
	code           int
	stdout, stderr string
}

// runInProcess runs mamsync in the test's process with the password in the
// environment it sees.
func runInProcess(t *testing.T, password string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(name string) string {
		if name == passwordEnv {
			return password
		}
		return ""
	}
	code := run(context.Background(), args, console{stdout: &stdout, stderr: &stderr, getenv: getenv})
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// mamsyncCommand returns a command that runs mamsync (this test binary,
// see TestMain) with args and the password in MAMSYNC_PASSWORD.
func mamsyncCommand(ctx context.Context, t *testing.T, password string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), envRunMain+"=1", passwordEnv+"="+password)
	return cmd
}

// runSubprocess runs mamsync as a subprocess and waits for it.
func runSubprocess(ctx context.Context, t *testing.T, password string, args ...string) result {
	t.Helper()
	cmd := mamsyncCommand(ctx, t, password, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
	default:
		t.Fatalf("run mamsync: %v", err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}
