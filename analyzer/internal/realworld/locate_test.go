package main

import (
	"strings"
	"testing"
)

const locateSrc = `package p

type Conn struct{}
type List[T any] struct{}
type Pair[K comparable, V any] struct{}
type js struct{}

// Request has a doc comment that is not part of its span.
func (nc *Conn) Request() error { // line 9
	f := func() {
		_ = 1 // line 11
	}
	f()
	return nil
} // line 15

func (l List[T]) Add(x T) {} // line 17

func (p *Pair[K, V]) Put(k K, v V) { // line 19
}

func (js *js) PublishMsgAsync() {} // line 22

func heartbeat() {} // line 24

func Request() {} // line 26: a plain function with a method's name

func (Conn) Close() {} // line 28: unnamed receiver

var pkgLevel = func() int { return 1 }() // line 30

func dup() {}
`

func parseLocateSrc(t *testing.T) *ParsedFile {
	t.Helper()
	pf, err := ParseGoFile("/mod/p/f.go", []byte(locateSrc))
	if err != nil {
		t.Fatal(err)
	}
	return pf
}

func TestFindFunc(t *testing.T) {
	pf := parseLocateSrc(t)
	tests := []struct {
		fn         string
		start, end Pos
	}{
		{"Conn.Request", Pos{9, 1}, Pos{15, 2}},
		{"List.Add", Pos{17, 1}, Pos{17, 29}},
		{"Pair.Put", Pos{19, 1}, Pos{20, 2}},
		{"js.PublishMsgAsync", Pos{22, 1}, Pos{22, 35}},
		{"heartbeat", Pos{24, 1}, Pos{24, 20}},
		{"Request", Pos{26, 1}, Pos{26, 18}},
		{"Conn.Close", Pos{28, 1}, Pos{28, 23}},
	}
	for _, tt := range tests {
		got, err := pf.FindFunc(tt.fn)
		if err != nil {
			t.Errorf("FindFunc(%s): %v", tt.fn, err)
			continue
		}
		if got.Start != tt.start || got.End != tt.end {
			t.Errorf("FindFunc(%s) = %v..%v, want %v..%v", tt.fn, got.Start, got.End, tt.start, tt.end)
		}
	}
	for _, fn := range []string{"Conn.Missing", "List.Request", "pkgLevel", "Pair.Add"} {
		if _, err := pf.FindFunc(fn); err == nil || !strings.Contains(err.Error(), "not found in /mod/p/f.go") {
			t.Errorf("FindFunc(%s) error = %v, want not found", fn, err)
		}
	}
	if _, err := pf.FindFunc("a.b.c"); err == nil {
		t.Error("FindFunc(a.b.c) accepted a malformed name")
	}
}

func TestFindFuncDuplicate(t *testing.T) {
	// Two bodies of the same function can only come from a broken file,
	// but the lookup must say so rather than pick one.
	pf, err := ParseGoFile("d.go", []byte("package p\nfunc f() {}\nfunc f() {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pf.FindFunc("f"); err == nil || !strings.Contains(err.Error(), "declared 2 times") {
		t.Errorf("error = %v, want declared 2 times", err)
	}
}

func TestParseGoFileError(t *testing.T) {
	if _, err := ParseGoFile("bad.go", []byte("package p\nfunc {")); err == nil || !strings.Contains(err.Error(), "parse bad.go") {
		t.Errorf("error = %v, want a parse error naming the file", err)
	}
}

func TestEnclosingFunc(t *testing.T) {
	pf := parseLocateSrc(t)
	tests := []struct {
		p    Pos
		want string
	}{
		{Pos{9, 1}, "Conn.Request"},
		{Pos{10, 2}, "Conn.Request"},
		{Pos{11, 3}, "Conn.Request (func literal)"},
		{Pos{11, 0}, "Conn.Request (func literal)"},
		{Pos{15, 1}, "Conn.Request"},
		{Pos{16, 1}, ""},
		{Pos{19, 30}, "Pair.Put"},
		{Pos{24, 5}, "heartbeat"},
		{Pos{30, 20}, ""},
		{Pos{3, 1}, ""},
	}
	for _, tt := range tests {
		if got := pf.EnclosingFunc(tt.p); got != tt.want {
			t.Errorf("EnclosingFunc(%v) = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestSpanContains(t *testing.T) {
	s := Span{Pos{10, 5}, Pos{20, 2}}
	tests := []struct {
		p    Pos
		want bool
	}{
		{Pos{10, 5}, true},
		{Pos{10, 4}, false},
		{Pos{20, 2}, true},
		{Pos{20, 3}, false},
		{Pos{15, 1}, true},
		{Pos{9, 80}, false},
		{Pos{21, 1}, false},
		{Pos{10, 0}, true}, // no column: the line counts
		{Pos{20, 0}, true},
		{Pos{21, 0}, false},
	}
	for _, tt := range tests {
		if got := s.Contains(tt.p); got != tt.want {
			t.Errorf("%v.Contains(%v) = %v, want %v", s, tt.p, got, tt.want)
		}
	}
}

func TestParsePosn(t *testing.T) {
	tests := []struct {
		in   string
		file string
		p    Pos
	}{
		{"/root/go/pkg/mod/m@v1.0.0/a.go:12:3", "/root/go/pkg/mod/m@v1.0.0/a.go", Pos{12, 3}},
		{"a.go:12", "a.go", Pos{12, 0}},
		{"a.go", "a.go", Pos{}},
		{`C:\src\a.go:7:1`, `C:\src\a.go`, Pos{7, 1}},
		{"/x/we:ird.go:7:1", "/x/we:ird.go", Pos{7, 1}},
	}
	for _, tt := range tests {
		file, p, err := parsePosn(tt.in)
		if err != nil || file != tt.file || p != tt.p {
			t.Errorf("parsePosn(%q) = %q, %v, %v; want %q, %v", tt.in, file, p, err, tt.file, tt.p)
		}
	}
	for _, bad := range []string{"", "-", ":1:2"} {
		if _, _, err := parsePosn(bad); err == nil {
			t.Errorf("parsePosn(%q) accepted", bad)
		}
	}
}
