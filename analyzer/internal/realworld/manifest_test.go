package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const header = "id\tmodule\tversion\tpackage_import_path\tfile\tfunction\tmap_expr\tkey_expr\tlabel\tkind\tevidence\tline\n"

func row(fields ...string) string { return strings.Join(fields, "\t") + "\n" }

var goodRow = row("nats-03", "github.com/nats-io/go-nats", "v1.3.0", "github.com/nats-io/go-nats", "nats.go", "Conn.Request", "nc.respMap", "token", "leak", "error-path", "why", "2057")

func TestParseManifestVisibleSet(t *testing.T) {
	path := filepath.Join("..", "..", "..", "testdata", "realworld", "visible.tsv")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := ParseManifest(f, path)
	if err != nil {
		t.Fatalf("the project's own manifest does not parse: %v", err)
	}
	labels := map[Label]int{}
	for _, r := range rows {
		labels[r.Label]++
		if r.InsLine == 0 {
			t.Errorf("row %s: line column not parsed", r.ID)
		}
	}
	if len(rows) < 20 || labels[LabelLeak] == 0 || labels[LabelOK] == 0 {
		t.Errorf("got %d rows with labels %v; want the visible set (both labels)", len(rows), labels)
	}
	std := rows[indexOfID(t, rows, "std-01")]
	if std.Module != stdModule || std.Package != "net/rpc" || std.File != "net/rpc/client.go" {
		t.Errorf("std-01 = %+v", std)
	}
	dubbo := rows[indexOfID(t, rows, "dubbo-03")]
	if dubbo.Function != "heartbeat" || packageDir(dubbo) != "remoting/getty" {
		t.Errorf("dubbo-03: function %q, package dir %q", dubbo.Function, packageDir(dubbo))
	}
}

func indexOfID(t *testing.T, rows []Row, id string) int {
	t.Helper()
	for i, r := range rows {
		if r.ID == id {
			return i
		}
	}
	t.Fatalf("no row %s", id)
	return -1
}

func TestParseManifestAccepts(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []Row
	}{{
		name: "comments blank lines and CRLF",
		text: "# comment\n\n" + strings.ReplaceAll(header, "\n", "\r\n") + "\n# another\n" + strings.ReplaceAll(goodRow, "\n", "\r\n"),
		want: []Row{{Line: 6, ID: "nats-03", Module: "github.com/nats-io/go-nats", Version: "v1.3.0", Package: "github.com/nats-io/go-nats", File: "nats.go", Function: "Conn.Request", Label: LabelLeak, Kind: "error-path", InsLine: 2057}},
	}, {
		name: "minimal columns in another order, major version module, plain function",
		text: "label\tid\tfunction\tfile\tpackage_import_path\tversion\tmodule\n" +
			row("ok", "d-1", "heartbeat", "remoting/getty/listener.go", "dubbo.apache.org/dubbo-go/v3/remoting/getty", "v3.3.2", "dubbo.apache.org/dubbo-go/v3"),
		want: []Row{{Line: 2, ID: "d-1", Module: "dubbo.apache.org/dubbo-go/v3", Version: "v3.3.2", Package: "dubbo.apache.org/dubbo-go/v3/remoting/getty", File: "remoting/getty/listener.go", Function: "heartbeat", Label: LabelOK}},
	}, {
		name: "std row and pseudo-version",
		text: header +
			row("s", "std", "go1.26.8", "net/rpc", "net/rpc/client.go", "Client.send", "", "", "ok", "", "", "") +
			row("p", "github.com/nats-io/go-nats", "v1.2.3-0.20170601154709-d4ca4c8b588d", "github.com/nats-io/go-nats", "context.go", "Conn.RequestWithContext", "", "", "leak", "cancel", "", "46"),
		want: []Row{
			{Line: 2, ID: "s", Module: "std", Version: "go1.26.8", Package: "net/rpc", File: "net/rpc/client.go", Function: "Client.send", Label: LabelOK},
			{Line: 3, ID: "p", Module: "github.com/nats-io/go-nats", Version: "v1.2.3-0.20170601154709-d4ca4c8b588d", Package: "github.com/nats-io/go-nats", File: "context.go", Function: "Conn.RequestWithContext", Label: LabelLeak, Kind: "cancel", InsLine: 46},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseManifest(strings.NewReader(tt.text), "m.tsv")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d rows, want %d: %+v", len(got), len(tt.want), got)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("row %d:\n got %+v\nwant %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseManifestRejects(t *testing.T) {
	// Each bad manifest must fail with an error that names the file, the
	// line and the problem.
	replace := func(old, new string) string { return header + strings.Replace(goodRow, old, new, 1) }
	tests := []struct {
		name, text, want string
	}{
		{"empty", "", "m.tsv: empty manifest"},
		{"header only", header, "m.tsv: manifest has a header but no rows"},
		{"missing column", "id\tmodule\tversion\tfile\tfunction\tlabel\n", "m.tsv:1: header: missing column(s) package_import_path"},
		{"duplicate column", "id\tid\n", "m.tsv:1: header: duplicate column \"id\""},
		{"short row", header + "x\ty\n", "m.tsv:2: row has 2 tab-separated fields, the header has 12"},
		{"spaces instead of tabs", header + strings.ReplaceAll(goodRow, "\t", "    "), "m.tsv:2: row has 1 tab-separated fields"},
		{"bad label", replace("\tleak\t", "\tleaky\t"), `m.tsv:2: row "nats-03": label "leaky": want leak or ok`},
		{"empty function", replace("Conn.Request", ""), `m.tsv:2: row "nats-03": column function is empty`},
		{"bad version", replace("v1.3.0", "1.3.0"), `m.tsv:2: row "nats-03": module/version`},
		{"bad std version", header + row("s", "std", "1.26", "net/rpc", "net/rpc/client.go", "Client.send", "", "", "ok", "", "", ""), "needs a Go version"},
		{"std row with module package", header + row("s", "std", "go1.26.8", "github.com/x/y", "github.com/x/y/a.go", "F", "", "", "ok", "", "", ""), "not a standard-library import path"},
		{"package outside module", replace("\tgithub.com/nats-io/go-nats\tnats.go", "\tgithub.com/nats-io/go-natsx\tnats.go"), `package "github.com/nats-io/go-natsx" is not inside module`},
		{"file outside package dir", replace("nats.go\tConn", "sub/nats.go\tConn"), `file "sub/nats.go" is not in the directory "." of package`},
		{"absolute file", replace("nats.go\tConn", "/nats.go\tConn"), "want a clean slash-separated path"},
		{"test file", replace("nats.go\tConn", "nats_test.go\tConn"), "want a non-test .go file"},
		{"three-part function", replace("Conn.Request", "a.Conn.Request"), `function "a.Conn.Request": want Func or Recv.Method`},
		{"pointer in function", replace("Conn.Request", "*Conn.Request"), `receiver "*Conn" is not an identifier`},
		{"bad line", replace("\t2057", "\tl2057"), `line "l2057": want a positive line number`},
		{"id with space", replace("nats-03", "nats 03"), "must not contain spaces"},
		{"duplicate id", header + goodRow + goodRow, `m.tsv:3: duplicate row id "nats-03" (first on line 2)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseManifest(strings.NewReader(tt.text), "m.tsv")
			if err == nil {
				t.Fatalf("accepted; want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tt.want)
			}
		})
	}
}

func TestGroupJobs(t *testing.T) {
	rows := []Row{
		{ID: "a", Module: "m", Version: "v1.0.0", Package: "m/p"},
		{ID: "b", Module: "std", Version: "go1.26.8", Package: "net/rpc"},
		{ID: "c", Module: "m", Version: "v1.0.0", Package: "m/q"},
		{ID: "d", Module: "m", Version: "v1.1.0", Package: "m/p"},
		{ID: "e", Module: "m", Version: "v1.0.0", Package: "m/p"},
	}
	jobs := groupJobs(rows)
	if len(jobs) != 3 {
		t.Fatalf("got %d jobs, want 3", len(jobs))
	}
	j := jobs[0]
	if j.module != "m" || j.version != "v1.0.0" || strings.Join(j.packages, ",") != "m/p,m/q" || len(j.rows) != 3 || j.rows[2] != 4 {
		t.Errorf("first job = %+v", *j)
	}
	if jobs[1].module != "std" || jobs[2].version != "v1.1.0" {
		t.Errorf("jobs out of order: %+v %+v", *jobs[1], *jobs[2])
	}
}
