package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The module the command runs on: one leak found with the default
// settings, and one found only when -keys names its key.
const (
	goMod = "module example.com/leaky\n\ngo 1.26\n"

	leakyGo = `package leaky

type call struct{}

type Client struct {
	pending map[uint64]*call
	tickets map[string]*call
}

func write() error { return nil }

func (c *Client) Send(seq uint64) error {
	c.pending[seq] = &call{}
	if err := write(); err != nil {
		return err
	}
	return nil
}

func (c *Client) Book(ticket string) error {
	c.tickets[ticket] = &call{}
	if err := write(); err != nil {
		return err
	}
	return nil
}

func (c *Client) Done(seq uint64, ticket string) {
	delete(c.pending, seq)
	delete(c.tickets, ticket)
}
`
	seqMessage    = "pending[seq] is not deleted when returning at leaky.go:15 (error path)"
	ticketMessage = "tickets[ticket] is not deleted when returning at leaky.go:23 (error path)"
)

// A module whose cleanup and inserts happen in another package: go vet
// must carry mapleak's facts from package reg to package app.
var factsModule = map[string]string{
	"go.mod": "module example.com/facts\n\ngo 1.26\n",
	"reg/reg.go": `package reg

// Registry tracks waiters by request ID.
type Registry struct{ pending map[uint64]chan int }

// Add registers a waiter.
func (r *Registry) Add(id uint64) chan int {
	ch := make(chan int, 1)
	r.pending[id] = ch
	return ch
}

// Remove forgets a waiter.
func (r *Registry) Remove(id uint64) { delete(r.pending, id) }
`,
	"app/app.go": `package app

import "example.com/facts/reg"

func write() error { return nil }

func Leaky(r *reg.Registry, id uint64) error {
	ch := r.Add(id)
	if err := write(); err != nil {
		return err
	}
	<-ch
	return nil
}

func Clean(r *reg.Registry, id uint64) error {
	ch := r.Add(id)
	if err := write(); err != nil {
		r.Remove(id)
		return err
	}
	<-ch
	return nil
}
`,
}

const factsMessage = "app.go:8:13: the pending entry added by r.Add(id) is not deleted when returning at app.go:10 (error path)"

// build compiles the command into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mapleak")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// module writes the test module into a temporary directory.
func module(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"go.mod": goMod, "leaky.go": leakyGo} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// run runs a command in dir and returns its output and exit code.
func run(t *testing.T, dir, name string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off", "GO111MODULE=on")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return out.String(), errb.String(), code
}

func TestCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the command")
	}
	bin := build(t)
	dir := module(t)

	t.Run("standalone", func(t *testing.T) {
		_, stderr, code := run(t, dir, bin, "./...")
		if code != 3 {
			t.Errorf("exit code %d, want 3 (findings)\n%s", code, stderr)
		}
		if !strings.Contains(stderr, seqMessage) {
			t.Errorf("output lacks %q:\n%s", seqMessage, stderr)
		}
		if strings.Contains(stderr, ticketMessage) {
			t.Errorf("ticket reported without -keys:\n%s", stderr)
		}
	})

	t.Run("standalone -keys", func(t *testing.T) {
		_, stderr, code := run(t, dir, bin, "-keys=^ticket$", "./...")
		if code != 3 || !strings.Contains(stderr, ticketMessage) {
			t.Errorf("exit code %d, output:\n%s\nwant the ticket finding", code, stderr)
		}
	})

	t.Run("standalone -json", func(t *testing.T) {
		stdout, stderr, code := run(t, dir, bin, "-json", "./...")
		if code != 0 {
			t.Errorf("exit code %d, want 0 with -json\n%s", code, stderr)
		}
		// {"example.com/leaky": {"mapleak": [{"posn": ..., "message": ...}]}}
		var tree map[string]map[string][]struct {
			Posn     string `json:"posn"`
			Message  string `json:"message"`
			Category string `json:"category"`
		}
		if err := json.Unmarshal([]byte(stdout), &tree); err != nil {
			t.Fatalf("bad JSON: %v\n%s", err, stdout)
		}
		diags := tree["example.com/leaky"]["mapleak"]
		if len(diags) != 1 || diags[0].Message != seqMessage || diags[0].Category != "failure-path" {
			t.Errorf("diagnostics = %+v, want one failure-path finding %q", diags, seqMessage)
		}
	})

	t.Run("go vet", func(t *testing.T) {
		_, stderr, code := run(t, dir, "go", "vet", "-vettool="+bin, "./...")
		if code != 1 {
			t.Errorf("exit code %d, want 1\n%s", code, stderr)
		}
		if !strings.Contains(stderr, seqMessage) || strings.Contains(stderr, ticketMessage) {
			t.Errorf("go vet output:\n%s", stderr)
		}
	})

	t.Run("go vet -keys", func(t *testing.T) {
		_, stderr, code := run(t, dir, "go", "vet", "-vettool="+bin, "-keys=^ticket$", "./...")
		if code != 1 || !strings.Contains(stderr, ticketMessage) {
			t.Errorf("exit code %d, output:\n%s\nwant the ticket finding", code, stderr)
		}
	})

	t.Run("go vet bad flag", func(t *testing.T) {
		_, _, code := run(t, dir, "go", "vet", "-vettool="+bin, "-no-such-flag", "./...")
		if code == 0 {
			t.Error("go vet accepted an unknown flag")
		}
	})

	t.Run("-V=full", func(t *testing.T) {
		stdout, stderr, code := run(t, dir, bin, "-V=full")
		// go vet reads "<tool path> version ..." to key its cache.
		if f := strings.Fields(stdout); code != 0 || len(f) < 3 || filepath.Base(f[0]) != "mapleak" || f[1] != "version" {
			t.Errorf("-V=full: code %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})

	t.Run("-flags", func(t *testing.T) {
		stdout, _, code := run(t, dir, bin, "-flags")
		var flags []struct{ Name string }
		if err := json.Unmarshal([]byte(stdout), &flags); err != nil || code != 0 {
			t.Fatalf("-flags: code %d, %v\n%s", code, err, stdout)
		}
		names := make(map[string]bool)
		for _, f := range flags {
			names[f.Name] = true
		}
		for _, want := range []string{"keys", "maps", "track-all", "cleanup", "report-stale-ignores"} {
			if !names[want] {
				t.Errorf("-flags lacks %q: %s", want, stdout)
			}
		}
	})

	t.Run("go vet facts", func(t *testing.T) {
		fdir := t.TempDir()
		for name, content := range factsModule {
			path := filepath.Join(fdir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, args := range [][]string{{"vet", "-vettool=" + bin, "./..."}, {bin, "./..."}} {
			name, rest := "go", args
			if args[0] == bin {
				name, rest = bin, args[1:]
			}
			_, stderr, code := run(t, fdir, name, rest...)
			if code == 0 || !strings.Contains(stderr, factsMessage) || strings.Count(stderr, "is not deleted") != 1 {
				t.Errorf("%s %v: exit code %d, want exactly the finding %q in:\n%s", name, rest, code, factsMessage, stderr)
			}
		}
	})

	t.Run("-fix", func(t *testing.T) {
		fixDir := module(t)
		_, stderr, _ := run(t, fixDir, bin, "-fix", "./...")
		src, err := os.ReadFile(filepath.Join(fixDir, "leaky.go"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(src), "\t\tdelete(c.pending, seq)\n\t\treturn err") {
			t.Errorf("fix not applied (%s):\n%s", stderr, src)
		}
		if _, stderr, code := run(t, fixDir, bin, "./..."); code != 0 {
			t.Errorf("after -fix: exit code %d\n%s", code, stderr)
		}
	})
}
