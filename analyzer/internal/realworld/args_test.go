package main

import (
	"slices"
	"strings"
	"testing"
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
