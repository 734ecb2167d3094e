package historysync

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mapleak/mapleak/reference/historysync/internal/fakeserver"
)

var base = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// TestCatchUpAccountEverything: the first sync of the account archive
// fetches everything, newest page first then backwards, and stores it in
// archive order although ten messages share each second.
func TestCatchUpAccountEverything(t *testing.T) {
	e := newEnv(t, nil)
	a := e.account()
	e.fill(a, 0, 237, stamps(base, 10))

	rep, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	e.requireInSync(a)
	e.requireIdle()
	assert.True(t, e.ranges(a)[0].FromEnd, "the range reaches the archive start")
	assert.True(t, rep.Complete)
	assert.Equal(t, 237, rep.Inserted)
	assert.Zero(t, rep.Duplicates)
	assert.Equal(t, 5, rep.Pages) // 50 newest, then 4 pages back (50, 50, 50, 37)

	st := e.syncer.Stats()
	assert.EqualValues(t, 5, st.Queries)
	assert.EqualValues(t, 237, st.Inserted)
	assert.Zero(t, st.DroppedTotal())
}

// TestCatchUpIncremental: a second run pages forward from the newest stored
// archive id (RSM <after/>) and fetches only what is new: one page for 30
// new messages, one for 50 (the page that reaches the archive's end says
// so), three for 130, and one empty page when nothing is new.
func TestCatchUpIncremental(t *testing.T) {
	e := newEnv(t, nil)
	a := e.account()
	ids := e.fill(a, 0, 80, stamps(base, 5))
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)

	for _, tc := range []struct{ add, pages int }{{30, 1}, {130, 3}, {0, 1}, {50, 1}} {
		ids = append(ids, e.fill(a, len(ids), tc.add, stamps(base, 5))...)
		before, stored := e.srv.Stats().Queries, len(e.storedIDs(a))
		rep, err := e.syncer.CatchUp(e.ctx, a)
		require.NoError(t, err)
		e.requireInSync(a)
		e.requireIdle()
		assert.Equal(t, tc.add, rep.Inserted, "%d new", tc.add)
		assert.Equal(t, tc.add, rep.Messages, "%d new: nothing fetched twice", tc.add)
		assert.Zero(t, rep.Duplicates)
		assert.True(t, rep.Complete)
		queries := e.srv.Queries()[before:]
		assert.Len(t, queries, tc.pages, "%d new", tc.add)
		assert.Equal(t, ids[stored-1], queries[0].After, "forward from the newest stored id")
		assert.False(t, queries[0].HasBefore)
		assert.Zero(t, queries[0].Start, "no time filter")
	}
}

// TestCatchUpNewestIDForgotten: when the archive no longer knows the newest
// stored id (item-not-found on <after/>), the run falls back to the newest
// page starting Overlap before the newest stored message and recognises the
// stored tail there.
func TestCatchUpNewestIDForgotten(t *testing.T) {
	e := newEnv(t, nil)
	a := e.account()
	ids := e.fill(a, 0, 80, stamps(base, 5))
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	e.srv.Archive(a.JID).Forget(ids[79]) // expired or retracted
	e.fill(a, 80, 10, stamps(base, 5))

	before := e.srv.Stats().Queries
	rep, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	assert.Equal(t, 10, rep.Inserted)
	assert.Equal(t, rep.Messages, rep.Inserted+rep.Duplicates)
	assert.EqualValues(t, 1, e.syncer.Stats().CursorResets)
	// The forward page, the newest page from the overlap start (which holds
	// more than a page: it is stored above a gap), the gap fill.
	queries := e.srv.Queries()[before:]
	require.Len(t, queries, 3)
	assert.Equal(t, ids[79], queries[0].After)
	assert.True(t, queries[1].HasBefore)
	assert.Empty(t, queries[1].Before, "newest page")
	assert.Equal(t, stamps(base, 5)(79).Add(-DefaultOverlap), queries[1].Start, "overlap start")
	assert.NotEmpty(t, queries[2].Before, "gap fill")
	requireSameIDs(t, e.srv.Archive(a.JID).IDs(), removeID(e.storedIDs(a), ids[79]))
	e.waitEvents(EventCursorReset, 1)
	e.requireIdle()
}

// TestCatchUpGapFill: when the per-run cap runs out before the forward
// catch-up reaches the archive's end, the newest page is stored above a gap;
// later runs fill the gap backwards until the older range's newest id, then
// merge the ranges. The order holds across the gap although every message
// of the gap shares its second with twenty others.
func TestCatchUpGapFill(t *testing.T) {
	e := newEnv(t, nil, WithPolicy(AccountArchive, Policy{MaxMessages: 100}))
	a := e.account()
	e.fill(a, 0, 60, stamps(base, 20))
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	e.requireInSync(a)

	e.fill(a, 60, 333, stamps(base, 20))
	rep, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	assert.Equal(t, 200, rep.Inserted, "three forward pages (the first free, two within the cap) and the newest page")
	assert.Equal(t, 1, rep.Gaps)
	assert.False(t, rep.Complete)
	assert.True(t, rep.ReachedStart)
	e.waitEvents(EventGapDetected, 1)

	rep, err = e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	assert.Equal(t, 100, rep.Inserted, "the cap: two gap-fill pages")
	assert.Equal(t, 1, rep.Gaps)
	rep, err = e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	assert.Equal(t, 33, rep.Inserted)
	assert.Equal(t, rep.Messages, rep.Inserted+rep.Duplicates)
	assert.Zero(t, rep.Gaps)
	assert.True(t, rep.Complete)
	e.requireInSync(a)
	e.requireIdle()
	e.waitEvents(EventGapClosed, 1)
	st := e.syncer.Stats()
	assert.EqualValues(t, 1, st.GapsDetected)
	assert.EqualValues(t, 1, st.GapsClosed)

	// Positions: the first range ends at 0, the forward pages follow it, the
	// newest page starts PosStride above them and the gap fill sits below it.
	msgs, err := e.store.Messages(e.ctx, a, AllMessages())
	require.NoError(t, err)
	assert.Equal(t, FirstPos, msgs[59].Pos)
	assert.Equal(t, FirstPos+150, msgs[209].Pos)
	assert.Equal(t, FirstPos+150+PosStride, msgs[len(msgs)-50].Pos)
	for i := 1; i < len(msgs); i++ {
		require.Less(t, msgs[i-1].Pos, msgs[i].Pos)
	}
}

// TestRoomFirstSyncLatestAndLoadOlder: with FirstSyncLatest a room's first
// sync fetches the newest page only; LoadOlder scrolls back on demand until
// the archive start.
func TestRoomFirstSyncLatestAndLoadOlder(t *testing.T) {
	e := newEnv(t, nil, WithPolicy(RoomArchive, Policy{FirstSync: FirstSyncLatest}))
	r := room("coven")
	ids := e.fill(r, 0, 180, stamps(base, 7))

	rep, err := e.syncer.CatchUp(e.ctx, r)
	require.NoError(t, err)
	assert.True(t, rep.Complete, "nothing more is wanted by the latest-page policy")
	assert.False(t, rep.ReachedStart)
	requireSameIDs(t, ids[130:], e.storedIDs(r))

	rep, err = e.syncer.LoadOlder(e.ctx, r, 70)
	require.NoError(t, err)
	assert.Equal(t, 70, rep.Inserted)
	assert.False(t, rep.Complete)
	requireSameIDs(t, ids[60:], e.storedIDs(r))

	rep, err = e.syncer.LoadOlder(e.ctx, r, 1000)
	require.NoError(t, err)
	assert.Equal(t, 60, rep.Inserted)
	assert.True(t, rep.Complete)
	assert.True(t, rep.ReachedStart)
	e.requireInSync(r)
	assert.True(t, e.ranges(r)[0].FromEnd)
	e.requireIdle()
}

// TestFirstSyncSince: the since policy fetches only what is newer than the
// bound, whether the bound lies beyond the newest page (more than a page of
// recent history, back-filled down to the bound) or within it (the newest
// page itself stops at the bound).
func TestFirstSyncSince(t *testing.T) {
	now := base.Add(10 * 24 * time.Hour)
	for name, tc := range map[string]struct {
		every       time.Duration // one message every
		n, recent   int           // messages, and how many are in the last five days
		wantQueries int
	}{
		"more than a page": {every: 2 * time.Hour, n: 120, recent: 60, wantQueries: 2},
		"less than a page": {every: 12 * time.Hour, n: 20, recent: 10, wantQueries: 1},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil, WithPolicy(RoomArchive, Policy{FirstSync: FirstSyncSince, Since: 5 * 24 * time.Hour}),
				WithClock(newFakeClock(now)))
			r := room("since")
			ids := e.fill(r, 0, tc.n, func(i int) time.Time { return base.Add(time.Duration(i) * tc.every) })
			rep, err := e.syncer.CatchUp(e.ctx, r)
			require.NoError(t, err)
			assert.True(t, rep.Complete)
			requireSameIDs(t, ids[tc.n-tc.recent:], e.storedIDs(r), "messages from the last five days")
			assert.False(t, e.ranges(r)[0].FromEnd)
			qs := e.srv.Queries()
			require.Len(t, qs, tc.wantQueries)
			for _, q := range qs {
				assert.Equal(t, now.Add(-5*24*time.Hour), q.Start, "every query starts at the bound")
			}
			e.requireIdle()
		})
	}
}

// TestFirstSyncSinceBackfillsToMovingBound: a FirstSyncSince back-fill cut
// short by the per-run cap continues on the next run down to the bound and
// no further; once the clock moves on, the bound moves with it and later runs
// fetch only what is new.
func TestFirstSyncSinceBackfillsToMovingBound(t *testing.T) {
	const every, since = 2 * time.Hour, 5 * 24 * time.Hour
	now := base.Add(10 * 24 * time.Hour)
	clock := newFakeClock(now)
	e := newEnv(t, nil, WithPolicy(RoomArchive, Policy{FirstSync: FirstSyncSince, Since: since, MaxMessages: 5}),
		WithClock(clock))
	r := room("moving")
	ids := e.fill(r, 0, 120, func(i int) time.Time { return base.Add(time.Duration(i) * every) }) // 60 in the last 5 days

	rep, err := e.syncer.CatchUp(e.ctx, r)
	require.NoError(t, err)
	assert.False(t, rep.Complete, "the cap stopped the back-fill")
	assert.Equal(t, 55, rep.Inserted, "the newest page and 5 older messages")
	requireSameIDs(t, ids[65:], e.storedIDs(r), "after the first run")

	rep, err = e.syncer.CatchUp(e.ctx, r)
	require.NoError(t, err)
	assert.True(t, rep.Complete, "the back-fill reached the bound")
	assert.Equal(t, 5, rep.Inserted)
	requireSameIDs(t, ids[60:], e.storedIDs(r), "messages from the last five days")
	for _, q := range e.srv.Queries() {
		if q.After != "" {
			continue // forward from the newest stored id, no time filter
		}
		assert.False(t, q.Start.Before(now.Add(-since)), "query %d starts at %v, before the bound", q.Seq, q.Start)
	}

	// A day later: two days' worth of messages are new, the bound has moved
	// a day forward, and nothing older than what is stored is fetched.
	clock.Advance(24 * time.Hour)
	more := e.fill(r, 120, 12, func(i int) time.Time { return base.Add(time.Duration(i) * every) })
	before := e.srv.Stats().Queries
	rep, err = e.syncer.CatchUp(e.ctx, r)
	require.NoError(t, err)
	assert.True(t, rep.Complete)
	assert.Equal(t, 12, rep.Inserted)
	assert.Equal(t, 1, e.srv.Stats().Queries-before, "only the page after the newest stored id")
	requireSameIDs(t, append(ids[60:], more...), e.storedIDs(r), "after the bound moved")
	e.requireIdle()
}

// TestMaxMessagesResume: the per-run cap stops gap filling; progress is
// committed page by page and the next run, even after a restart, continues
// without gaps or duplicates.
func TestMaxMessagesResume(t *testing.T) {
	e := newEnv(t, nil, WithPolicy(AccountArchive, Policy{FirstSync: FirstSyncAll, MaxMessages: 120}))
	a := e.account()
	e.fill(a, 0, 400, stamps(base, 30))

	rep, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	assert.False(t, rep.Complete)
	assert.Equal(t, 170, rep.Inserted, "the newest page and 120 older messages")

	e.reconnect()
	rep, err = e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	assert.Equal(t, 120, rep.Inserted)
	assert.Zero(t, rep.Duplicates)

	for range 2 {
		rep, err = e.syncer.CatchUp(e.ctx, a)
		require.NoError(t, err)
	}
	assert.True(t, rep.Complete)
	e.requireInSync(a)
	e.requireIdle()
}

// TestResumeAfterFailure: a sync that fails in the middle of a forward
// catch-up, or of a gap fill, keeps what it committed; a restarted client
// finishes it exactly once.
func TestResumeAfterFailure(t *testing.T) {
	for name, tc := range map[string]struct {
		policy        Policy
		prepare       int // runs before the failing one
		failAt        int // the failing query of the failing run
		committed     int // messages the failing run commits
		ranges, later int // ranges after it; messages the next run inserts
	}{
		"forward":  {failAt: 3, committed: 100, ranges: 1, later: 200},
		"gap fill": {policy: Policy{MaxMessages: 100}, prepare: 1, failAt: 3, committed: 50, ranges: 2, later: 50},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil, WithPolicy(AccountArchive, tc.policy))
			a := e.account()
			e.fill(a, 0, 40, stamps(base, 10))
			_, err := e.syncer.CatchUp(e.ctx, a)
			require.NoError(t, err)
			e.fill(a, 40, 300, stamps(base, 10))
			for range tc.prepare {
				_, err := e.syncer.CatchUp(e.ctx, a)
				require.NoError(t, err)
			}
			stored := len(e.storedIDs(a))

			first := e.srv.Stats().Queries
			e.srv.Script(func(q fakeserver.Query) fakeserver.Fault {
				if q.Seq == first+tc.failAt {
					return fakeserver.Fault{ErrorCondition: "forbidden"}
				}
				return fakeserver.Fault{}
			})
			rep, err := e.syncer.CatchUp(e.ctx, a)
			require.Error(t, err)
			assert.Equal(t, tc.committed, rep.Inserted)
			assert.Len(t, e.storedIDs(a), stored+tc.committed)
			assert.Len(t, e.ranges(a), tc.ranges)
			e.requireIdle()

			e.srv.Script(nil)
			e.reconnect()
			rep, err = e.syncer.CatchUp(e.ctx, a)
			require.NoError(t, err)
			assert.Equal(t, tc.later, rep.Inserted)
			assert.Equal(t, rep.Messages, rep.Inserted+rep.Duplicates)
			for !rep.Complete {
				rep, err = e.syncer.CatchUp(e.ctx, a)
				require.NoError(t, err)
				assert.Zero(t, rep.Inserted, "the gap was filled: the last page only meets the older range")
			}
			e.requireInSync(a)
		})
	}
}

// TestDefaultPolicyKeepsRoomsComplete: with the default policy a room's
// history is fetched down to the archive's start, 1000 older results per
// run; Report.Complete and Report.ReachedStart say when it got there.
func TestDefaultPolicyKeepsRoomsComplete(t *testing.T) {
	e := newEnv(t, nil)
	r := room("big")
	e.fill(r, 0, 1120, stamps(base, 10))

	rep, err := e.syncer.CatchUp(e.ctx, r)
	require.NoError(t, err)
	assert.Equal(t, 1050, rep.Inserted, "the newest page and 1000 older results")
	assert.False(t, rep.Complete)
	assert.False(t, rep.ReachedStart)

	rep, err = e.syncer.CatchUp(e.ctx, r)
	require.NoError(t, err)
	assert.Equal(t, 70, rep.Inserted)
	assert.True(t, rep.Complete)
	assert.True(t, rep.ReachedStart)
	e.requireInSync(r)
	assert.True(t, e.ranges(r)[0].FromEnd)
}

// TestReportCountsAddUp: every result a run fetched is counted in exactly
// one of Report.Inserted and Report.Duplicates, in every path that fetches
// results already stored (the newest page after a forgotten cursor, a gap
// fill meeting the older range, Prosody's self-archived copies), and the
// Stats add up the same way, live messages included.
func TestReportCountsAddUp(t *testing.T) {
	e := newEnv(t, nil, WithPolicy(AccountArchive, Policy{MaxMessages: 60}))
	a := e.account()
	check := func(what string, rep Report) {
		t.Helper()
		assert.Equal(t, rep.Messages, rep.Inserted+rep.Duplicates, "%s: %+v", what, rep)
		st := e.syncer.Stats()
		assert.Equal(t, st.Messages+st.Live, st.Inserted+st.Duplicates, "%s: stats %+v", what, st)
	}
	ids := e.fill(a, 0, 100, stamps(base, 20))
	rep, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	check("first sync", rep)

	forgotten := ids[len(ids)-1]
	e.srv.Archive(a.JID).Forget(forgotten) // the newest page with the overlap follows
	e.fill(a, 100, 10, stamps(base, 20))
	rep, err = e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	assert.Positive(t, rep.Duplicates, "the overlap holds stored messages")
	check("forgotten cursor", rep)

	e.fill(a, 110, 300, stamps(base, 20))
	for range 8 {
		rep, err = e.syncer.CatchUp(e.ctx, a)
		require.NoError(t, err)
		check("gap fill", rep)
	}
	e.srv.Archive(a.JID).AppendSelfArchived(fakeserver.Message{From: e.srv.Account(), To: e.srv.Account(), Body: "note", OriginID: "note-1", Stamp: base})
	rep, err = e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Duplicates, "the second copy")
	check("self-archived", rep)
	// Exactly once: the server's messages but the second self copy (an
	// alias), the stored ones but the one the server forgot after it was
	// stored.
	want := e.srv.Archive(a.JID).IDs()
	requireSameIDs(t, want[:len(want)-1], removeID(e.storedIDs(a), forgotten))
}
