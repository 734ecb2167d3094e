package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// Diagnostic is one mapleak finding as printed by `mapleak -json`.
type Diagnostic struct {
	Category string    `json:"category,omitempty"`
	Posn     string    `json:"posn"`
	End      string    `json:"end"`
	Message  string    `json:"message"`
	Related  []Related `json:"related,omitempty"`

	// Filled by ParseResults from Posn.
	File string `json:"-"`
	Pos  Pos    `json:"-"`
}

// Related is a secondary position of a Diagnostic.
type Related struct {
	Posn    string `json:"posn"`
	End     string `json:"end"`
	Message string `json:"message"`
}

// PackageResult is what one analyzer reported on one package: either
// diagnostics or an error (for example "analysis skipped due to errors in
// package").
type PackageResult struct {
	Diagnostics []Diagnostic
	Err         string
}

// Results maps package ID to analyzer name to result, the JSON tree of the
// golang.org/x/tools analysis drivers:
//
//	{"pkgpath": {"mapleak": [{"posn": "f.go:1:2", "message": "...", "category": "..."}]}}
//	{"pkgpath": {"buildssa": {"error": "..."}}}
//
// Packages with no diagnostics and no error are absent.
type Results map[string]map[string]PackageResult

// ParseResults decodes the -json output of a singlechecker or multichecker.
// Diagnostics come back sorted by file and position.
func ParseResults(data []byte) (Results, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fmt.Errorf("empty JSON output")
	}
	var raw map[string]map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("decode analyzer JSON: %w", err)
	}
	out := make(Results, len(raw))
	for pkg, byAnalyzer := range raw {
		out[pkg] = make(map[string]PackageResult, len(byAnalyzer))
		for name, msg := range byAnalyzer {
			var res PackageResult
			switch t := bytes.TrimSpace(msg); {
			case len(t) > 0 && t[0] == '[':
				if err := json.Unmarshal(t, &res.Diagnostics); err != nil {
					return nil, fmt.Errorf("decode diagnostics of %s on %s: %w", name, pkg, err)
				}
				for i := range res.Diagnostics {
					d := &res.Diagnostics[i]
					file, p, err := parsePosn(d.Posn)
					if err != nil {
						return nil, fmt.Errorf("diagnostic of %s on %s: %w", name, pkg, err)
					}
					d.File, d.Pos = file, p
				}
				sortDiagnostics(res.Diagnostics)
			case len(t) > 0 && t[0] == '{':
				var e struct {
					Error *string `json:"error"`
				}
				if err := json.Unmarshal(t, &e); err != nil {
					return nil, fmt.Errorf("decode error of %s on %s: %w", name, pkg, err)
				}
				if e.Error == nil {
					return nil, fmt.Errorf("result of %s on %s: object without \"error\" field", name, pkg)
				}
				res.Err = *e.Error
			default:
				return nil, fmt.Errorf("result of %s on %s: want a list of diagnostics or an error object, got %.40s", name, pkg, t)
			}
			out[pkg][name] = res
		}
	}
	return out, nil
}

// Diagnostics returns the diagnostics of analyzer on pkg.
func (r Results) Diagnostics(pkg, analyzer string) []Diagnostic {
	return r[pkg][analyzer].Diagnostics
}

// PackageErrors returns the errors reported for pkg by any analyzer, as
// "analyzer: error", sorted.
func (r Results) PackageErrors(pkg string) []string {
	var errs []string
	for name, res := range r[pkg] {
		if res.Err != "" {
			errs = append(errs, name+": "+res.Err)
		}
	}
	sort.Strings(errs)
	return errs
}

// OtherErrors returns the errors reported on packages not in roots (the
// dependencies), as "pkg: analyzer: error", sorted.
func (r Results) OtherErrors(roots map[string]bool) []string {
	var errs []string
	for pkg := range r {
		if roots[pkg] {
			continue
		}
		for _, e := range r.PackageErrors(pkg) {
			errs = append(errs, pkg+": "+e)
		}
	}
	sort.Strings(errs)
	return errs
}

func sortDiagnostics(ds []Diagnostic) {
	sort.SliceStable(ds, func(i, j int) bool {
		if ds[i].File != ds[j].File {
			return ds[i].File < ds[j].File
		}
		return ds[i].Pos.Less(ds[j].Pos)
	})
}
