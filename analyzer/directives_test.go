package analyzer

import (
	"go/ast"
	"go/token"
	"go/types"
	"slices"
	"strings"
	"testing"
)

const directivesSource = `package p

type Pending map[string]int

//mapleak:track
var tracked = map[string]int{}

var (
	//mapleak:ignore a cache bounded by the number of hosts
	hosts = map[string]int{}
	ports = map[string]int{} //mapleak:ignore bounded too
)

//mapleak:track
var (
	grouped1 = map[string]int{}
	grouped2 = map[string]int{}
)

type Client struct {
	//mapleak:track
	calls map[string]int
	subs  map[string]int //mapleak:ignore closed with the client
	//mapleak:track
	Pending
}

//mapleak:ignore replies are matched by the caller
func (c *Client) send(id string) {
	//mapleak:track
	var local = map[string]int{}
	local[id] = 1
	c.calls[id] = 1 //mapleak:ignore trailing, on its own line
	//mapleak:ignore alone, for the next line
	c.subs[id] = 1
	//mapleak:ignore
	//mapleak:forget about it
	//mapleak:track
	_ = local
}
`

// lineOf returns the line of the first occurrence of text in src.
func lineOf(t *testing.T, src, text string) int {
	t.Helper()
	i := strings.Index(src, text)
	if i < 0 {
		t.Fatalf("%q not in the source", text)
	}
	return strings.Count(src[:i], "\n") + 1
}

func TestScanDirectives(t *testing.T) {
	tp := loadTestPackage(t, directivesSource)
	all, byComment := scanDirectives(tp.fset, tp.file)
	if len(all) != 14 || len(byComment) != 14 {
		t.Fatalf("%d directives (%d by comment), want 14", len(all), len(byComment))
	}
	type want struct {
		text   string // the directive's comment, as in the source
		kind   directiveKind
		reason string
		alone  bool
		bad    string // part of the problem reported, if any
	}
	for i, w := range []want{
		{text: "//mapleak:track\nvar tracked", kind: dirTrack, alone: true},
		{text: "//mapleak:ignore a cache", kind: dirIgnore, reason: "a cache bounded by the number of hosts", alone: true},
		{text: "//mapleak:ignore bounded too", kind: dirIgnore, reason: "bounded too"},
		{text: "//mapleak:track\nvar (", kind: dirTrack, alone: true},
		{text: "//mapleak:track\n\tcalls", kind: dirTrack, alone: true},
		{text: "//mapleak:ignore closed with", kind: dirIgnore, reason: "closed with the client"},
		{text: "//mapleak:track\n\tPending", kind: dirTrack, alone: true},
		{text: "//mapleak:ignore replies", kind: dirIgnore, reason: "replies are matched by the caller", alone: true},
		{text: "//mapleak:track\n\tvar local", kind: dirTrack, alone: true},
		{text: "//mapleak:ignore trailing", kind: dirIgnore, reason: "trailing, on its own line"},
		{text: "//mapleak:ignore alone", kind: dirIgnore, reason: "alone, for the next line", alone: true},
		{text: "//mapleak:ignore\n", kind: dirIgnore, alone: true, bad: "needs a reason"},
		{text: "//mapleak:forget", kind: dirIgnore, alone: true, bad: "unknown directive //mapleak:forget"},
		{text: "//mapleak:track\n\t_ = local", kind: dirTrack, alone: true},
	} {
		dir := all[i]
		if dir.kind != w.kind || dir.reason != w.reason || dir.alone != w.alone || (w.bad == "") != (dir.bad == "") || !strings.Contains(dir.bad, w.bad) {
			t.Errorf("directive %d (%q) = kind %d, reason %q, alone %v, bad %q; want kind %d, reason %q, alone %v, bad %q",
				i, w.text, dir.kind, dir.reason, dir.alone, dir.bad, w.kind, w.reason, w.alone, w.bad)
		}
		if line := lineOf(t, directivesSource, w.text); dir.line != line {
			t.Errorf("directive %d (%q) on line %d, want %d", i, w.text, dir.line, line)
		}
	}
	// A file without directives has none, and no index of them.
	f := &ast.File{Name: ast.NewIdent("q"), Package: tp.file.Package}
	if all, byComment := scanDirectives(tp.fset, f); all != nil || byComment != nil {
		t.Errorf("scanDirectives of a file without directives = %v, %v", all, byComment)
	}
}

// attachedTo names what each directive of directivesSource is attached
// to: the objects it documents and the function, by name.
func attachedTo(all []*directive) [][]string {
	var out [][]string
	for _, dir := range all {
		var names []string
		for _, obj := range dir.objs {
			names = append(names, obj.Name())
		}
		if dir.fn != nil {
			names = append(names, "func "+dir.fn.Name.Name)
		}
		out = append(out, names)
	}
	return out
}

func TestAttachDirectives(t *testing.T) {
	tp := loadTestPackage(t, directivesSource)
	all, byComment := scanDirectives(tp.fset, tp.file)
	attachDirectives(tp.file, tp.info, byComment)
	want := [][]string{
		{"tracked"},             // a var declaration's doc comment
		{"hosts"},               // a spec's doc comment in a group
		{"ports"},               // a spec's line comment
		nil,                     // a group of two: its doc comment documents neither
		{"calls"},               // a field's doc comment
		{"subs"},                // a field's line comment
		{"Pending"},             // an embedded field
		{"func send"},           // a method's doc comment
		{"local"},               // a local var declaration
		nil, nil, nil, nil, nil, // lines
	}
	if got := attachedTo(all); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("attached to %q, want %q", got, want)
	}
}

func TestIndexDirectives(t *testing.T) {
	tp := loadTestPackage(t, directivesSource)
	d := parseDirectives(tp.fset, tp.info, []*ast.File{tp.file})
	obj := func(name string) types.Object {
		for id, obj := range tp.info.Defs {
			if id.Name == name && obj != nil {
				if _, isVar := obj.(*types.Var); isVar {
					return obj
				}
			}
		}
		t.Fatalf("no variable %s", name)
		return nil
	}
	for _, name := range []string{"tracked", "calls", "local", "Pending"} {
		if !d.tracked(obj(name)) {
			t.Errorf("%s is not tracked", name)
		}
	}
	for _, name := range []string{"hosts", "ports", "subs", "grouped1"} {
		if d.tracked(obj(name)) {
			t.Errorf("%s is tracked", name)
		}
	}
	if d.declIgnored(obj("hosts")) == nil || d.declIgnored(obj("subs")) == nil || d.declIgnored(obj("calls")) != nil {
		t.Error("declIgnored: want hosts and subs ignored, calls not")
	}
	send := tp.fn(t, "Client.send").Syntax().(*ast.FuncDecl)
	if len(d.byFunc[send]) != 1 {
		t.Errorf("%d directives on send, want 1", len(d.byFunc[send]))
	}
	tf := tp.fset.File(tp.file.Pos())
	atLine := func(text string) []*directive {
		return d.byLine[lineKey{tf, lineOf(t, directivesSource, text)}]
	}
	// A trailing directive applies to its line, one alone on its line to
	// the next line.
	if dirs := atLine("c.calls[id] = 1"); len(dirs) != 1 || dirs[0].reason != "trailing, on its own line" {
		t.Errorf("directives on the trailing directive's line: %v", dirs)
	}
	if dirs := atLine("c.subs[id] = 1"); len(dirs) != 1 || dirs[0].reason != "alone, for the next line" {
		t.Errorf("directives on the line after one alone: %v", dirs)
	}
	// A //mapleak:track that documents no declaration is a bad directive,
	// and the bad ones stay bad.
	var bad []string
	for _, dir := range d.all {
		if dir.bad != "" {
			bad = append(bad, dir.bad)
		}
	}
	wantBad := []string{"must be on the declaration", "needs a reason", "unknown directive", "must be on the declaration"}
	if !slices.EqualFunc(bad, wantBad, strings.Contains) {
		t.Errorf("bad directives %q, want the track on a group of two, the missing reason, the unknown verb and the track on a statement", bad)
	}
	// A suppressed finding: by the function's directive, wherever it is in
	// the function.
	pos := tp.file.Pos() + token.Pos(strings.Index(directivesSource, "local[id] = 1"))
	if dir := d.suppressor(tp.fset, pos, send, nil); dir == nil || dir.fn != send {
		t.Errorf("suppressor in send = %v, want send's directive", dir)
	}
}
