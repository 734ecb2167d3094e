package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   ", nil},
		{"-track-all", []string{"-track-all"}},
		{" -track-all \t -report-stale-ignores ", []string{"-track-all", "-report-stale-ignores"}},
		{`-keys '^(id|seq)$'`, []string{"-keys", "^(id|seq)$"}},
		{`-keys="a b" -maps=x`, []string{"-keys=a b", "-maps=x"}},
		{`-cleanup 'it'"'"'s'`, []string{"-cleanup", "it's"}},
		{`-keys a\ b`, []string{"-keys", "a b"}},
		{`-keys '\d+'`, []string{"-keys", `\d+`}},
		{`-keys ""`, []string{"-keys", ""}},
	}
	for _, tt := range tests {
		got, err := splitArgs(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("splitArgs(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{`-keys 'open`, `-keys "open`, `trailing\`} {
		if _, err := splitArgs(bad); err == nil {
			t.Errorf("splitArgs(%q) accepted", bad)
		}
	}
}

func TestWithEnv(t *testing.T) {
	env := withEnv([]string{"GOFLAGS=-mod=vendor", "HOME=/root", "GOSUMDB=sum.golang.org"}, "GOFLAGS=-mod=mod", "GOSUMDB=off", "GOWORK=off")
	want := []string{"HOME=/root", "GOFLAGS=-mod=mod", "GOSUMDB=off", "GOWORK=off"}
	if !slices.Equal(env, want) {
		t.Errorf("withEnv = %q, want %q", env, want)
	}
}

func TestTail(t *testing.T) {
	lines := strings.Repeat("x\n", 30) + "last"
	got := tail(lines, 3, 1000)
	if got != "...\nx\nx\nlast" {
		t.Errorf("tail lines = %q", got)
	}
	if got := tail(strings.Repeat("y", 50), 5, 10); got != "..."+strings.Repeat("y", 10) {
		t.Errorf("tail bytes = %q", got)
	}
}

func TestParseFlags(t *testing.T) {
	var sb strings.Builder
	o, err := parseFlags([]string{"-min-precision", "0.9", "-min-recall=0.9", "-mapleak-flags=-track-all", "-parallel", "3"}, &sb)
	if err != nil || o.minPrecision != 0.9 || o.minRecall != 0.9 || o.mapleakFlags != "-track-all" || o.parallel != 3 || o.maxErrors != 0 {
		t.Errorf("parseFlags = %+v, %v", o, err)
	}
	for _, bad := range [][]string{
		{"-parallel", "0"},
		{"-min-recall", "1.5"},
		{"-sample", "5"}, // only with -wild
		{"-timeout", "0s"},
		{"extra-arg"},
		{"-no-such-flag"},
	} {
		if _, err := parseFlags(bad, &sb); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
	if _, err := parseFlags([]string{"-wild", "-sample", "50", "-seed", "7"}, &sb); err != nil {
		t.Errorf("-wild -sample rejected: %v", err)
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tmapleak\nVmPeak:\t 9999 kB\nVmRSS:\t  123456 kB\nThreads:\t8\n"
	if got, err := parseVMRSS([]byte(status)); err != nil || got != 123456*1024 {
		t.Errorf("parseVMRSS = %d, %v", got, err)
	}
	for _, bad := range []string{"Name:\tx\n", "VmRSS:\t12 MB\n", "VmRSS:\tlots kB\n"} {
		if _, err := parseVMRSS([]byte(bad)); err == nil {
			t.Errorf("parseVMRSS(%q) accepted", bad)
		}
	}
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		str  string
	}{
		{"8GiB", 8 << 30, "8GiB"},
		{"1.5GiB", 3 << 29, "1.5GiB"},
		{"512MiB", 512 << 20, "512MiB"},
		{"2G", 2 << 30, "2GiB"},
		{"3GB", 3e9, "2.79GiB"},
		{"6.0106GiB", 6453832607, "6.01GiB"},
		{"100M", 100 << 20, "100MiB"},
		{"0", 0, "0"},
		{"4096", 4096, "4096B"},
	}
	for _, tt := range tests {
		var b byteSize
		if err := b.Set(tt.in); err != nil || int64(b) != tt.want || b.String() != tt.str {
			t.Errorf("Set(%q) = %d %q, %v; want %d %q", tt.in, int64(b), b.String(), err, tt.want, tt.str)
		}
	}
	for _, bad := range []string{"", "lots", "-1GiB", "8 TiB"} {
		var b byteSize
		if err := b.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
}

func TestRunLimitedKillsOnMemory(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc: the memory limit is not enforced here")
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep command")
	}
	log := slog.New(slog.DiscardHandler)
	start := time.Now()
	_, _, err = runLimited(context.Background(), log, t.TempDir(), os.Environ(), 1, sleep, "30")
	var memErr *memoryError
	if !errors.As(err, &memErr) {
		t.Fatalf("err = %v, want a memory error", err)
	}
	if !strings.Contains(err.Error(), "exceeded -max-memory") || time.Since(start) > 20*time.Second {
		t.Errorf("err = %v after %s", err, time.Since(start))
	}
	// Without a limit the same command is not watched.
	if _, _, err := runLimited(context.Background(), log, t.TempDir(), os.Environ(), 0, sleep, "0.1"); err != nil {
		t.Errorf("unlimited run: %v", err)
	}
}
