package main

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseSplit(t *testing.T) {
	text := "# comment\n\nrepo\thalf\ngithub.com/a/b\tdev\r\ngithub.com/c/d\ttest\n"
	s, err := ParseSplit(strings.NewReader(text), "split.tsv")
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := s.Half("github.com/a/b"); !ok || h != HalfDev {
		t.Errorf("a/b = %q, %v", h, ok)
	}
	if h, ok := s.Half("github.com/c/d"); !ok || h != HalfTest {
		t.Errorf("c/d = %q, %v", h, ok)
	}
	if _, ok := s.Half("github.com/e/f"); ok {
		t.Error("unknown repo found")
	}
	if dev, test := s.Counts(); s.Len() != 2 || dev != 1 || test != 1 {
		t.Errorf("len %d, counts %d/%d", s.Len(), dev, test)
	}

	bad := []struct{ name, in, want string }{
		{"empty", "# nothing\n", "split.tsv: empty split: no header line"},
		{"wrong header", "repository\thalf\n", `split.tsv:1: want the header "repo<TAB>half"`},
		{"bad half", "repo\thalf\ngithub.com/a/b\ttrain\n", `split.tsv:2: half "train": want dev or test`},
		{"three fields", "repo\thalf\ngithub.com/a/b\tdev\tx\n", "split.tsv:2: want \"repo<TAB>half\""},
		{"no host", "repo\thalf\nnats-io/nats.go\tdev\n", `split.tsv:2: repo "nats-io/nats.go": want host/path`},
		{"duplicate", "repo\thalf\ngithub.com/a/b\tdev\ngithub.com/a/b\ttest\n", "split.tsv:3: repo github.com/a/b is listed twice (first on line 2)"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSplit(strings.NewReader(tt.in), "split.tsv")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func repos(n int, prefix string) map[string]int {
	m := make(map[string]int, n)
	for i := range n {
		m[fmt.Sprintf("github.com/%s/r%02d", prefix, i)] = 1
	}
	return m
}

func TestSplitExtend(t *testing.T) {
	first := repos(31, "o")
	a := NewSplit()
	added := a.Extend(first, 1)
	if len(added) != 31 {
		t.Fatalf("added %d, want 31", len(added))
	}
	if dev, test := a.Counts(); dev-test > 1 || test-dev > 1 {
		t.Errorf("unbalanced: %d dev, %d test", dev, test)
	}

	// Deterministic: the same seed and repositories give the same halves,
	// whatever the order of the map; another seed gives another split.
	b := NewSplit()
	b.Extend(repos(31, "o"), 1)
	c := NewSplit()
	c.Extend(first, 2)
	differ := false
	for r := range first {
		ha, _ := a.Half(r)
		hb, _ := b.Half(r)
		hc, _ := c.Half(r)
		if ha != hb {
			t.Errorf("%s: %s then %s with the same seed", r, ha, hb)
		}
		differ = differ || ha != hc
	}
	if !differ {
		t.Error("seeds 1 and 2 gave the same split")
	}

	// Extending never moves a repository and keeps the halves even.
	before := make(map[string]Half)
	for r := range first {
		before[r], _ = a.Half(r)
	}
	more := repos(20, "p")
	for r := range first {
		more[r] = 1 // already there: ignored
	}
	added = a.Extend(more, 1)
	if len(added) != 20 {
		t.Errorf("second extension added %d, want 20", len(added))
	}
	for r, h := range before {
		if got, _ := a.Half(r); got != h {
			t.Errorf("%s moved from %s to %s", r, h, got)
		}
	}
	if dev, test := a.Counts(); dev-test > 1 || test-dev > 1 {
		t.Errorf("unbalanced after extension: %d dev, %d test", dev, test)
	}
	if again := a.Extend(more, 1); len(again) != 0 {
		t.Errorf("a third extension with nothing new added %v", again)
	}
}

func TestSplitExtendWeights(t *testing.T) {
	// A heavy repository is balanced by several light ones.
	s := NewSplit()
	s.Extend(map[string]int{"github.com/big/one": 6, "github.com/s/a": 1, "github.com/s/b": 2, "github.com/s/c": 3, "github.com/s/d": 1}, 3)
	load := map[Half]int{}
	w := map[string]int{"github.com/big/one": 6, "github.com/s/a": 1, "github.com/s/b": 2, "github.com/s/c": 3, "github.com/s/d": 1}
	for r, n := range w {
		h, _ := s.Half(r)
		load[h] += n
	}
	if d := load[HalfDev] - load[HalfTest]; d > 6 || d < -6 {
		t.Errorf("weights %v: dev %d, test %d", w, load[HalfDev], load[HalfTest])
	}
	if load[HalfDev] == 0 || load[HalfTest] == 0 {
		t.Errorf("one half is empty: %v", load)
	}
}

func TestSplitWriteRoundTrip(t *testing.T) {
	s := NewSplit()
	s.Extend(repos(5, "w"), 1)
	var sb strings.Builder
	if err := s.Write(&sb); err != nil {
		t.Fatal(err)
	}
	back, err := ParseSplit(strings.NewReader(sb.String()), "w.tsv")
	if err != nil {
		t.Fatalf("written split does not parse: %v\n%s", err, sb.String())
	}
	for r := range repos(5, "w") {
		h1, _ := s.Half(r)
		h2, ok := back.Half(r)
		if !ok || h1 != h2 {
			t.Errorf("%s: wrote %s, read %s", r, h1, h2)
		}
	}
	if !strings.Contains(sb.String(), "repo\thalf\ngithub.com/w/r00\t") {
		t.Errorf("not sorted by repository:\n%s", sb.String())
	}
}

func TestSplitIgnoresCase(t *testing.T) {
	s, err := ParseSplit(strings.NewReader("repo\thalf\ngithub.com/SagerNet/sing-box\tdev\n"), "split.tsv")
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := s.Half("github.com/sagernet/sing-box"); !ok || h != HalfDev {
		t.Errorf("lower-case spelling: %q, %v", h, ok)
	}
	if added := s.Extend(map[string]int{"github.com/sagernet/sing-box": 2, "github.com/Azure/go-amqp": 1, "github.com/azure/go-amqp": 1}, 1); len(added) != 1 ||
		added[0].Repo != "github.com/Azure/go-amqp" || added[0].Weight != 2 {
		t.Errorf("added %+v, want github.com/Azure/go-amqp once with weight 2", added)
	}
	var sb strings.Builder
	if err := s.Write(&sb); err != nil {
		t.Fatal(err)
	}
	if got := sb.String(); !strings.Contains(got, "repo\thalf\ngithub.com/Azure/go-amqp\t") || !strings.Contains(got, "\ngithub.com/SagerNet/sing-box\tdev\n") {
		t.Errorf("written:\n%s", got)
	}
	if _, err := ParseSplit(strings.NewReader("repo\thalf\ngithub.com/a/b\tdev\ngithub.com/A/B\ttest\n"), "split.tsv"); err == nil ||
		!strings.Contains(err.Error(), "split.tsv:3: repo github.com/A/B is listed twice (first on line 2)") {
		t.Errorf("case-only duplicate: %v", err)
	}
}

func TestHalfSelection(t *testing.T) {
	for _, bad := range []string{"", "train", "Dev"} {
		if _, err := parseHalfSelection(bad); err == nil {
			t.Errorf("-half %q accepted", bad)
		}
	}
	dev, _ := parseHalfSelection("dev")
	all, _ := parseHalfSelection("all")
	if !dev.includes(HalfDev) || dev.includes(HalfTest) || !dev.includes("") {
		t.Error("dev selection wrong")
	}
	if !all.includes(HalfDev) || !all.includes(HalfTest) || !all.includes("") {
		t.Error("all selection wrong")
	}
}

func TestProjectSplitCoversWildList(t *testing.T) {
	split, err := readSplit("../../../testdata/realworld/split.tsv")
	if err != nil {
		t.Fatal(err)
	}
	targets, err := readWildList("../../../testdata/realworld/wild.txt")
	if err != nil {
		t.Fatal(err)
	}
	if err := assignTargetHalves(targets, split, "split.tsv"); err != nil {
		t.Error(err)
	}
	if err := assignTargetHalves([]WildTarget{{Module: "example.com/x", Repo: "example.com/x"}}, split, "split.tsv"); err == nil ||
		!strings.Contains(err.Error(), "split.tsv lacks the repositories example.com/x: add them with -extend-split") {
		t.Errorf("missing repository: %v", err)
	}
}
