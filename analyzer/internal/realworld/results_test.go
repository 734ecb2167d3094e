package main

import (
	"strings"
	"testing"
)

// driverJSON has the shape printed by `mapleak -json` (the x/tools
// analysis driver): diagnostics for root packages, error objects for any
// package, nothing for clean packages.
const driverJSON = `{
	"example.com/m": {
		"mapleak": [
			{
				"posn": "/mod/m@v1.0.0/b.go:40:2",
				"end": "/mod/m@v1.0.0/b.go:40:20",
				"message": "second",
				"category": "cancel"
			},
			{
				"posn": "/mod/m@v1.0.0/a.go:12:3",
				"end": "/mod/m@v1.0.0/a.go:12:30",
				"message": "entry c.pending[id] is left behind when Call returns at a.go:20",
				"category": "error-path",
				"suggested_fixes": [{"message": "delete", "edits": [{"filename": "/mod/m@v1.0.0/a.go", "start": 1, "end": 1, "new": "x"}]}],
				"related": [{"posn": "/mod/m@v1.0.0/a.go:20:3", "end": "/mod/m@v1.0.0/a.go:20:9", "message": "leaking return"}]
			}
		]
	},
	"example.com/m/broken": {
		"buildssa": {"error": "analysis skipped due to errors in package"},
		"mapleak": {"error": "failed prerequisites: buildssa"}
	},
	"example.com/dep": {
		"ctrlflow": {"error": "boom"}
	}
}
`

func TestParseResults(t *testing.T) {
	res, err := ParseResults([]byte(driverJSON))
	if err != nil {
		t.Fatal(err)
	}
	ds := res.Diagnostics("example.com/m", "mapleak")
	if len(ds) != 2 {
		t.Fatalf("got %d diagnostics, want 2", len(ds))
	}
	first := ds[0] // sorted by file: a.go before b.go
	if first.File != "/mod/m@v1.0.0/a.go" || first.Pos != (Pos{12, 3}) || first.Category != "error-path" ||
		!strings.HasPrefix(first.Message, "entry c.pending[id]") || len(first.Related) != 1 || first.Related[0].Message != "leaking return" {
		t.Errorf("first diagnostic = %+v", first)
	}
	if ds[1].Pos != (Pos{40, 2}) || ds[1].Category != "cancel" {
		t.Errorf("second diagnostic = %+v", ds[1])
	}
	if got := res.Diagnostics("example.com/absent", "mapleak"); got != nil {
		t.Errorf("absent package: %v", got)
	}
	if errs := res.PackageErrors("example.com/m"); errs != nil {
		t.Errorf("clean package has errors %v", errs)
	}
	errs := res.PackageErrors("example.com/m/broken")
	if len(errs) != 2 || errs[0] != "buildssa: analysis skipped due to errors in package" || errs[1] != "mapleak: failed prerequisites: buildssa" {
		t.Errorf("PackageErrors(broken) = %q", errs)
	}
	others := res.OtherErrors(map[string]bool{"example.com/m": true, "example.com/m/broken": true})
	if len(others) != 1 || others[0] != "example.com/dep: ctrlflow: boom" {
		t.Errorf("OtherErrors = %q", others)
	}
}

func TestParseResultsEmptyTree(t *testing.T) {
	// No diagnostics anywhere: the driver prints an empty object.
	res, err := ParseResults([]byte("{}\n"))
	if err != nil || len(res) != 0 {
		t.Errorf("ParseResults({}) = %v, %v", res, err)
	}
}

func TestParseResultsRejects(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "  \n", "empty JSON output"},
		{"not JSON", "go: cannot find main module", "decode analyzer JSON"},
		{"truncated", `{"p": {"mapleak": [`, "decode analyzer JSON"},
		{"bad position", `{"p": {"mapleak": [{"posn": "-", "message": "m"}]}}`, `diagnostic of mapleak on p: invalid position "-"`},
		{"object without error", `{"p": {"mapleak": {"x": 1}}}`, `object without "error" field`},
		{"scalar result", `{"p": {"mapleak": 3}}`, "want a list of diagnostics or an error object"},
		{"wrong diagnostic type", `{"p": {"mapleak": [{"posn": 3}]}}`, "decode diagnostics of mapleak on p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseResults([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
