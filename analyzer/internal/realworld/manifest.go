package main

import (
	"bufio"
	"fmt"
	"go/token"
	"go/version"
	"io"
	"path"
	"strings"

	"golang.org/x/mod/module"
)

// stdModule is the module column of rows about the standard library of the
// installed Go; their version column is the Go version they were labelled
// on (for example go1.26.8).
const stdModule = "std"

// Label is the hand-made verdict of a manifest row.
type Label string

// The two labels of a manifest row.
const (
	// LabelLeak marks a function where some return path leaves the entry in
	// the map and only something outside the process can remove it.
	LabelLeak Label = "leak"
	// LabelOK marks a function where local code is guaranteed to remove it.
	LabelOK Label = "ok"
)

// Row is one labelled function of a manifest.
type Row struct {
	Line     int    // line number in the manifest, for messages
	ID       string // unique row id, e.g. nats-01
	Module   string // module path, or "std"
	Version  string // module version, or the Go version for std rows
	Package  string // import path of the package holding the function
	File     string // slash-separated path of the file inside the module (inside GOROOT/src for std)
	Function string // "Func" or "Recv.Method"
	Label    Label  // leak or ok
	Kind     string // free-form kind (timeout, cancel, error-path, ...)
	InsLine  int    // line of the insert, 0 when absent (informational)
	// Repo is the upstream repository (github.com/nats-io/nats.go), the
	// unit of the dev/test split; empty in a manifest without a repo
	// column, whose rows form a set of their own outside the split.
	Repo string
	// Pair is the id of the row on the other side of the same upstream fix
	// (the version before or after it), or empty.
	Pair string
	// Set names the manifest the row comes from (visible, corpus).
	Set string
	// Half is the row's side of the split, set from the split file; empty
	// for rows outside the split.
	Half Half
}

// ModuleVersion returns "module@version" (for std rows "std@go1.x.y").
func (r Row) ModuleVersion() string { return r.Module + "@" + r.Version }

// requiredColumns are the manifest columns the evaluation needs; the other
// columns of visible.tsv (map_expr, key_expr, evidence, line) are documentation
// and optional.
var requiredColumns = []string{"id", "module", "version", "package_import_path", "file", "function", "label"}

// ParseManifest reads a tab-separated manifest in the format of
// testdata/realworld/visible.tsv: a header line naming the columns, then one
// row per line. Blank lines and lines starting with '#' are skipped. name is
// used in error messages, which name the offending line.
//
// A manifest with a repo column (corpus.tsv) takes part in the dev/test
// split: every row names its upstream repository, and the optional pair
// column names the row on the other side of the same upstream fix, which
// must exist in the manifest, come from the same repository and, when it
// names a pair itself, name this row back.
func ParseManifest(r io.Reader, name string) ([]Row, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	var (
		columns map[string]int
		ncols   int
		rows    []Row
		seen    = make(map[string]int) // id -> line
		lineno  int
	)
	for sc.Scan() {
		lineno++
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Split(text, "\t")
		if columns == nil {
			var err error
			if columns, err = parseHeader(fields, requiredColumns); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, lineno, err)
			}
			ncols = len(fields)
			continue
		}
		if len(fields) != ncols {
			return nil, fmt.Errorf("%s:%d: row has %d tab-separated fields, the header has %d", name, lineno, len(fields), ncols)
		}
		row, err := parseRow(fields, columns, lineno, hasColumn(columns, "repo"))
		if err != nil {
			id := strings.TrimSpace(fields[columns["id"]])
			return nil, fmt.Errorf("%s:%d: row %q: %w", name, lineno, id, err)
		}
		if prev, dup := seen[row.ID]; dup {
			return nil, fmt.Errorf("%s:%d: duplicate row id %q (first on line %d)", name, lineno, row.ID, prev)
		}
		seen[row.ID] = lineno
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if columns == nil {
		return nil, fmt.Errorf("%s: empty manifest: no header line", name)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: manifest has a header but no rows", name)
	}
	if err := checkPairs(rows); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return rows, nil
}

func hasColumn(columns map[string]int, c string) bool {
	_, ok := columns[c]
	return ok
}

// checkPairs validates the pair column of rows.
func checkPairs(rows []Row) error {
	byID := make(map[string]Row, len(rows))
	for _, r := range rows {
		byID[r.ID] = r
	}
	for _, r := range rows {
		if r.Pair == "" {
			continue
		}
		other, ok := byID[r.Pair]
		switch {
		case r.Pair == r.ID:
			return fmt.Errorf("line %d: row %q is its own pair", r.Line, r.ID)
		case !ok:
			return fmt.Errorf("line %d: row %q: pair %q is not a row of this manifest", r.Line, r.ID, r.Pair)
		case repoKey(other.Repo) != repoKey(r.Repo):
			return fmt.Errorf("line %d: row %q (repo %s) and its pair %q (repo %s) come from different repositories", r.Line, r.ID, r.Repo, other.ID, other.Repo)
		case other.Pair != "" && other.Pair != r.ID:
			return fmt.Errorf("line %d: row %q names pair %q, which names %q", r.Line, r.ID, other.ID, other.Pair)
		}
	}
	return nil
}

// parseHeader maps the column names of a header line to their index and
// checks that every required column is there.
func parseHeader(fields, required []string) (map[string]int, error) {
	columns := make(map[string]int, len(fields))
	for i, f := range fields {
		f = strings.TrimSpace(f)
		if f == "" {
			return nil, fmt.Errorf("header: column %d has no name", i+1)
		}
		if _, dup := columns[f]; dup {
			return nil, fmt.Errorf("header: duplicate column %q", f)
		}
		columns[f] = i
	}
	var missing []string
	for _, c := range required {
		if _, ok := columns[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("header: missing column(s) %s (want at least %s)", strings.Join(missing, ", "), strings.Join(required, ", "))
	}
	return columns, nil
}

func parseRow(fields []string, columns map[string]int, lineno int, split bool) (Row, error) {
	get := func(c string) string {
		if i, ok := columns[c]; ok {
			return strings.TrimSpace(fields[i])
		}
		return ""
	}
	row := Row{
		Line:     lineno,
		ID:       get("id"),
		Module:   get("module"),
		Version:  get("version"),
		Package:  get("package_import_path"),
		File:     get("file"),
		Function: get("function"),
		Label:    Label(get("label")),
		Kind:     get("kind"),
		Repo:     get("repo"),
		Pair:     get("pair"),
	}
	for _, c := range requiredColumns {
		if get(c) == "" {
			return row, fmt.Errorf("column %s is empty", c)
		}
	}
	if split {
		if row.Repo == "" {
			return row, fmt.Errorf("column repo is empty (a manifest with a repo column takes part in the split: every row names its repository)")
		}
		if err := checkRepo(row.Repo); err != nil {
			return row, err
		}
	}
	if strings.ContainsAny(row.ID, " \t/\\") {
		return row, fmt.Errorf("id %q must not contain spaces or slashes", row.ID)
	}
	if row.Label != LabelLeak && row.Label != LabelOK {
		return row, fmt.Errorf("label %q: want leak or ok", row.Label)
	}
	if err := checkModule(row); err != nil {
		return row, err
	}
	if err := checkFile(row); err != nil {
		return row, err
	}
	if _, _, err := splitFunction(row.Function); err != nil {
		return row, err
	}
	if l := get("line"); l != "" {
		var n int
		if _, err := fmt.Sscanf(l, "%d", &n); err != nil || n <= 0 || fmt.Sprint(n) != l {
			return row, fmt.Errorf("line %q: want a positive line number", l)
		}
		row.InsLine = n
	}
	return row, nil
}

// checkModule validates the module, version and package columns.
func checkModule(row Row) error {
	if row.Module == stdModule {
		if !version.IsValid(row.Version) {
			return fmt.Errorf("version %q: a std row needs a Go version such as go1.26.8", row.Version)
		}
		first, _, _ := strings.Cut(row.Package, "/")
		if strings.Contains(first, ".") || module.CheckImportPath(row.Package) != nil {
			return fmt.Errorf("package %q is not a standard-library import path", row.Package)
		}
		return nil
	}
	if err := module.Check(row.Module, row.Version); err != nil {
		return fmt.Errorf("module/version: %w", err)
	}
	if err := module.CheckImportPath(row.Package); err != nil {
		return fmt.Errorf("package: %w", err)
	}
	if row.Package != row.Module && !strings.HasPrefix(row.Package, row.Module+"/") {
		return fmt.Errorf("package %q is not inside module %q", row.Package, row.Module)
	}
	return nil
}

// checkFile validates the file column: a clean relative slash path to a .go
// file in the row's package directory.
func checkFile(row Row) error {
	f := row.File
	if path.IsAbs(f) || strings.Contains(f, "\\") || path.Clean(f) != f || strings.HasPrefix(f, "../") {
		return fmt.Errorf("file %q: want a clean slash-separated path relative to the module root", f)
	}
	if !strings.HasSuffix(f, ".go") || strings.HasSuffix(f, "_test.go") {
		return fmt.Errorf("file %q: want a non-test .go file", f)
	}
	if want := packageDir(row); path.Dir(f) != want {
		return fmt.Errorf("file %q is not in the directory %q of package %s", f, want, row.Package)
	}
	return nil
}

// packageDir is the slash path of the row's package directory relative to
// the module root (GOROOT/src for std).
func packageDir(row Row) string {
	if row.Module == stdModule {
		return row.Package
	}
	if row.Package == row.Module {
		return "."
	}
	// Major-version suffixes (/v3) are part of the module path, not of the
	// directory, so the prefix to strip is the whole module path.
	return strings.TrimPrefix(row.Package, row.Module+"/")
}

// splitFunction splits a function column into receiver type and name. A
// plain function has an empty receiver.
func splitFunction(fn string) (recv, name string, err error) {
	parts := strings.Split(fn, ".")
	switch len(parts) {
	case 1:
		name = parts[0]
	case 2:
		recv, name = parts[0], parts[1]
		if !token.IsIdentifier(recv) {
			return "", "", fmt.Errorf("function %q: receiver %q is not an identifier", fn, recv)
		}
	default:
		return "", "", fmt.Errorf("function %q: want Func or Recv.Method", fn)
	}
	if !token.IsIdentifier(name) {
		return "", "", fmt.Errorf("function %q: %q is not an identifier", fn, name)
	}
	return recv, name, nil
}
