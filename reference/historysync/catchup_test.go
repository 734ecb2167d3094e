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

// TestCatchUpIncremental: a second run starts Overlap before the newest
// stored message, recognises its id and appends only what is new.
func TestCatchUpIncremental(t *testing.T) {
	e := newEnv(t, nil)
	a := e.account()
	e.fill(a, 0, 80, stamps(base, 5))
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)

	e.fill(a, 80, 30, stamps(base, 5))
	before := e.srv.Stats().Queries
	rep, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	e.requireInSync(a)
	e.requireIdle()
	assert.Equal(t, 30, rep.Inserted)
	assert.Zero(t, rep.Duplicates)
	assert.Equal(t, 1, e.srv.Stats().Queries-before, "one page suffices")

	q := e.srv.Queries()
	last := q[len(q)-1]
	assert.True(t, last.HasBefore)
	assert.Empty(t, last.Before, "newest page")
	assert.Equal(t, stamps(base, 5)(79).Add(-DefaultOverlap), last.Start, "overlap start")

	// Nothing new: one query, nothing stored.
	rep, err = e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	assert.Zero(t, rep.Inserted)
	e.requireInSync(a)
}

// TestCatchUpGapFill: more new messages than one page leave a gap, filled
// backwards until the older range's newest id, then merged; the order holds
// across the gap although every message of the gap shares its second with
// twenty others.
func TestCatchUpGapFill(t *testing.T) {
	e := newEnv(t, nil)
	a := e.account()
	e.fill(a, 0, 60, stamps(base, 20))
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)

	e.fill(a, 60, 333, stamps(base, 20))
	rep, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	e.requireInSync(a)
	e.requireIdle()
	assert.Equal(t, 333, rep.Inserted)
	assert.Zero(t, rep.Gaps)
	assert.True(t, rep.Complete)
	e.waitEvents(EventGapDetected, 1)
	e.waitEvents(EventGapClosed, 1)
	st := e.syncer.Stats()
	assert.EqualValues(t, 1, st.GapsDetected)
	assert.EqualValues(t, 1, st.GapsClosed)

	// Positions: the old range ends at 0, the gap fill sits below the new
	// range, which starts PosStride above.
	msgs, err := e.store.Messages(e.ctx, a, AllMessages())
	require.NoError(t, err)
	assert.Equal(t, FirstPos, msgs[59].Pos)
	assert.Equal(t, PosStride, msgs[len(msgs)-50].Pos)
	for i := 1; i < len(msgs); i++ {
		require.Less(t, msgs[i-1].Pos, msgs[i].Pos)
	}
}

// TestRoomFirstSyncLatestAndLoadOlder: a room's first sync fetches the newest
// page only; LoadOlder scrolls back on demand until the archive start.
func TestRoomFirstSyncLatestAndLoadOlder(t *testing.T) {
	e := newEnv(t, nil)
	r := room("coven")
	ids := e.fill(r, 0, 180, stamps(base, 7))

	rep, err := e.syncer.CatchUp(e.ctx, r)
	require.NoError(t, err)
	assert.True(t, rep.Complete, "nothing more is wanted by the latest-page policy")
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
	assert.Equal(t, 1, e.srv.Stats().Queries-before, "only the newest page")
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

// TestResumeAfterFailure: a sync that fails in the middle of a gap fill keeps
// what it committed; a restarted client finishes it exactly once.
func TestResumeAfterFailure(t *testing.T) {
	e := newEnv(t, nil)
	a := e.account()
	e.fill(a, 0, 40, stamps(base, 10))
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	e.fill(a, 40, 300, stamps(base, 10))

	// The third query of the next run (the second gap-fill page) fails for
	// good.
	first := e.srv.Stats().Queries
	e.srv.Script(func(q fakeserver.Query) fakeserver.Fault {
		if q.Seq == first+3 {
			return fakeserver.Fault{ErrorCondition: "forbidden"}
		}
		return fakeserver.Fault{}
	})
	rep, err := e.syncer.CatchUp(e.ctx, a)
	require.Error(t, err)
	assert.Equal(t, 100, rep.Inserted, "newest page and one gap-fill page")
	assert.Len(t, e.ranges(a), 2, "the gap is still recorded")
	e.requireIdle()

	e.srv.Script(nil)
	e.reconnect()
	rep, err = e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	assert.Equal(t, 200, rep.Inserted)
	assert.Zero(t, rep.Duplicates)
	e.requireInSync(a)
}
