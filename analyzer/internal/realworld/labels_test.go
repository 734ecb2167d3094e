package main

import (
	"strings"
	"testing"
)

const labelHeader = "target\tfile\tline\tcategory\tfunction\tlabel\treason\n"

func TestParseWildLabels(t *testing.T) {
	known := map[string]bool{"golang.org/x/net@v0.62.0": true, "std@go1.26.8": true}
	text := "# triage\n" + labelHeader +
		"golang.org/x/net@v0.62.0\thttp2/transport.go\t100\tcancel\tClientConn.roundTrip\tfalse\towner teardown removes it\n" +
		"\n" +
		"std@go1.26.8\tnet/rpc/jsonrpc/client.go\t54\tfailure-path\t\ttrue\tno response can come\r\n"
	ls, err := ParseWildLabels(strings.NewReader(text), "l.tsv", known)
	if err != nil {
		t.Fatal(err)
	}
	want := []WildLabel{
		{Line: 3, Key: FindingKey{"golang.org/x/net@v0.62.0", "http2/transport.go", 100, "cancel"}, Function: "ClientConn.roundTrip", Label: TriageFalse, Reason: "owner teardown removes it"},
		{Line: 5, Key: FindingKey{"std@go1.26.8", "net/rpc/jsonrpc/client.go", 54, "failure-path"}, Label: TriageTrue, Reason: "no response can come"},
	}
	if len(ls) != len(want) {
		t.Fatalf("got %+v", ls)
	}
	for i := range ls {
		if ls[i] != want[i] {
			t.Errorf("label %d:\n got %+v\nwant %+v", i, ls[i], want[i])
		}
	}

	line := func(fields ...string) string { return labelHeader + strings.Join(fields, "\t") + "\n" }
	good := []string{"std@go1.26.8", "a.go", "3", "timeout", "F", "true", "why"}
	with := func(i int, v string) string {
		f := append([]string(nil), good...)
		f[i] = v
		return line(f...)
	}
	bad := []struct{ name, in, want string }{
		{"empty", "", "l.tsv: empty labels file"},
		{"missing column", "target\tfile\tline\tcategory\tlabel\treason\n", "l.tsv:1: header: missing column(s) function"},
		{"short", labelHeader + "std@go1.26.8\ta.go\n", "l.tsv:2: label has 2 tab-separated fields, the header has 7"},
		{"bad label", with(5, "leak"), `l.tsv:2: label "leak": want true, false or debatable`},
		{"empty reason", with(6, ""), "l.tsv:2: column reason is empty"},
		{"bad line", with(2, "0"), `l.tsv:2: line "0": want a positive line number`},
		{"absolute file", with(1, "/a.go"), `file "/a.go": want a slash path`},
		{"no version", with(0, "std"), `target "std": want module@version`},
		{"unknown target", with(0, "example.com/x@v1.0.0"), "l.tsv:2: target example.com/x@v1.0.0 is not in the wild list"},
		{"duplicate", line(good...) + strings.Join(good, "\t") + "\n", "l.tsv:3: std@go1.26.8 a.go:3 [timeout] is labelled twice (first on line 2)"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWildLabels(strings.NewReader(tt.in), "l.tsv", known)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestProjectWildLabels(t *testing.T) {
	targets, err := readWildList("../../../testdata/realworld/wild.txt")
	if err != nil {
		t.Fatal(err)
	}
	labels, err := readWildLabels("../../../testdata/realworld/wild-labels.tsv", false, targets)
	if err != nil {
		t.Fatalf("the project's labels do not parse: %v", err)
	}
	if len(labels) == 0 {
		t.Error("no labels")
	}
}
