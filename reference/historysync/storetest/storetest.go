// Package storetest is the conformance suite for historysync.Store
// implementations. A store passes when
//
//	storetest.Run(t, func(t *testing.T) historysync.Store { return newEmptyStore(t) })
//
// passes; the suite covers atomic page commits, idempotence, dedupe by archive
// id and by identity (Prosody's self-archived copies), ordering by position,
// message queries, range replacement, archive isolation and deletion,
// validation, cancellation and concurrent commits. historysync's MemStore and
// sqlitestore run it.
//
// The suite depends on the standard testing package only: a store's module
// takes on no assertion library by running it.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync"
)

// Run runs the conformance suite. newStore must return a new, empty store
// for each call; the suite does not close it (register cleanup in newStore).
func Run(t *testing.T, newStore func(t *testing.T) historysync.Store) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, s historysync.Store)
	}{
		{"Empty", testEmpty},
		{"RoundTrip", testRoundTrip},
		{"OrderByPosition", testOrderByPosition},
		{"MessageQuery", testMessageQuery},
		{"Idempotent", testIdempotent},
		{"DedupeWithinCommit", testDedupeWithinCommit},
		{"IdentityAliases", testIdentityAliases},
		{"RangesReplaced", testRangesReplaced},
		{"ArchivesIsolated", testArchivesIsolated},
		{"DeleteArchive", testDeleteArchive},
		{"InvalidCommitChangesNothing", testInvalidCommit},
		{"PositionConflictChangesNothing", testPositionConflict},
		{"Cancelled", testCancelled},
		{"ConcurrentCommits", testConcurrent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.test(t, newStore(t))
		})
	}
}

var (
	t0      = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	account = historysync.Account(jid.MustParse("juliet@example.net"))
	roomA   = historysync.Room(jid.MustParse("coven@chat.example.net"))
)

// msg returns a message with every field set.
func msg(id string, pos int64) historysync.Message {
	return historysync.Message{
		ArchiveID: id,
		Pos:       pos,
		Time:      t0.Add(time.Duration(pos) * time.Millisecond).Add(123 * time.Nanosecond),
		From:      "romeo@example.net/orchard",
		To:        "juliet@example.net",
		Type:      stanza.ChatMessage,
		ID:        "stanza-" + id,
		OriginID:  "origin-" + id,
		Body:      "body of " + id + " <&>",
		Raw:       []byte("<message xmlns='jabber:client'><body>" + id + "</body></message>"),
	}
}

// span returns the range covering msgs (sorted by position).
func span(msgs ...historysync.Message) historysync.Range {
	first, last := msgs[0], msgs[len(msgs)-1]
	return historysync.Range{FromID: first.ArchiveID, FromTime: first.Time, FromPos: first.Pos, ToID: last.ArchiveID, ToTime: last.Time, ToPos: last.Pos}
}

func ids(msgs []historysync.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ArchiveID
	}
	return out
}

func all(t *testing.T, s historysync.Store, a historysync.Archive) []historysync.Message {
	t.Helper()
	msgs, err := s.Messages(context.Background(), a, historysync.AllMessages())
	requireNoError(t, err)
	return msgs
}

func ranges(t *testing.T, s historysync.Store, a historysync.Archive) []historysync.Range {
	t.Helper()
	rs, err := s.Ranges(context.Background(), a)
	requireNoError(t, err)
	return rs
}

func commit(t *testing.T, s historysync.Store, a historysync.Archive, c historysync.Commit) historysync.CommitResult {
	t.Helper()
	res, err := s.Commit(context.Background(), a, c)
	requireNoError(t, err)
	return res
}

// requireRangesEqual compares ranges, times by instant.
func requireRangesEqual(t *testing.T, want, got []historysync.Range) {
	t.Helper()
	requireLen(t, got, len(want), "ranges %v", got)
	for i := range want {
		w, g := want[i], got[i]
		requireTrue(t, w.FromTime.Equal(g.FromTime) && w.ToTime.Equal(g.ToTime), "range %d times: want %v, got %v", i, w, g)
		w.FromTime, w.ToTime, g.FromTime, g.ToTime = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		requireEqual(t, w, g, "range %d", i)
	}
}

// requireMessagesEqual compares messages, times by instant.
func requireMessagesEqual(t *testing.T, want, got []historysync.Message) {
	t.Helper()
	requireLen(t, got, len(want))
	for i := range want {
		w, g := want[i], got[i]
		requireTrue(t, w.Time.Equal(g.Time), "message %d time: want %v, got %v", i, w.Time, g.Time)
		w.Time, g.Time = time.Time{}, time.Time{}
		if len(w.Aliases) == 0 {
			w.Aliases = nil
		}
		if len(g.Aliases) == 0 {
			g.Aliases = nil
		}
		if len(w.Raw) == 0 {
			w.Raw = nil
		}
		if len(g.Raw) == 0 {
			g.Raw = nil
		}
		requireEqual(t, w, g, "message %d", i)
	}
}

func testEmpty(t *testing.T, s historysync.Store) {
	expectEmpty(t, ranges(t, s, account))
	expectEmpty(t, all(t, s, account))
	requireNoError(t, s.DeleteArchive(context.Background(), account), "deleting an unknown archive is not an error")
}

func testRoundTrip(t *testing.T, s historysync.Store) {
	m1, m2, m3 := msg("a", 0), msg("b", 1), msg("c", 2)
	m2.Omitted = historysync.DropOversized
	m2.Raw, m2.Body = nil, ""
	m3.Live = true
	m3.OriginID = ""
	m3.Type = stanza.GroupChatMessage
	rs := []historysync.Range{span(m1, m2, m3)}
	rs[0].FromEnd = true
	res := commit(t, s, account, historysync.Commit{Messages: []historysync.Message{m1, m2, m3}, Ranges: rs})
	expectEqual(t, historysync.CommitResult{Inserted: 3}, res)
	requireMessagesEqual(t, []historysync.Message{m1, m2, m3}, all(t, s, account))
	requireRangesEqual(t, rs, ranges(t, s, account))
}

func testOrderByPosition(t *testing.T, s historysync.Store) {
	// Pages arrive newest first, as a backwards catch-up commits them, with
	// equal timestamps: only positions order them.
	var want []historysync.Message
	for i := range 30 {
		m := msg(fmt.Sprintf("m%02d", i), int64(i-20))
		m.Time = t0
		want = append(want, m)
	}
	commit(t, s, account, historysync.Commit{Messages: want[20:], Ranges: []historysync.Range{span(want[20:]...)}})
	commit(t, s, account, historysync.Commit{Messages: want[10:20], Ranges: []historysync.Range{span(want[10:]...)}})
	commit(t, s, account, historysync.Commit{Messages: want[:10], Ranges: []historysync.Range{span(want...)}})
	requireMessagesEqual(t, want, all(t, s, account))

	// Interleaved positions in one commit are sorted too.
	far := []historysync.Message{msg("x2", 1<<33+2), msg("x0", 1<<33), msg("x1", 1<<33+1)}
	commit(t, s, account, historysync.Commit{Messages: far, Ranges: []historysync.Range{span(want...), span(far[1], far[2], far[0])}})
	expectEqual(t, []string{"x0", "x1", "x2"}, ids(all(t, s, account))[30:])
}

func testMessageQuery(t *testing.T, s historysync.Store) {
	var msgs []historysync.Message
	for i := range 10 {
		msgs = append(msgs, msg(fmt.Sprintf("q%d", i), int64(i*10)))
	}
	commit(t, s, account, historysync.Commit{Messages: msgs, Ranges: []historysync.Range{span(msgs...)}})
	get := func(q historysync.MessageQuery) []string {
		got, err := s.Messages(context.Background(), account, q)
		requireNoError(t, err)
		return ids(got)
	}
	expectEqual(t, []string{"q2", "q3", "q4"}, get(historysync.MessageQuery{After: 10, Before: 50}), "bounds are exclusive")
	expectEqual(t, []string{"q0", "q1"}, get(historysync.MessageQuery{After: historysync.MinPos, Before: historysync.MaxPos, Limit: 2}))
	expectEqual(t, []string{"q8", "q9"}, get(historysync.MessageQuery{After: historysync.MinPos, Before: historysync.MaxPos, Limit: 2, Last: true}))
	expectEqual(t, []string{"q6", "q7"}, get(historysync.MessageQuery{After: 10, Before: 80, Limit: 2, Last: true}))
	expectEmpty(t, get(historysync.MessageQuery{}), "the zero query selects nothing")
	expectEmpty(t, get(historysync.MessageQuery{After: 50, Before: 10}))
	_, err := s.Messages(context.Background(), account, historysync.MessageQuery{After: historysync.MinPos, Before: historysync.MaxPos, Limit: -1})
	expectError(t, err, "negative limit")
}

func testIdempotent(t *testing.T, s historysync.Store) {
	page := []historysync.Message{msg("a", 0), msg("b", 1)}
	c := historysync.Commit{Messages: page, Ranges: []historysync.Range{span(page...)}}
	commit(t, s, account, c)
	res := commit(t, s, account, c)
	expectEqual(t, historysync.CommitResult{Duplicates: 2}, res)
	requireMessagesEqual(t, page, all(t, s, account))
	requireRangesEqual(t, c.Ranges, ranges(t, s, account))

	// A known archive id at another position is still a duplicate: the
	// stored message keeps its place.
	moved := msg("a", 100)
	res = commit(t, s, account, historysync.Commit{Messages: []historysync.Message{moved}, Ranges: c.Ranges})
	expectEqual(t, historysync.CommitResult{Duplicates: 1}, res)
	requireMessagesEqual(t, page, all(t, s, account))
}

func testDedupeWithinCommit(t *testing.T, s historysync.Store) {
	a, b := msg("a", 0), msg("b", 1)
	again := msg("a", 2)
	res := commit(t, s, account, historysync.Commit{Messages: []historysync.Message{a, b, again}, Ranges: []historysync.Range{span(a, b)}})
	expectEqual(t, historysync.CommitResult{Inserted: 2, Duplicates: 1}, res)
	expectEqual(t, []string{"a", "b"}, ids(all(t, s, account)))
}

func testIdentityAliases(t *testing.T, s historysync.Store) {
	// Prosody's two copies of a message to self: same sender (bare), same
	// origin-id, two archive ids.
	sent := msg("sent", 0)
	sent.From, sent.To, sent.OriginID = "juliet@example.net/balcony", "juliet@example.net", "o-self"
	received := sent
	received.ArchiveID, received.Pos = "received", 1
	received.From = "juliet@example.net/phone" // another resource of the same account
	other := msg("other", 2)
	res := commit(t, s, account, historysync.Commit{Messages: []historysync.Message{sent, received, other}, Ranges: []historysync.Range{span(sent, received, other)}})
	expectEqual(t, historysync.CommitResult{Inserted: 2, Duplicates: 1}, res)
	got := all(t, s, account)
	requireEqual(t, []string{"sent", "other"}, ids(got))
	expectEqual(t, []string{"received"}, got[0].Aliases)
	expectEmpty(t, got[1].Aliases)

	// The alias is known: committing it again is a duplicate; so is a later
	// copy under a third id.
	third := sent
	third.ArchiveID, third.Pos = "third", 3
	res = commit(t, s, account, historysync.Commit{Messages: []historysync.Message{received, third}, Ranges: []historysync.Range{span(sent, received, other)}})
	expectEqual(t, historysync.CommitResult{Duplicates: 2}, res)
	got = all(t, s, account)
	expectSameElements(t, []string{"received", "third"}, got[0].Aliases)

	// In a room the sender is the occupant JID: the same origin-id from two
	// occupants is two messages; messages without origin-id never merge.
	r1, r2 := msg("r1", 0), msg("r2", 1)
	r1.From, r2.From = "coven@chat.example.net/first", "coven@chat.example.net/second"
	r1.OriginID, r2.OriginID = "same", "same"
	n1, n2 := msg("n1", 2), msg("n2", 3)
	n1.OriginID, n2.OriginID = "", ""
	n2.From, n2.Body = n1.From, n1.Body
	res = commit(t, s, roomA, historysync.Commit{Messages: []historysync.Message{r1, r2, n1, n2}, Ranges: []historysync.Range{span(r1, r2, n1, n2)}})
	expectEqual(t, historysync.CommitResult{Inserted: 4}, res)
}

func testRangesReplaced(t *testing.T, s historysync.Store) {
	a, b, c := msg("a", 0), msg("b", 1), msg("c", 1<<32)
	commit(t, s, account, historysync.Commit{Messages: []historysync.Message{a, b}, Ranges: []historysync.Range{span(a, b)}})
	two := []historysync.Range{span(a, b), span(c)}
	commit(t, s, account, historysync.Commit{Messages: []historysync.Message{c}, Ranges: two})
	requireRangesEqual(t, two, ranges(t, s, account))
	// A merge replaces both ranges with one, in the same commit as no
	// message at all.
	merged := []historysync.Range{span(a, b)}
	merged[0].ToID, merged[0].ToTime, merged[0].ToPos = c.ArchiveID, c.Time, c.Pos
	commit(t, s, account, historysync.Commit{Ranges: merged})
	requireRangesEqual(t, merged, ranges(t, s, account))
	commit(t, s, account, historysync.Commit{})
	expectEmpty(t, ranges(t, s, account))
	expectLen(t, all(t, s, account), 3, "ranges do not own messages")
}

func testArchivesIsolated(t *testing.T, s historysync.Store) {
	// Same bare JID, different kinds: different archives.
	sameJID := historysync.Room(account.JID)
	m := msg("a", 0)
	commit(t, s, account, historysync.Commit{Messages: []historysync.Message{m}, Ranges: []historysync.Range{span(m)}})
	expectEmpty(t, all(t, s, sameJID))
	expectEmpty(t, ranges(t, s, sameJID))
	res := commit(t, s, sameJID, historysync.Commit{Messages: []historysync.Message{m}, Ranges: []historysync.Range{span(m)}})
	expectEqual(t, 1, res.Inserted, "an archive id is unique per archive only")
}

func testDeleteArchive(t *testing.T, s historysync.Store) {
	m := msg("a", 0)
	for _, a := range []historysync.Archive{account, roomA} {
		commit(t, s, a, historysync.Commit{Messages: []historysync.Message{m}, Ranges: []historysync.Range{span(m)}})
	}
	requireNoError(t, s.DeleteArchive(context.Background(), account))
	expectEmpty(t, all(t, s, account))
	expectEmpty(t, ranges(t, s, account))
	expectLen(t, all(t, s, roomA), 1)
	// The archive can be synced again from scratch.
	res := commit(t, s, account, historysync.Commit{Messages: []historysync.Message{m}, Ranges: []historysync.Range{span(m)}})
	expectEqual(t, 1, res.Inserted)
}

func testInvalidCommit(t *testing.T, s historysync.Store) {
	a, b := msg("a", 0), msg("b", 10)
	commit(t, s, account, historysync.Commit{Messages: []historysync.Message{a}, Ranges: []historysync.Range{span(a)}})
	for name, c := range map[string]historysync.Commit{
		"overlapping ranges": {Messages: []historysync.Message{b}, Ranges: []historysync.Range{span(a, b), span(b)}},
		"unordered ranges":   {Messages: []historysync.Message{b}, Ranges: []historysync.Range{span(b), span(a)}},
		"inverted range":     {Messages: []historysync.Message{b}, Ranges: []historysync.Range{{FromID: "b", FromPos: 10, ToID: "a", ToPos: 0}}},
		"empty range id":     {Messages: []historysync.Message{b}, Ranges: []historysync.Range{{FromPos: 0, ToPos: 10}}},
		"no archive id":      {Messages: []historysync.Message{b, {Pos: 11}}, Ranges: []historysync.Range{span(a, b)}},
	} {
		_, err := s.Commit(context.Background(), account, c)
		requireErrorIs(t, err, historysync.ErrInvalidCommit, name)
	}
	_, err := s.Commit(context.Background(), historysync.Archive{}, historysync.Commit{})
	requireErrorIs(t, err, historysync.ErrInvalidCommit, "invalid archive")
	expectEqual(t, []string{"a"}, ids(all(t, s, account)))
	requireRangesEqual(t, []historysync.Range{span(a)}, ranges(t, s, account))
}

func testPositionConflict(t *testing.T, s historysync.Store) {
	a := msg("a", 0)
	commit(t, s, account, historysync.Commit{Messages: []historysync.Message{a}, Ranges: []historysync.Range{span(a)}})
	b, clash := msg("b", 1), msg("clash", 0)
	_, err := s.Commit(context.Background(), account, historysync.Commit{Messages: []historysync.Message{b, clash}, Ranges: []historysync.Range{span(a, b)}})
	requireErrorIs(t, err, historysync.ErrInvalidCommit)
	c, d := msg("c", 5), msg("d", 5)
	_, err = s.Commit(context.Background(), account, historysync.Commit{Messages: []historysync.Message{c, d}, Ranges: []historysync.Range{span(a, c)}})
	requireErrorIs(t, err, historysync.ErrInvalidCommit, "two new messages at one position")
	// Nothing of the failed commits is visible: not b, not the ranges.
	expectEqual(t, []string{"a"}, ids(all(t, s, account)))
	requireRangesEqual(t, []historysync.Range{span(a)}, ranges(t, s, account))
}

func testCancelled(t *testing.T, s historysync.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := msg("a", 0)
	_, err := s.Commit(ctx, account, historysync.Commit{Messages: []historysync.Message{m}, Ranges: []historysync.Range{span(m)}})
	requireErrorIs(t, err, context.Canceled, "Commit")
	_, err = s.Ranges(ctx, account)
	requireErrorIs(t, err, context.Canceled)
	_, err = s.Messages(ctx, account, historysync.AllMessages())
	requireErrorIs(t, err, context.Canceled)
	expectEmpty(t, all(t, s, account))
}

func testConcurrent(t *testing.T, s historysync.Store) {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 8 {
		a := historysync.Room(jid.MustParse(fmt.Sprintf("room%d@chat.example.net", w)))
		wg.Go(func() {
			var rs []historysync.Range
			for p := range 10 {
				var page []historysync.Message
				for i := range 5 {
					page = append(page, msg(fmt.Sprintf("%d-%d", p, i), int64(p*5+i)))
				}
				if rs == nil {
					rs = []historysync.Range{span(page...)}
				} else {
					last := page[len(page)-1]
					rs[0].ToID, rs[0].ToTime, rs[0].ToPos = last.ArchiveID, last.Time, last.Pos
				}
				if _, err := s.Commit(context.Background(), a, historysync.Commit{Messages: page, Ranges: rs}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		requireNoError(t, err)
	}
	for w := range 8 {
		a := historysync.Room(jid.MustParse(fmt.Sprintf("room%d@chat.example.net", w)))
		expectLen(t, all(t, s, a), 50)
	}
}
