package historysync

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"expvar"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync/internal/fakeserver"
)

// TestLiveExtendsNewestRange: live room messages with a stanza-id extend the
// newest range once the room was caught up, so the next CatchUp has nothing
// to fetch; messages of rooms not caught up are left to CatchUp.
func TestLiveExtendsNewestRange(t *testing.T) {
	e := newEnv(t, nil)
	r := room("live")
	other := room("notyet")
	e.fill(r, 0, 30, stamps(base, 10))
	_, err := e.syncer.CatchUp(e.ctx, r)
	require.NoError(t, err)

	var ids []string
	for i := range 3 {
		from, _ := r.JID.WithResource("romeo")
		id, err := e.srv.SendLive(e.ctx, r.JID, fakeserver.Message{From: from, Body: fmt.Sprintf("live %d", i), OriginID: fmt.Sprintf("live-%d", i)})
		require.NoError(t, err)
		ids = append(ids, id)
	}
	_, err = e.srv.SendLive(e.ctx, other.JID, fakeserver.Message{Body: "elsewhere"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return e.syncer.Stats().Live == 3 }, testTimeout, time.Millisecond)
	e.waitEvents(EventLiveExtended, 3)

	rs := e.ranges(r)
	require.Len(t, rs, 1)
	assert.Equal(t, ids[2], rs[0].ToID)
	msgs, err := e.store.Messages(e.ctx, r, AllMessages())
	require.NoError(t, err)
	last := msgs[len(msgs)-1]
	assert.True(t, last.Live)
	assert.Equal(t, "live 2", last.Body)
	assert.Equal(t, "live-2", last.OriginID)
	assert.Empty(t, e.storedIDs(other), "a room not caught up is not extended")

	before := e.syncer.Stats().Queries
	rep, err := e.syncer.CatchUp(e.ctx, r)
	require.NoError(t, err)
	assert.Zero(t, rep.Inserted, "the live messages are not fetched again")
	assert.EqualValues(t, 1, e.syncer.Stats().Queries-before)
	e.requireInSync(r)
}

// TestLiveExtensionNeedsCatchUp: a live message extends a room's newest
// range only while a CatchUp on this session has reached the room's newest
// message and nothing since broke the live sequence: not on a new session,
// not after a CatchUp that failed before the newest page, not after a
// delayed message (room history: the archive holds messages not seen live in
// order) and not after Detach (the client left the room). Those messages are
// fetched by the next CatchUp instead; none is lost. An oversized live
// message is stored without its payload, like an oversized result.
func TestLiveExtensionNeedsCatchUp(t *testing.T) {
	e := newEnv(t, nil, fastRetry(1), WithBufferLimits(BufferLimits{ResultBytes: 2000}))
	r := room("rejoin")
	e.fill(r, 0, 30, stamps(base, 10))
	_, err := e.syncer.CatchUp(e.ctx, r)
	require.NoError(t, err)
	e.reconnect()
	// Another room is caught up, so that live extension is on for the
	// session: r's own state must keep its messages out.
	other := room("other")
	e.fill(other, 0, 5, stamps(base, 10))
	_, err = e.syncer.CatchUp(e.ctx, other)
	require.NoError(t, err)
	from, _ := r.JID.WithResource("romeo")
	send := func(body, payload string) {
		t.Helper()
		_, err := e.srv.SendLive(e.ctx, r.JID, fakeserver.Message{From: from, Body: body, Payload: payload})
		require.NoError(t, err)
	}
	catchUp := func() {
		t.Helper()
		_, err := e.syncer.CatchUp(e.ctx, r)
		require.NoError(t, err)
	}
	// stored waits until the newest stored message has body (messages are
	// handled in order, so the ones sent before it were handled too).
	stored := func(body string) {
		t.Helper()
		require.Eventually(t, func() bool {
			msgs, err := e.store.Messages(e.ctx, r, MessageQuery{After: MinPos, Before: MaxPos, Limit: 1, Last: true})
			require.NoError(t, err)
			return len(msgs) == 1 && msgs[0].Body == body
		}, testTimeout, time.Millisecond, "waiting for %q", body)
	}

	send("new session", "")
	e.faultOnce(1, fakeserver.Fault{ErrorCondition: stanza.Forbidden})
	_, err = e.syncer.CatchUp(e.ctx, r)
	require.Error(t, err)
	send("after a failed catch-up", "")
	catchUp()
	send("delayed", "<delay xmlns='urn:xmpp:delay' from='rejoin@conference.example.net' stamp='2025-03-01T12:00:00Z'/>")
	send("after a delayed message", "")
	catchUp()
	send("live", "")
	stored("live")
	send(strings.Repeat("big ", 1000), "")
	stored("")
	e.syncer.Detach(r)
	send("after Detach", "")
	catchUp()

	assert.EqualValues(t, 2, e.syncer.Stats().Live)
	msgs, err := e.store.Messages(e.ctx, r, AllMessages())
	require.NoError(t, err)
	type got struct {
		body    string
		live    bool
		omitted DropReason
	}
	var tail []got
	for _, m := range msgs[30:] {
		tail = append(tail, got{m.Body, m.Live, m.Omitted})
	}
	assert.Equal(t, []got{
		{"new session", false, 0},
		{"after a failed catch-up", false, 0},
		{"delayed", false, 0},
		{"after a delayed message", false, 0},
		{"live", true, 0},
		{"", true, DropOversized},
		{"after Detach", false, 0},
	}, tail)
	e.requireInSync(r)
}

// TestLiveAccountNotExtendedByDefault: the account archive is not extended by
// live messages unless its policy says so (messages sent by this client are
// archived without being seen live).
func TestLiveAccountNotExtendedByDefault(t *testing.T) {
	for _, extend := range []Switch{0, Off, On} {
		t.Run(fmt.Sprint("extend=", extend), func(t *testing.T) {
			e := newEnv(t, nil, WithPolicy(AccountArchive, Policy{LiveExtend: extend}))
			a := e.account()
			e.fill(a, 0, 5, stamps(base, 10))
			_, err := e.syncer.CatchUp(e.ctx, a)
			require.NoError(t, err)
			_, err = e.srv.SendLive(e.ctx, a.JID, fakeserver.Message{From: jid.MustParse("romeo@example.net/orchard"), To: a.JID, Body: "hi"})
			require.NoError(t, err)
			require.NoError(t, e.srv.WaitStats(e.ctx, func(st fakeserver.Stats) bool { return st.LiveMessages == 1 }))
			if extend == On {
				require.Eventually(t, func() bool { return e.syncer.Stats().Live == 1 }, testTimeout, time.Millisecond)
				e.requireInSync(a)
				return
			}
			// The next CatchUp fetches the message: it was not stored live.
			_, err = e.syncer.CatchUp(e.ctx, a)
			require.NoError(t, err)
			e.requireInSync(a)
			msgs, err := e.store.Messages(e.ctx, a, AllMessages())
			require.NoError(t, err)
			assert.Equal(t, "hi", msgs[5].Body)
			assert.False(t, msgs[5].Live)
			assert.Zero(t, e.syncer.Stats().Live)
		})
	}
}

// TestSelfArchivedDuplicates: a message the account sends to itself is
// archived twice (two archive ids, one origin-id); the store keeps one
// message with both ids and counts a duplicate.
func TestSelfArchivedDuplicates(t *testing.T) {
	e := newEnv(t, nil)
	a := e.account()
	e.fill(a, 0, 3, stamps(base, 10))
	self := fakeserver.Message{From: e.sess.LocalAddr(), To: a.JID, Body: "note to self", OriginID: "self-1", Stamp: base.Add(time.Second)}
	sent, received := e.srv.Archive(a.JID).AppendSelfArchived(self)
	e.fill(a, 3, 2, stamps(base.Add(2*time.Second), 10))

	rep, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	assert.Equal(t, 6, rep.Inserted)
	assert.Equal(t, 1, rep.Duplicates)
	msgs, err := e.store.Messages(e.ctx, a, AllMessages())
	require.NoError(t, err)
	require.Len(t, msgs, 6)
	assert.Equal(t, sent, msgs[3].ArchiveID)
	assert.Equal(t, []string{received}, msgs[3].Aliases)
	rs := e.ranges(a)
	require.Len(t, rs, 1)
	assert.Equal(t, e.srv.Archive(a.JID).IDs()[6], rs[0].ToID)

	// Idempotent: a second sync changes nothing.
	rep, err = e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	assert.Zero(t, rep.Inserted)
}

// TestConcurrencyLimit: at most WithConcurrency queries are in flight, with
// CatchUpAll and with independent callers running CatchUp on many archives
// at once.
func TestConcurrencyLimit(t *testing.T) {
	const limit = 3
	for name, syncAll := range map[string]func(s *Syncer, ctx context.Context, rooms []Archive) ([]Report, error){
		"CatchUpAll": (*Syncer).CatchUpAll,
		"independent callers": func(s *Syncer, ctx context.Context, rooms []Archive) ([]Report, error) {
			reports := make([]Report, len(rooms))
			errs := make([]error, len(rooms))
			var wg sync.WaitGroup
			for i, r := range rooms {
				wg.Go(func() { reports[i], errs[i] = s.CatchUp(ctx, r) })
			}
			wg.Wait()
			return reports, errors.Join(errs...)
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil, WithConcurrency(limit), WithPolicy(RoomArchive, Policy{FirstSync: FirstSyncAll}))
			var rooms []Archive
			for i := range 12 {
				r := room(fmt.Sprintf("room%d", i))
				e.fill(r, 0, 75, stamps(base, 10))
				rooms = append(rooms, r)
			}
			// The server holds every query for a moment, so that the queries
			// the client lets out overlap.
			var inFlight, peak atomic.Int64
			e.srv.Script(func(fakeserver.Query) fakeserver.Fault {
				n := inFlight.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(2 * time.Millisecond)
				inFlight.Add(-1)
				return fakeserver.Fault{}
			})
			reports, err := syncAll(e.syncer, e.ctx, rooms)
			require.NoError(t, err)
			require.Len(t, reports, len(rooms))
			for i, r := range rooms {
				assert.Equal(t, r, reports[i].Archive)
				assert.True(t, reports[i].Complete)
				e.requireInSync(r)
			}
			assert.LessOrEqual(t, peak.Load(), int64(limit))
			assert.Greater(t, peak.Load(), int64(1), "queries do run concurrently")
			e.requireIdle()
		})
	}
}

// TestGlobalBufferCap: with 100 archives synced at once, the bytes buffered
// for in-flight queries never exceed the global cap: queries wait until
// their page fits beside the pages in flight.
func TestGlobalBufferCap(t *testing.T) {
	const capBytes = 256 << 10 // about 3 pages of 50 results
	e := newEnv(t, nil, WithConcurrency(100), fastRetry(4),
		WithPolicy(RoomArchive, Policy{FirstSync: FirstSyncAll}),
		WithBufferLimits(BufferLimits{TotalBytes: capBytes}))
	var rooms []Archive
	for i := range 100 {
		r := room(fmt.Sprintf("cap%d", i))
		e.fill(r, 0, 60, stamps(base, 10))
		rooms = append(rooms, r)
	}
	// The queries the Syncer has let out when each one reaches the server.
	var maxTracked atomic.Int64
	syncer := e.syncer
	e.srv.Script(func(fakeserver.Query) fakeserver.Fault {
		n := syncer.Stats().TrackedQueries
		for {
			m := maxTracked.Load()
			if n <= m || maxTracked.CompareAndSwap(m, n) {
				break
			}
		}
		return fakeserver.Fault{}
	})
	_, err := e.syncer.CatchUpAll(e.ctx, rooms)
	require.NoError(t, err)
	for _, r := range rooms {
		e.requireInSync(r)
	}
	st := e.syncer.Stats()
	t.Logf("peak buffered bytes %d (cap %d), most queries let out at once %d, overflow drops %d, retries %d",
		st.PeakBufferedBytes, capBytes, maxTracked.Load(), st.Dropped["overflow"], st.Retries)
	assert.LessOrEqual(t, st.PeakBufferedBytes, int64(capBytes))
	// 100 archives wanted a page each at once; the cap let a few out.
	assert.LessOrEqual(t, maxTracked.Load(), int64(8), "admission control held the other archives back")
	e.requireIdle()
}

// TestGlobalBufferOverflow: results far larger than the size estimate
// overflow the cap; they are dropped and counted, the cap holds, and the
// pages are retried smaller until every archive completes.
func TestGlobalBufferOverflow(t *testing.T) {
	const capBytes = 64 << 10
	e := newEnv(t, nil, WithConcurrency(10), fastRetry(20),
		WithPolicy(RoomArchive, Policy{FirstSync: FirstSyncAll}),
		WithBufferLimits(BufferLimits{TotalBytes: capBytes}))
	var rooms []Archive
	for i := range 10 {
		r := room(fmt.Sprintf("big%d", i))
		e.fill(r, 0, 40, stamps(base, 10))
		rooms = append(rooms, r)
	}
	e.faultAlways(fakeserver.Fault{BodySize: 6000, ResultInterval: 50 * time.Microsecond})
	_, err := e.syncer.CatchUpAll(e.ctx, rooms)
	require.NoError(t, err)
	for _, r := range rooms {
		e.requireInSync(r)
	}
	st := e.syncer.Stats()
	assert.LessOrEqual(t, st.PeakBufferedBytes, int64(capBytes))
	assert.Positive(t, st.Dropped["overflow"], "the cap was hit")
	assert.Positive(t, st.Retries)
	e.requireIdle()
}

// mallocsPerRun returns the average number of heap allocations of f over
// runs calls, after a warm-up call, with GOMAXPROCS at 1 (like
// testing.AllocsPerRun, which rounds the average down to an integer and so
// would hide an allocation made every other call).
func mallocsPerRun(runs int, f func()) float64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / float64(runs)
}

// TestDropsDoNotAllocate: routing a result that is dropped allocates
// nothing: unknown or late query id, spoofed sender, no archive id, and a
// flood (more results than the query asked for), with and without an event
// callback (events are queued by value).
func TestDropsDoNotAllocate(t *testing.T) {
	e := newEnv(t, nil)
	var delivered atomic.Int64
	for name, opts := range map[string][]Option{
		"no events": nil,
		"events":    {WithEvents(func(Event) { delivered.Add(1) }, 1<<16)},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := New(e.sess, NewMemStore(), opts...) // not served: driven directly
			require.NoError(t, err)
			defer s.Close()
			r := room("alloc")
			tracked := &query{id: "tracked", archive: r, from: r.JID, maxResults: 10, maxBytes: 1 << 20}
			_, err = s.tracker.begin(e.ctx, e.ctx, tracked, 10)
			require.NoError(t, err)
			defer s.tracker.end(tracked, nil)
			full := &query{id: "full", archive: r, from: r.JID, maxResults: 0, maxBytes: 1 << 20}
			_, err = s.tracker.begin(e.ctx, e.ctx, full, 10)
			require.NoError(t, err)
			defer s.tracker.end(full, nil)
			ended := &query{id: "ended", archive: r, from: r.JID}
			_, err = s.tracker.begin(e.ctx, e.ctx, ended, 10)
			require.NoError(t, err)
			s.tracker.end(ended, nil)
			evil := jid.MustParse("mallory@evil.example")

			tokens := func(queryID, archiveID string) []xml.Token {
				msg := xml.StartElement{Name: xml.Name{Space: stanza.NSClient, Local: "message"}}
				attrs := []xml.Attr{{Name: xml.Name{Local: "queryid"}, Value: queryID}}
				if archiveID != "" {
					attrs = append(attrs, xml.Attr{Name: xml.Name{Local: "id"}, Value: archiveID})
				}
				res := xml.StartElement{Name: nameResult, Attr: attrs}
				fwd := xml.StartElement{Name: nameForwarded}
				body := xml.StartElement{Name: xml.Name{Space: stanza.NSClient, Local: "body"}}
				return []xml.Token{msg, xml.CharData("\n  "), res, fwd, body, xml.CharData("hello"), body.End(), fwd.End(), res.End(), msg.End()}
			}
			for _, tc := range []struct {
				name   string
				from   jid.JID
				toks   []xml.Token
				reason string
			}{
				{"unknown", r.JID, tokens("never-issued", "x"), "unknown"},
				{"late", r.JID, tokens("ended", "x"), "late"},
				{"spoofed", evil, tokens("tracked", "x"), "spoofed"},
				{"no archive id", r.JID, tokens("tracked", ""), "malformed"},
				{"flood", r.JID, tokens("full", "x"), "flood"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					const runs = 2000
					before := s.Stats().Dropped[tc.reason]
					reader := &sliceReader{toks: tc.toks}
					allocs := mallocsPerRun(runs, func() {
						reader.i = 0
						s.handleResult(tc.from, reader)
					})
					t.Logf("%.4f allocations per dropped result", allocs)
					switch {
					case raceEnabled && tc.reason == "flood":
						// A flood is dropped after its tokens were read into
						// a pooled scratch buffer, and under the race
						// detector sync.Pool drops a random quarter of what
						// is put back, on purpose: allocations happen there.
						t.Log("race detector: sync.Pool drops items, allocation count not checked")
					default:
						// A stray allocation by the runtime is tolerated;
						// one per result, or per hundred results, is not.
						assert.Less(t, allocs, 0.01)
					}
					assert.EqualValues(t, runs+1, s.Stats().Dropped[tc.reason]-before)
				})
			}
			st := s.Stats()
			assert.EqualValues(t, 2, st.TrackedQueries)
			assert.Zero(t, st.BufferedResults, "nothing was buffered")
		})
	}
	assert.Positive(t, delivered.Load(), "the events were delivered")
}

// TestEventsNeverBlock: a stuck event callback does not stall the Syncer's
// work: the pages are fetched and committed, and the events that do not fit
// the queue are dropped and counted. CatchUp itself waits for its events to
// be delivered (see Event) until its context ends, and then returns its
// result.
func TestEventsNeverBlock(t *testing.T) {
	release := make(chan struct{})
	e := newEnv(t, nil, WithEvents(func(Event) { <-release }, 1))
	t.Cleanup(func() { close(release) })
	a := e.account()
	e.fill(a, 0, 120, stamps(base, 10))
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := e.syncer.CatchUp(ctx, a)
		done <- err
	}()
	require.Eventually(t, func() bool { return e.syncer.Stats().Syncs == 1 }, testTimeout, time.Millisecond)
	e.requireInSync(a)
	assert.Positive(t, e.syncer.Stats().EventsDropped)
	select {
	case err := <-done:
		t.Fatalf("CatchUp returned (%v) before its events were delivered", err)
	default:
	}
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, "the run itself succeeded")
	case <-time.After(testTimeout):
		t.Fatal("CatchUp did not return when its context ended")
	}
}

// TestEventCallbackPanic: a panicking callback is contained.
func TestEventCallbackPanic(t *testing.T) {
	e := newEnv(t, nil, WithEvents(func(Event) { panic("bad callback") }, 16))
	a := e.account()
	e.fill(a, 0, 10, stamps(base, 10))
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	e.requireInSync(a)
}

// TestStatsExport: Stats and Var render JSON for expvar with every counter
// and gauge the package documents, and a published Var reports live values.
func TestStatsExport(t *testing.T) {
	e := newEnv(t, nil, fastRetry(2))
	a := e.account()
	e.fill(a, 0, 60, stamps(base, 10))
	e.faultOnce(1, fakeserver.Fault{ErrorCondition: stanza.InternalServerError}) // one retry
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	e.faultAlways(fakeserver.Fault{UnknownQueryIDResults: 2, SpoofedResults: 1})
	e.fill(a, 60, 5, stamps(base, 10))
	_, err = e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	e.waitServerIdle()
	e.requireIdle()

	name := fmt.Sprintf("historysync-test-%p", e.syncer) // unique, also with -count
	expvar.Publish(name, e.syncer.Var())
	published := expvar.Get(name)
	require.NotNil(t, published)

	var fields map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(published.String()), &fields))
	for _, key := range []string{"queries", "pages", "messages", "inserted", "duplicates", "retries", "timeouts",
		"failures", "cursor_resets", "gaps_detected", "gaps_closed", "live", "syncs", "events_dropped", "stalls", "pings", "unresponsive", "dropped",
		"in_flight", "tracked_queries", "buffered_results", "buffered_bytes", "peak_buffered_bytes"} {
		assert.Contains(t, fields, key)
	}
	var got Stats
	require.NoError(t, json.Unmarshal([]byte(published.String()), &got))
	want := e.syncer.Stats()
	assert.Equal(t, want, got, "the published Var is the current Stats")
	assert.EqualValues(t, 4, got.Queries, "the newest page, its retry, one older page, then the incremental page")
	assert.EqualValues(t, 3, got.Pages)
	assert.EqualValues(t, 65, got.Messages, "pages of 50 and 10, then the incremental page of 5")
	assert.EqualValues(t, 65, got.Inserted)
	assert.Zero(t, got.Duplicates)
	assert.EqualValues(t, 1, got.Retries)
	assert.EqualValues(t, 2, got.Syncs)
	assert.Zero(t, got.Stalls)
	assert.EqualValues(t, 2, got.Dropped["unknown"])
	assert.EqualValues(t, 1, got.Dropped["spoofed"])
	assert.Positive(t, got.PeakBufferedBytes)
	assert.Len(t, got.Dropped, int(numDropReasons)-1, "every drop reason is reported, zero or not")

	// The snapshot is a Var too, and the published Var follows the Syncer.
	var snapshot Stats
	require.NoError(t, json.Unmarshal([]byte(want.String()), &snapshot))
	assert.Equal(t, want, snapshot)
	_, err = e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal([]byte(published.String()), &got))
	assert.EqualValues(t, 5, got.Queries, "live value after another run")
}

// TestPositionSpaceExhausted: a gap too large for the positions between two
// ranges fails instead of misordering.
func TestPositionSpaceExhausted(t *testing.T) {
	e := newEnv(t, nil)
	a := e.account()
	ids := e.fill(a, 0, 30, stamps(base, 10))
	// Ranges stored by hand: [0..9] at positions 0..9 and [20..29] at
	// positions 15..24, leaving 5 free positions for a gap of 10.
	older := e.srv.Archive(a.JID).Messages()
	mk := func(i int, pos int64) Message {
		return Message{ArchiveID: ids[i], Pos: pos, Time: older[i].Stamp}
	}
	var msgs []Message
	for i := range 10 {
		msgs = append(msgs, mk(i, int64(i)))
	}
	for i := 20; i < 30; i++ {
		msgs = append(msgs, mk(i, int64(i-5)))
	}
	ranges := []Range{
		{FromID: ids[0], FromTime: older[0].Stamp, FromPos: 0, FromEnd: true, ToID: ids[9], ToTime: older[9].Stamp, ToPos: 9},
		{FromID: ids[20], FromTime: older[20].Stamp, FromPos: 15, ToID: ids[29], ToTime: older[29].Stamp, ToPos: 24},
	}
	_, err := e.store.Commit(e.ctx, a, Commit{Messages: msgs, Ranges: ranges})
	require.NoError(t, err)
	_, err = e.syncer.CatchUp(e.ctx, a)
	require.ErrorIs(t, err, ErrPositions)
	assert.Equal(t, ranges, e.ranges(a), "nothing committed")
	e.requireIdle()
}

// TestCorruptStoredRanges: ranges that overlap are refused with an error.
func TestCorruptStoredRanges(t *testing.T) {
	e := newEnv(t, nil)
	a := e.account()
	bad := badRangesStore{Store: e.store, ranges: []Range{{FromID: "a", ToID: "b", FromPos: 0, ToPos: 10}, {FromID: "c", ToID: "d", FromPos: 5, ToPos: 20}}}
	e.store = bad
	e.reconnect()
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.ErrorContains(t, err, "overlap")
	_, err = e.syncer.CatchUp(e.ctx, Archive{})
	require.Error(t, err)
	_, err = e.syncer.LoadOlder(e.ctx, a, 0)
	require.Error(t, err)
}

type badRangesStore struct {
	Store
	ranges []Range
}

func (s badRangesStore) Ranges(context.Context, Archive) ([]Range, error) { return s.ranges, nil }
