package analyzer

import (
	"fmt"
	"go/token"
	"slices"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/ssa"
)

// Rule 2, incomplete cleanup (category incomplete-cleanup).
//
// Spec: doc.go, "Rule 2". Fixtures: testdata/src/completer (completer.go;
// closing markers in closed.go and flags.go), dino and dinofixed (the
// Dino history-sync bug and its fix), fixes (suggested fix).

// A completerGroup is one entry (map and key) a function releases.
type completerGroup struct {
	m, k     *expr
	releases []*mapOp
	rep      *mapOp // the first release, which names the entry in messages
}

// checkCompleter applies rule 2: a function that releases m[k] on some
// paths (the entry's completer) and returns a failure on another path
// without releasing it, keeping it on purpose, or having found it absent.
func (a *checker) checkCompleter(fi *funcInfo) {
	if fi.inlineOnly || isInitFunc(fi.fn) {
		return
	}
	groups := a.qualifiedCompleters(fi, a.completerGroups(fi))
	if len(groups) == 0 {
		return
	}
	leaks := a.failingReturns(fi, a.completerFlow(fi, groups, true), len(groups), nil)
	for gi, grp := range groups {
		for _, l := range leaks[gi] {
			a.reportCompleter(fi, grp, l.ret, l.kind)
		}
	}
}

// completerGroups groups the releases of fi's function that always
// release one entry by the entry they release. Only releases of entries
// that may exist before the function runs make a completer: deleting an
// entry the function inserted itself rolls its own work back (rule 1's
// business).
func (a *checker) completerGroups(fi *funcInfo) []*completerGroup {
	var rels []*mapOp
	for _, r := range fi.ops {
		if r.kind != opRelease || r.is(flagWhole|flagAnyMap|flagAsync|flagMay) || r.k == nil || r.k.Kind == kAny || r.cond == condOnSuccess {
			continue // not a release of one entry that always happens
		}
		if !a.followsRelease(fi, r) {
			continue
		}
		rels = append(rels, r)
	}
	pre := a.preexisting(fi, rels)
	var groups []*completerGroup
	// Groups come in the order of their first release.
	for i, r := range rels {
		j := slices.IndexFunc(groups, func(grp *completerGroup) bool { return same(grp.m, r.m) && same(grp.k, r.k) })
		if j < 0 {
			groups = append(groups, &completerGroup{m: r.m, k: r.k})
			j = len(groups) - 1
		}
		if pre[i] {
			groups[j].releases = append(groups[j].releases, r)
		}
	}
	return slices.DeleteFunc(groups, func(grp *completerGroup) bool {
		if len(grp.releases) == 0 {
			return true
		}
		grp.rep = grp.releases[0]
		return false
	})
}

// qualifiedCompleters keeps the groups whose function is the entry's
// completer: it releases the entry on every successful path that knows
// the key (or keeps it by re-inserting it or handing it off). A function
// that releases it on one case of a dispatch only is not one.
func (a *checker) qualifiedCompleters(fi *funcInfo, groups []*completerGroup) []*completerGroup {
	if len(groups) == 0 {
		return nil
	}
	disqualified := make([]bool, len(groups))
	g := a.completerFlow(fi, groups, false)
	for _, ret := range fi.returns {
		g.forEachArrival(ret, func(pred *ssa.BasicBlock, st bitset) {
			for gi := range groups {
				if st.has(gi) && a.maySucceed(fi, ret, pred, g.liveBit(gi)) {
					disqualified[gi] = true
				}
			}
		})
	}
	return unmarked(groups, disqualified)
}

// completerFlow follows each group's entry (one bit each) from where its
// key is known to the function's returns, ending it where the function
// releases it, hands it off, re-inserts it (keeping it on purpose), finds
// it absent, decides on the key itself, sees the map closed, or (with
// uses) reads the entry and uses its value.
func (a *checker) completerFlow(fi *funcInfo, groups []*completerGroup, withUses bool) *flow {
	n := len(groups)
	g := newFlow(fi.fn, n)
	for gi, grp := range groups {
		if grp.k.portable() && !a.unstableKey(fi, grp.k) {
			g.entry.set(gi)
			continue
		}
		// The key is computed in the function: the entry is known from
		// each computation of it on.
		for _, instr := range keyPoints(fi, grp.k) {
			g.gen(instr.Block(), indexOf(instr), gi)
		}
	}
	// Kills: releases, hand-offs, re-inserts, uses of the entry's value.
	pseudo := make([]*mapOp, n)
	for gi, grp := range groups {
		pseudo[gi] = &mapOp{kind: opInsert, m: grp.m, k: grp.k, mapVar: grp.rep.mapVar}
	}
	a.addReleaseKills(fi, g, pseudo)
	absent := make(map[*ssa.BasicBlock]bitset)
	addAbsent := func(b *ssa.BasicBlock, gi int) {
		if b != nil && len(b.Preds) == 1 {
			setMask(absent, b, n, gi)
		}
	}
	for _, op := range fi.ops {
		for gi, grp := range groups {
			if !same(op.m, grp.m) && (op.mapVar == nil || op.mapVar != grp.rep.mapVar) || !same(op.k, grp.k) {
				continue
			}
			mask := newBitset(n)
			mask.set(gi)
			switch op.kind {
			case opInsert:
				g.kill(op.block, op.index, mask)
			case opLookup:
				if withUses {
					for _, use := range valueUses(op.lookup) {
						g.kill(use.Block(), indexOf(use), mask)
					}
				}
				for _, b := range absentBlocks(op.lookup) {
					addAbsent(b, gi)
				}
			}
		}
	}
	// Branches on the key itself (rt != "", id == 0) decide that the
	// entry is not this function's business.
	for _, b := range fi.fn.Blocks {
		br, ok := branchAt(b)
		if !ok {
			continue
		}
		for gi, grp := range groups {
			if condMentionsKey(fi, br.cond, grp.k, 0) || condNilChecks(fi, br.cond, grp.k, grp.m) {
				addAbsent(b.Succs[0], gi)
				addAbsent(b.Succs[1], gi)
			}
		}
	}
	g.edgeKill = combineKills(func(_, s *ssa.BasicBlock) bitset { return absent[s] }, a.closingKill(fi, pseudo))
	g.solve()
	return g
}

// condMentionsKey reports whether a branch condition compares the key or
// passes it to a predicate.
func condMentionsKey(fi *funcInfo, cond ssa.Value, k *expr, depth int) bool {
	if depth > 3 {
		return false
	}
	switch c := cond.(type) {
	case *ssa.UnOp:
		if c.Op == token.NOT {
			return condMentionsKey(fi, c.X, k, depth+1)
		}
	case *ssa.BinOp:
		return same(fi.canon.of(c.X), k) || same(fi.canon.of(c.Y), k)
	case *ssa.Call:
		for _, arg := range c.Call.Args {
			if same(fi.canon.of(arg), k) {
				return true
			}
		}
	}
	return false
}

// condNilChecks reports whether a branch condition compares with nil a
// value the key or the map is reached through (if s == nil { return }):
// the entry is not reachable on one side, and not in question on the
// other.
func condNilChecks(fi *funcInfo, cond ssa.Value, k, m *expr) bool {
	x, _, ok := nilComparison(cond)
	if !ok {
		return false
	}
	v := fi.canon.of(x)
	for _, p := range append(prefixes(k), prefixes(m)...) {
		if same(p, v) {
			return true
		}
	}
	return false
}

func (a *checker) reportCompleter(fi *funcInfo, grp *completerGroup, ret *ssa.Return, kind exitKind) {
	rep := grp.rep
	var where []string
	for _, r := range grp.releases {
		w := a.syn.shortPos(r.pos)
		if r.via != "" {
			w = r.via + " at " + w
		}
		if !slices.Contains(where, w) {
			where = append(where, w)
		}
	}
	verb := "deleted"
	if len(grp.releases) > 0 && grp.releases[0].via != "" {
		verb = "released by"
	}
	msg := fmt.Sprintf("%s is not deleted when returning here (%s); on other paths it is %s %s",
		rep.entryName(), kind, verb, strings.Join(where, " and "))
	if verb == "deleted" {
		msg = fmt.Sprintf("%s is not deleted when returning here (%s); on other paths it is deleted at %s",
			rep.entryName(), kind, strings.Join(where, " and "))
	}
	diag := diagnostic(categoryIncompleteCleanup, a.syn.spanAt(fi.retPos(ret)), msg)
	for _, r := range grp.releases {
		diag.Related = append(diag.Related, related(a.syn.spanAt(r.pos), rep.entryName()+" is released here on other paths"))
	}
	if fix := a.fixCompleter(fi, grp, ret); fix != nil {
		diag.SuggestedFixes = []analysis.SuggestedFix{*fix}
	}
	a.report(&finding{diag: diag, fn: a.funcDecl(fi), mapVar: rep.mapVar, ignDir: rep.is(flagIgnoreDir)})
}
