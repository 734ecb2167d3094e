package analyzer

import (
	"encoding/binary"
	"hash/fnv"
	"strconv"
	"strings"
)

// An expr is the canonical form of an SSA value: the access path of a map
// (c.pending, a global, a captured variable) or the identity of a key
// (req.ID loaded twice, string(b) converted twice, respToken(inbox)).
// Two values with the same structure (see [same]) denote the same map or
// the same key.
//
// Leaves are parameters, free variables, globals, constants and
// functions, which are portable: an expr built only from them can be
// carried to a caller (substituting arguments for parameters) or to
// another package in a fact. Any other value is an opaque local leaf.
//
// The exported fields make expr gob-encodable inside facts.
type expr struct {
	Kind  exprKind
	Name  string  // parameter/field/global/function name, constant, operator
	Index int     // parameter, free variable or tuple index
	Args  []*expr // operands

	// Memoized; an expr does not change once built.
	str string // rendering, for debugging output and summaries' text
	sum uint64 // structural hash (0: not computed yet), see hash
}

type exprKind uint8

const (
	kParam   exprKind = iota + 1 // parameter Index (named Name)
	kFree                        // free variable Index of a closure (named Name)
	kGlobal                      // the content of package-level variable Name ("path.name")
	kConst                       // constant Name
	kFunc                        // function value Name
	kLocal                       // opaque value local to one function (Name is unique)
	kAny                         // any key: a key the analysis cannot name (a fresh ID made by a callee)
	kField                       // field Name of Args[0] (through pointers)
	kDeref                       // *Args[0]
	kAddr                        // &Args[0]
	kIndex                       // Args[0][Args[1]]
	kCall                        // Name(Args...): a call whose result depends only on its operands
	kBinOp                       // Args[0] Name Args[1]
	kUnOp                        // Name Args[0]
	kSlice                       // Args[0][Args[1]:Args[2]:Args[3]]
	kExtract                     // Args[0]#Index
	kResult                      // result Index of the function (in summaries)
)

// String renders e for debugging output ("p0.pending", "l:id#3"). It is
// never used to decide whether two exprs are the same: see [same].
func (e *expr) String() string {
	if e == nil {
		return "?"
	}
	if e.str == "" {
		var b strings.Builder
		e.render(&b)
		e.str = b.String()
	}
	return e.str
}

func (e *expr) render(b *strings.Builder) {
	if e == nil {
		b.WriteString("_")
		return
	}
	switch e.Kind {
	case kParam:
		b.WriteString("p")
		b.WriteString(strconv.Itoa(e.Index))
	case kFree:
		b.WriteString("f")
		b.WriteString(strconv.Itoa(e.Index))
	case kGlobal:
		b.WriteString("g:")
		b.WriteString(e.Name)
	case kConst:
		b.WriteString("c:")
		b.WriteString(e.Name)
	case kFunc:
		b.WriteString("fn:")
		b.WriteString(e.Name)
	case kLocal:
		b.WriteString("l:")
		b.WriteString(e.Name)
	case kAny:
		b.WriteString("*any*")
	case kResult:
		b.WriteString("r")
		b.WriteString(strconv.Itoa(e.Index))
	case kField:
		e.Args[0].render(b)
		b.WriteString(".")
		b.WriteString(e.Name)
	case kDeref:
		b.WriteString("*(")
		e.Args[0].render(b)
		b.WriteString(")")
	case kAddr:
		b.WriteString("&(")
		e.Args[0].render(b)
		b.WriteString(")")
	case kIndex:
		e.Args[0].render(b)
		b.WriteString("[")
		e.Args[1].render(b)
		b.WriteString("]")
	case kExtract:
		e.Args[0].render(b)
		b.WriteString("#")
		b.WriteString(strconv.Itoa(e.Index))
	default:
		b.WriteString(e.Name)
		b.WriteString("(")
		for i, a := range e.Args {
			if i > 0 {
				b.WriteString(",")
			}
			a.render(b)
		}
		b.WriteString(")")
	}
}

// display renders e for messages ("c.pending", "req.ID"); params and free
// variables show their names.
func (e *expr) display() string {
	if e == nil {
		return "?"
	}
	switch e.Kind {
	case kParam, kFree:
		if e.Name != "" {
			return e.Name
		}
	case kGlobal:
		if i := strings.LastIndexByte(e.Name, '.'); i >= 0 {
			return e.Name[i+1:]
		}
		return e.Name
	case kField:
		return e.Args[0].display() + "." + e.Name
	case kDeref, kAddr:
		return e.Args[0].display()
	case kConst:
		return e.Name
	}
	return e.String()
}

// same reports whether a and b denote the same map or key: the same kind
// and the same leaves and operands. Parameters, free variables and
// results are identified by their index; their names are only for
// messages.
func same(a, b *expr) bool {
	if a == nil || b == nil {
		return false
	}
	return a == b || a.hash() == b.hash() && sameStructure(a, b)
}

func sameStructure(a, b *expr) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil || a.Kind != b.Kind || a.Index != b.Index || len(a.Args) != len(b.Args) {
		return false
	}
	if a.Kind.namesBy() && a.Name != b.Name {
		return false
	}
	for i := range a.Args {
		if !sameStructure(a.Args[i], b.Args[i]) {
			return false
		}
	}
	return true
}

// namesBy reports whether the Name of an expr of kind k is part of its
// identity: it is not for parameters, free variables and results, which
// their index identifies.
func (k exprKind) namesBy() bool {
	switch k {
	case kParam, kFree, kResult:
		return false
	}
	return true
}

// hash returns a hash of e's structure: same(a, b) implies a.hash() ==
// b.hash().
func (e *expr) hash() uint64 {
	if e == nil {
		return 0x9e3779b97f4a7c15
	}
	if e.sum != 0 {
		return e.sum
	}
	h := fnv.New64a()
	var word [8]byte
	put := func(x uint64) {
		binary.LittleEndian.PutUint64(word[:], x)
		h.Write(word[:])
	}
	put(uint64(e.Kind))
	put(uint64(e.Index))
	if e.Kind.namesBy() {
		h.Write([]byte(e.Name))
	}
	put(uint64(len(e.Args)))
	for _, a := range e.Args {
		put(a.hash())
	}
	sum := h.Sum64()
	if sum == 0 {
		sum = 1
	}
	e.sum = sum
	return sum
}

// An exprIndex lists the positions of exprs (the keys or maps of a list of
// operations) by structure: exprs that are the same share one entry.
type exprIndex struct {
	byHash map[uint64][]exprPositions
}

type exprPositions struct {
	e  *expr
	at []int
}

// add records position i for e (nil exprs are not indexed).
func (x *exprIndex) add(e *expr, i int) {
	if e == nil {
		return
	}
	if x.byHash == nil {
		x.byHash = make(map[uint64][]exprPositions)
	}
	h := e.hash()
	bucket := x.byHash[h]
	for j := range bucket {
		if sameStructure(bucket[j].e, e) {
			bucket[j].at = append(bucket[j].at, i)
			return
		}
	}
	x.byHash[h] = append(bucket, exprPositions{e, []int{i}})
}

// positions returns the positions recorded for exprs that are the same as
// e, in the order they were added. The result must not be modified.
func (x *exprIndex) positions(e *expr) []int {
	if e == nil {
		return nil
	}
	for _, p := range x.byHash[e.hash()] {
		if sameStructure(p.e, e) {
			return p.at
		}
	}
	return nil
}

// portable reports whether e is made only of parameters, free variables,
// globals, constants, functions and kAny.
func (e *expr) portable() bool {
	if e == nil {
		return false
	}
	if e.Kind == kLocal {
		return false
	}
	for _, a := range e.Args {
		if a != nil && !a.portable() {
			return false
		}
	}
	return true
}

// depth returns the height of e.
func (e *expr) depth() int {
	if e == nil {
		return 0
	}
	d := 0
	for _, a := range e.Args {
		if ad := a.depth(); ad > d {
			d = ad
		}
	}
	return d + 1
}

// mentionsFree reports whether e refers to a free variable.
func (e *expr) mentionsFree() bool {
	if e == nil {
		return false
	}
	if e.Kind == kFree {
		return true
	}
	for _, a := range e.Args {
		if a.mentionsFree() {
			return true
		}
	}
	return false
}

// root returns the leaf at the base of an access path (c in c.a.b[k]) and
// the number of field selections on the way.
func (e *expr) root() (*expr, int) {
	fields := 0
	for e != nil {
		switch e.Kind {
		case kField:
			fields++
			e = e.Args[0]
		case kDeref, kAddr, kIndex:
			e = e.Args[0]
		default:
			return e, fields
		}
	}
	return nil, fields
}

func (e *expr) withIndex(i int) *expr {
	e.Index = i
	return e
}

func leaf(kind exprKind, name string, index int) *expr {
	return &expr{Kind: kind, Name: name, Index: index}
}

func node(kind exprKind, name string, args ...*expr) *expr {
	return &expr{Kind: kind, Name: name, Args: args}
}

// mkDeref builds *x, simplifying *&y to y.
func mkDeref(x *expr) *expr {
	if x.Kind == kAddr {
		return x.Args[0]
	}
	return node(kDeref, "", x)
}

// mkAddr builds &x, simplifying &*y to y.
func mkAddr(x *expr) *expr {
	if x.Kind == kDeref {
		return x.Args[0]
	}
	return node(kAddr, "", x)
}

// ctorLookup finds the expression a constructor stores into a field of its
// result: NewPending(id).seq is id.
type ctorLookup func(call *expr, field string) *expr

// mkField builds base.name, where base is a pointer to a struct (or a
// struct value). A field of a constructor's result resolves to the
// argument the constructor stored there.
func mkField(base *expr, name string, ctor ctorLookup) *expr {
	if base.Kind == kAddr {
		// (&x).f is x.f: a field of a struct-valued field or variable.
		base = base.Args[0]
	}
	if base.Kind == kCall && ctor != nil {
		if r := ctor(base, name); r != nil {
			return r
		}
	}
	return node(kField, name, base)
}

// subst replaces parameters and free variables of e by the given
// expressions. It returns nil when e mentions a parameter or free
// variable with no replacement.
func subst(e *expr, params, frees []*expr, ctor ctorLookup) *expr {
	return substitute(e, func(x *expr) (*expr, bool) {
		if r, ok := leafFrom(x, kParam, params); ok {
			return r, true
		}
		return leafFrom(x, kFree, frees)
	}, ctor)
}

// substResults replaces the results of a summarized function by the
// values of the call.
func substResults(e *expr, results []*expr) *expr {
	return substitute(e, func(x *expr) (*expr, bool) { return leafFrom(x, kResult, results) }, nil)
}

// substFrees replaces the free variables of e, keeping its parameters.
func substFrees(e *expr, frees []*expr) *expr {
	return substitute(e, func(x *expr) (*expr, bool) { return leafFrom(x, kFree, frees) }, nil)
}

// leafFrom replaces x, if it is a leaf of kind k, by list[x.Index] (nil if
// the list is too short).
func leafFrom(x *expr, k exprKind, list []*expr) (*expr, bool) {
	if x.Kind != k {
		return nil, false
	}
	return nth(list, x.Index), true
}

// substitute rebuilds e with the leaves that replace replaces: a leaf
// replaced by nil (a parameter without an argument) makes the whole
// result nil. Fields, dereferences and addresses are rebuilt with their
// simplifications (and ctor, for fields of constructors' results).
func substitute(e *expr, replace func(leaf *expr) (*expr, bool), ctor ctorLookup) *expr {
	if e == nil {
		return nil
	}
	if len(e.Args) == 0 {
		if x, ok := replace(e); ok {
			return x
		}
		return e
	}
	args := make([]*expr, len(e.Args))
	for i, a := range e.Args {
		if a == nil {
			continue
		}
		if args[i] = substitute(a, replace, ctor); args[i] == nil {
			return nil
		}
	}
	switch e.Kind {
	case kField:
		return mkField(args[0], e.Name, ctor)
	case kDeref:
		return mkDeref(args[0])
	case kAddr:
		return mkAddr(args[0])
	}
	return &expr{Kind: e.Kind, Name: e.Name, Index: e.Index, Args: args}
}

// nth returns list[i], or nil when the list is too short.
func nth(list []*expr, i int) *expr {
	if i < len(list) {
		return list[i]
	}
	return nil
}

// derivesFrom reports whether e is v or reached from v through fields
// and dereferences (call.Done derives from call).
func derivesFrom(e, v *expr) bool {
	for e != nil {
		if same(e, v) {
			return true
		}
		switch e.Kind {
		case kField, kDeref, kAddr:
			e = e.Args[0]
		default:
			return false
		}
	}
	return false
}

// prefixes returns e and the access paths it is reached through
// (s.conn.subs -> s.conn.subs, s.conn, s).
func prefixes(e *expr) []*expr {
	var out []*expr
	for e != nil {
		out = append(out, e)
		switch e.Kind {
		case kField, kDeref, kAddr, kIndex:
			e = e.Args[0]
		default:
			return out
		}
	}
	return out
}

// maxExprDepth bounds canonical expressions: deeper values are opaque.
const maxExprDepth = 12
