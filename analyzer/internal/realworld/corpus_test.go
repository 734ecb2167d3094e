package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const corpusHeader = "id\tmodule\tversion\tpackage_import_path\tfile\tfunction\tlabel\trepo\tpair\n"

func corpusRow(id, ver, label, repo, pair string) string {
	return row(id, "github.com/nats-io/nats.go", ver, "github.com/nats-io/nats.go", "nats.go", "Conn.Request", label, repo, pair)
}

func TestParseManifestRepoAndPair(t *testing.T) {
	text := corpusHeader +
		corpusRow("n-before", "v1.10.0", "leak", "github.com/nats-io/nats.go", "n-after") +
		corpusRow("n-after", "v1.11.0", "ok", "github.com/nats-io/nats.go", "n-before") +
		corpusRow("n-alone", "v1.12.0", "ok", "github.com/nats-io/nats.go", "") +
		corpusRow("n-oneway", "v1.9.0", "leak", "github.com/nats-io/nats.go", "n-alone")
	rows, err := ParseManifest(strings.NewReader(text), "corpus.tsv")
	if err != nil {
		t.Fatal(err)
	}
	if rows[0].Repo != "github.com/nats-io/nats.go" || rows[0].Pair != "n-after" || rows[1].Pair != "n-before" || rows[2].Pair != "" {
		t.Errorf("rows = %+v", rows)
	}

	bad := []struct{ name, in, want string }{
		{"empty repo", corpusHeader + corpusRow("a", "v1.10.0", "leak", "", ""), `corpus.tsv:2: row "a": column repo is empty`},
		{"bad repo", corpusHeader + corpusRow("a", "v1.10.0", "leak", "nats.go", ""), `corpus.tsv:2: row "a": repo "nats.go": want host/path`},
		{"self pair", corpusHeader + corpusRow("a", "v1.10.0", "leak", "github.com/nats-io/nats.go", "a"), `corpus.tsv: line 2: row "a" is its own pair`},
		{"unknown pair", corpusHeader + corpusRow("a", "v1.10.0", "leak", "github.com/nats-io/nats.go", "b"), `corpus.tsv: line 2: row "a": pair "b" is not a row of this manifest`},
		{"pair across repos", corpusHeader +
			corpusRow("a", "v1.10.0", "leak", "github.com/nats-io/nats.go", "b") +
			corpusRow("b", "v1.11.0", "ok", "github.com/nats-io/go-nats", ""), "come from different repositories"},
		{"asymmetric pair", corpusHeader +
			corpusRow("a", "v1.10.0", "leak", "github.com/nats-io/nats.go", "b") +
			corpusRow("b", "v1.11.0", "ok", "github.com/nats-io/nats.go", "c") +
			corpusRow("c", "v1.12.0", "ok", "github.com/nats-io/nats.go", ""), `line 2: row "a" names pair "b", which names "c"`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseManifest(strings.NewReader(tt.in), "corpus.tsv")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestManifestsAndHalves(t *testing.T) {
	dir := t.TempDir()
	visible := writeFile(t, dir, "visible.tsv", header+goodRow)
	corpus := writeFile(t, dir, "corpus.tsv", corpusHeader+
		corpusRow("c-1", "v1.10.0", "leak", "github.com/nats-io/nats.go", "")+
		row("c-2", "github.com/lib/pq", "v1.10.0", "github.com/lib/pq", "conn.go", "conn.query", "ok", "github.com/lib/pq", ""))
	rows, err := readManifests([]string{visible, corpus})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].Set != "visible" || rows[1].Set != "corpus" || !needsSplit(rows) || needsSplit(rows[:1]) {
		t.Fatalf("rows = %+v", rows)
	}
	if _, err := readManifests([]string{visible, visible}); err == nil || !strings.Contains(err.Error(), `row id "nats-03" is also in`) {
		t.Errorf("duplicate id across manifests: %v", err)
	}

	split := NewSplit()
	split.Extend(map[string]int{"github.com/nats-io/nats.go": 1}, 1)
	if err := assignRowHalves(rows, split, "split.tsv"); err == nil || !strings.Contains(err.Error(), "split.tsv lacks the repositories github.com/lib/pq") {
		t.Fatalf("missing repository: %v", err)
	}
	split.set("github.com/nats-io/nats.go", HalfDev)
	split.set("github.com/lib/pq", HalfTest)
	if err := assignRowHalves(rows, split, "split.tsv"); err != nil {
		t.Fatal(err)
	}
	ids := func(rs []Row) string {
		var s []string
		for _, r := range rs {
			s = append(s, r.ID)
		}
		return strings.Join(s, ",")
	}
	for sel, want := range map[halfSelection]string{"all": "nats-03,c-1,c-2", "dev": "nats-03,c-1", "test": "nats-03,c-2"} {
		if got := ids(selectRows(rows, sel, nil)); got != want {
			t.Errorf("-half %s: %s, want %s", sel, got, want)
		}
	}
	if got := ids(selectRows(rows, "all", regexp.MustCompile("^c-"))); got != "c-1,c-2" {
		t.Errorf("-only ^c-: %s", got)
	}
}

func TestExtendSplitCommand(t *testing.T) {
	dir := t.TempDir()
	corpus := writeFile(t, dir, "corpus.tsv", corpusHeader+
		corpusRow("c-1", "v1.10.0", "leak", "github.com/nats-io/nats.go", "")+
		row("c-2", "github.com/lib/pq", "v1.10.0", "github.com/lib/pq", "conn.go", "conn.query", "ok", "github.com/lib/pq", ""))
	list := writeFile(t, dir, "wild.txt", "github.com/lib/pq@v1.12.3 github.com/lib/pq\nstd@go1.26.8 repo=github.com/golang/go net/...\n")
	splitPath := filepath.Join(dir, "split.tsv")
	o := &options{manifests: []string{corpus}, wildList: list, splitSeed: 1}
	var out strings.Builder
	if code, err := extendSplit(o, dir, splitPath, &out); code != exitOK || err != nil {
		t.Fatalf("exit %d: %v", code, err)
	}
	if !strings.Contains(out.String(), "split.tsv: 3 repositories added (seed 1), 3 in all:") {
		t.Errorf("output:\n%s", out.String())
	}
	first, err := os.ReadFile(splitPath)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(splitPath); info.Mode().Perm() != 0o644 {
		t.Errorf("split file mode %v", info.Mode().Perm())
	}
	// A second run with one more repository keeps the first three lines.
	writeFile(t, dir, "wild.txt", "github.com/lib/pq@v1.12.3 github.com/lib/pq\ngithub.com/gomodule/redigo@v1.9.3 github.com/gomodule/redigo\n")
	out.Reset()
	if code, err := extendSplit(o, dir, splitPath, &out); code != exitOK || err != nil {
		t.Fatalf("exit %d: %v", code, err)
	}
	second, _ := os.ReadFile(splitPath)
	for _, line := range strings.Split(strings.TrimSpace(string(first)), "\n") {
		if !strings.Contains(string(second), line+"\n") {
			t.Errorf("line %q lost or changed:\n%s", line, second)
		}
	}
	if !strings.Contains(out.String(), "1 repositories added") || !strings.Contains(string(second), "github.com/gomodule/redigo\t") {
		t.Errorf("output:\n%s\nsplit:\n%s", out.String(), second)
	}
}
