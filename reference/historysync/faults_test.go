package historysync

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync/internal/fakeserver"
)

// fastRetry retries quickly, for tests.
func fastRetry(attempts int) Option {
	return WithRetry(RetryPolicy{MaxAttempts: attempts, BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond})
}

// faultOnce scripts f for the n-th query from now (1-based) and normal
// answers otherwise.
func (e *env) faultOnce(n int, f fakeserver.Fault) {
	first := e.srv.Stats().Queries
	e.srv.Script(func(q fakeserver.Query) fakeserver.Fault {
		if q.Seq == first+n {
			return f
		}
		return fakeserver.Fault{}
	})
}

// faultAlways scripts f for every query.
func (e *env) faultAlways(f fakeserver.Fault) {
	e.srv.Script(func(fakeserver.Query) fakeserver.Fault { return f })
}

// waitServerIdle waits until the server has finished answering, stragglers
// included.
func (e *env) waitServerIdle() {
	e.t.Helper()
	require.NoError(e.t, e.srv.WaitIdle(e.ctx))
}

func TestTransientErrorRetried(t *testing.T) {
	for _, cond := range []stanza.Condition{stanza.ResourceConstraint, stanza.PolicyViolation, stanza.InternalServerError, stanza.ServiceUnavailable} {
		t.Run(string(cond), func(t *testing.T) {
			e := newEnv(t, nil, fastRetry(3))
			a := e.account()
			e.fill(a, 0, 70, stamps(base, 10))
			// Pretty-printed: whitespace before <error/> (mellium's
			// stanza.UnmarshalError panics on it).
			e.faultOnce(1, fakeserver.Fault{ErrorCondition: cond, Whitespace: true})
			rep, err := e.syncer.CatchUp(e.ctx, a)
			require.NoError(t, err)
			assert.True(t, rep.Complete)
			e.requireInSync(a)
			e.requireIdle()
			assert.EqualValues(t, 1, e.syncer.Stats().Retries)
			e.waitEvents(EventQueryRetrying, 1)
		})
	}
}

func TestPermanentErrorFails(t *testing.T) {
	e := newEnv(t, nil, fastRetry(3))
	a := e.account()
	e.fill(a, 0, 10, stamps(base, 10))
	e.faultAlways(fakeserver.Fault{ErrorCondition: stanza.FeatureNotImplemented, ErrorText: "no MAM here"})
	_, err := e.syncer.CatchUp(e.ctx, a)
	var se stanza.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, stanza.FeatureNotImplemented, se.Condition)
	st := e.syncer.Stats()
	assert.Zero(t, st.Retries)
	assert.EqualValues(t, 1, st.Failures)
	assert.Empty(t, e.storedIDs(a))
	e.requireIdle()
	e.waitEvents(EventQueryFailed, 1)
}

// TestRetriesExhausted: a transient error that persists fails after
// MaxAttempts attempts with growing, jittered delays.
func TestRetriesExhausted(t *testing.T) {
	e := newEnv(t, nil, fastRetry(4))
	a := e.account()
	e.faultAlways(fakeserver.Fault{ErrorCondition: stanza.ResourceConstraint})
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.True(t, isCondition(err, stanza.ResourceConstraint), "%v", err)
	assert.EqualValues(t, 3, e.syncer.Stats().Retries)
	assert.EqualValues(t, 4, e.syncer.Stats().Queries)
	e.requireIdle()
}

func TestBackoff(t *testing.T) {
	s := &Syncer{cfg: defaultConfig()}
	s.cfg.retry.BaseDelay = 100 * time.Millisecond
	s.cfg.retry.MaxDelay = time.Second
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 30: time.Second} {
		lower, upper := 0, 0 // draws in the lower and upper half of [want/2, want]
		for range 100 {
			d := s.backoff(attempt)
			require.GreaterOrEqual(t, d, want/2, "attempt %d", attempt)
			require.LessOrEqual(t, d, want, "attempt %d", attempt)
			if d < want*3/4 {
				lower++
			} else {
				upper++
			}
		}
		// Jitter: the draws spread over the interval (each half is missed
		// with probability 2^-100).
		assert.Positive(t, lower, "attempt %d: no draw below %v", attempt, want*3/4)
		assert.Positive(t, upper, "attempt %d: no draw above %v", attempt, want*3/4)
	}
}

// TestMalformedReplies: every malformed reply fails the page with a clear
// error, stores nothing and leaves no buffer behind; the next run works.
func TestMalformedReplies(t *testing.T) {
	for name, tc := range map[string]struct {
		fault fakeserver.Fault
		want  error
	}{
		"no fin":             {fakeserver.Fault{NoFin: true}, ErrMissingFin},
		"wrong payload":      {fakeserver.Fault{WrongPayload: true}, ErrWrongPayload},
		"fin of mam:1":       {fakeserver.Fault{RawPayload: `<fin xmlns='urn:xmpp:mam:1' complete='true'/>`}, ErrWrongPayload},
		"unbalanced fin":     {fakeserver.Fault{UnbalancedFin: true}, ErrUnbalancedPage},
		"mismatched fin":     {fakeserver.Fault{MismatchedFin: true}, ErrPageMismatch},
		"garbage fin":        {fakeserver.Fault{RawPayload: `<fin xmlns='urn:xmpp:mam:2' complete='perhaps'/>`}, ErrMalformed},
		"error then results": {fakeserver.Fault{ErrorCondition: stanza.BadRequest, ErrorAfterResults: true}, stanza.Error{Condition: stanza.BadRequest}},
		// mellium matches IQ replies by id only; the Syncer checks the sender.
		"spoofed fin":   {fakeserver.Fault{SpoofReply: true}, ErrSpoofedReply},
		"spoofed error": {fakeserver.Fault{SpoofReply: true, ErrorCondition: stanza.ResourceConstraint}, ErrSpoofedReply},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil, fastRetry(3))
			a := e.account()
			e.fill(a, 0, 30, stamps(base, 10))
			e.faultAlways(tc.fault)
			_, err := e.syncer.CatchUp(e.ctx, a)
			require.ErrorIs(t, err, tc.want)
			assert.Empty(t, e.storedIDs(a))
			assert.Empty(t, e.ranges(a))
			e.requireIdle()

			e.srv.Script(nil)
			_, err = e.syncer.CatchUp(e.ctx, a)
			require.NoError(t, err)
			e.requireInSync(a)
		})
	}
}

// TestWhitespaceTolerated: a pretty-printing server (whitespace before
// <result/>, the IQ payload and everywhere) is handled.
func TestWhitespaceTolerated(t *testing.T) {
	e := newEnv(t, nil)
	a := room("pretty")
	e.fill(a, 0, 120, stamps(base, 10))
	e.faultAlways(fakeserver.Fault{Whitespace: true})
	_, err := e.syncer.LoadOlder(e.ctx, a, 500)
	require.NoError(t, err)
	e.requireInSync(a)
	e.requireIdle()
	assert.Zero(t, e.syncer.Stats().DroppedTotal())
	msgs, err := e.store.Messages(e.ctx, a, AllMessages())
	require.NoError(t, err)
	assert.Equal(t, "message 0", msgs[0].Body)
}

// TestStragglersAndForeignResults: results after the fin, results with
// unknown query ids and results from the wrong JID are dropped and counted;
// the pages are unaffected.
func TestStragglersAndForeignResults(t *testing.T) {
	e := newEnv(t, nil)
	a := room("busy")
	e.fill(a, 0, 100, stamps(base, 10))
	e.faultAlways(fakeserver.Fault{Stragglers: 4, UnknownQueryIDResults: 3, SpoofedResults: 2})
	_, err := e.syncer.LoadOlder(e.ctx, a, 100)
	require.NoError(t, err)
	e.waitServerIdle()
	e.requireInSync(a)
	e.requireIdle()
	queries := e.syncer.Stats().Queries
	require.EqualValues(t, 2, queries)
	require.Eventually(t, func() bool { return e.syncer.Stats().Dropped["late"] == 4*queries }, testTimeout, time.Millisecond)
	st := e.syncer.Stats()
	assert.Equal(t, 3*queries, st.Dropped["unknown"])
	assert.Equal(t, 2*queries, st.Dropped["spoofed"])
	assert.EqualValues(t, 100, st.Inserted)
	e.waitEvents(EventResultDropped, int(9*queries))
}

// TestSilenceTimesOut: a page that never gets an answer times out (the
// timeout is always on), is retried, and fails; nothing stays tracked.
func TestSilenceTimesOut(t *testing.T) {
	e := newEnv(t, nil, WithPageTimeout(100*time.Millisecond), fastRetry(2))
	a := e.account()
	e.fill(a, 0, 10, stamps(base, 10))
	e.faultAlways(fakeserver.Fault{Silence: true})
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.ErrorIs(t, err, ErrPageTimeout)
	st := e.syncer.Stats()
	assert.EqualValues(t, 2, st.Timeouts)
	assert.EqualValues(t, 1, st.Retries)
	e.requireIdle()
}

// TestTimeoutWithLateResults: a slow answer times out; its results arrive
// after the retry succeeded and are dropped as late.
func TestTimeoutWithLateResults(t *testing.T) {
	e := newEnv(t, nil, WithPageTimeout(100*time.Millisecond), fastRetry(3))
	a := e.account()
	e.fill(a, 0, 20, stamps(base, 10))
	e.faultOnce(1, fakeserver.Fault{Delay: 300 * time.Millisecond})
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	e.waitServerIdle()
	e.requireInSync(a)
	e.requireIdle()
	// The first attempt timed out (a retry may too, on a slow machine); every
	// result of a timed-out attempt comes late and is dropped.
	timeouts := e.syncer.Stats().Timeouts
	assert.GreaterOrEqual(t, timeouts, uint64(1))
	require.Eventually(t, func() bool { return e.syncer.Stats().Dropped["late"] == 20*timeouts }, testTimeout, time.Millisecond)
}

// TestDropReplyTimesOut: results without an IQ reply are released by the page
// timeout.
func TestDropReplyTimesOut(t *testing.T) {
	e := newEnv(t, nil, WithPageTimeout(100*time.Millisecond), fastRetry(1))
	a := e.account()
	e.fill(a, 0, 20, stamps(base, 10))
	e.faultAlways(fakeserver.Fault{DropReply: true})
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.ErrorIs(t, err, ErrPageTimeout)
	e.requireIdle()
	assert.Empty(t, e.storedIDs(a))
}

// TestStalledStanzaEndsSession: a server that stops in the middle of a
// stanza the Syncer reads blocks that read, and with it the session's Serve
// loop; no context can cut a blocked read short. A reply (<iq><fin> and then
// nothing) blocks the query reading it while Serve waits for it; a <result/>
// message (<message><result><forwarded> and then nothing) blocks the result
// handler, which runs on Serve. Without the stall watch each query then only
// fails by its page timeout and the session never recovers. The Syncer must
// close the session after a page timeout without progress, fail the sync
// with ErrStreamStalled (and ErrSessionClosed, ErrPageTimeout), count and
// report the stall, leave no buffer behind, and a new session over the same
// store finishes the sync.
//
// The page timeout is 1 s, not less: the fault is one-shot, and the stalled
// reply's start tag must reach the Syncer within the first attempt's page
// timeout even on a loaded machine under -race (else that attempt times out,
// the retry gets a whole reply, and no stall happens).
func TestStalledStanzaEndsSession(t *testing.T) {
	for name, tc := range map[string]struct {
		fault fakeserver.Fault
		what  string
		// maxTimeouts bounds the Timeouts count: a stall is counted in
		// Stalls only, so a stalled reply counts no timeout. A stalled
		// result blocks Serve before the query's reply could be read: the
		// query's own page timeout (1 s after its send) normally fires
		// first and counts once, as the stall is reported up to 1.25 s
		// after the page's first result started the watchdog; the two
		// timers are close enough that a loaded machine may fire them in
		// the other order, so only the bound is asserted. The retry is
		// failed by the stall, never counted as a timeout.
		maxTimeouts uint64
	}{
		"reply":  {fault: fakeserver.Fault{StallInReply: true}, what: "the IQ reply of a query", maxTimeouts: 0},
		"result": {fault: fakeserver.Fault{StallInResult: true}, what: "a <result/> message", maxTimeouts: 1},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil, WithPageTimeout(time.Second), fastRetry(3))
			a := e.account()
			e.fill(a, 0, 20, stamps(base, 10))
			e.faultOnce(1, tc.fault)

			err := e.catchUpBounded(a, tc.what+" stalled mid-stanza")
			require.ErrorIs(t, err, ErrPageTimeout)
			require.ErrorIs(t, err, ErrSessionClosed)
			require.ErrorIs(t, err, ErrStreamStalled)
			e.requireIdle()
			assert.LessOrEqual(t, e.syncer.Stats().Timeouts, tc.maxTimeouts)
			assert.Empty(t, e.storedIDs(a))
			e.requireStallReported(tc.what)

			e.reconnect()
			_, err = e.syncer.CatchUp(e.ctx, a)
			require.NoError(t, err)
			e.requireInSync(a)
			assert.Zero(t, e.syncer.Stats().Stalls)
		})
	}
}

// catchUpBounded runs CatchUp on a in the background and returns its error;
// the test fails if CatchUp is still blocked after half the test timeout
// (the fault, what, must not hold it).
func (e *env) catchUpBounded(a Archive, what string) error {
	e.t.Helper()
	done := make(chan error, 1)
	syncer := e.syncer
	go func() {
		_, err := syncer.CatchUp(e.ctx, a)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(testTimeout / 2):
		e.t.Fatalf("CatchUp still blocked %v after %s", testTimeout/2, what)
		return nil
	}
}

// requireStallReported asserts that the Syncer closed its session for a
// stream stalled inside what (Serve returned, an EventStreamStalled was
// delivered, Stats counts it) and that later operations fail with the cause.
func (e *env) requireStallReported(what string) {
	e.t.Helper()
	select {
	case err := <-e.served:
		e.served <- err // for stop
	case <-time.After(testTimeout / 2):
		e.t.Fatal("Serve did not return after the Syncer closed the stalled session")
	}
	e.waitEvents(EventStreamStalled, 1)
	stalled := e.events.ofKind(EventStreamStalled)
	require.Len(e.t, stalled, 1, "one stall, one event")
	require.ErrorIs(e.t, stalled[0].Err, ErrStreamStalled)
	require.ErrorIs(e.t, stalled[0].Err, ErrSessionClosed)
	assert.Contains(e.t, stalled[0].Err.Error(), what+" incomplete after")
	assert.EqualValues(e.t, 1, e.syncer.Stats().Stalls)
	_, err := e.syncer.CatchUp(e.ctx, e.account())
	require.ErrorIs(e.t, err, ErrStreamStalled, "operations after the stall fail with its cause")
}

// TestStalledLiveMessageEndsSession: a live message that stops in the middle
// of the part the Syncer reads blocks the live handler (on the Serve
// goroutine) the same way; the Syncer closes the session and reports it even
// with no query in flight. The message puts <stanza-id> first on purpose:
// mux calls the live handler when it reaches that child, so only the rest of
// the message, from <stanza-id> on, is watched, and this test cuts it there.
// Real servers put <stanza-id> last; TestStalledLiveBodyIsNotWatched shows
// the limit that leaves.
func TestStalledLiveMessageEndsSession(t *testing.T) {
	e := newEnv(t, nil, WithPageTimeout(100*time.Millisecond))
	r := room("stalled-live")
	e.fill(r, 0, 10, stamps(base, 10))
	_, err := e.syncer.CatchUp(e.ctx, r)
	require.NoError(t, err)

	// A groupchat message with the room's stanza-id, cut inside its body.
	cut := fmt.Sprintf(`<message type='groupchat' from='%s/romeo'><stanza-id xmlns='urn:xmpp:sid:0' by='%s' id='live-stalled'/><body>half a mess`, r.JID, r.JID)
	require.NoError(t, e.srv.SendRaw(e.ctx, []byte(cut)))
	e.requireStallReported("a live message")
	e.requireIdle()
	assert.Zero(t, e.syncer.Stats().Live)

	e.reconnect()
	e.fill(r, 10, 5, stamps(base, 10))
	_, err = e.syncer.CatchUp(e.ctx, r)
	require.NoError(t, err)
	e.requireInSync(r)
}

// TestStalledLiveBodyIsNotWatched asserts the documented limit of the stall
// watch for live messages: mux reads a message's children on the Serve
// goroutine until it reaches the one a handler is registered for
// (<stanza-id>), before the Syncer sees the message. Prosody and the fake
// server put <stanza-id> last, so a live message stalled in its <body>
// blocks Serve unseen: no stall is reported after several page timeouts (the
// client must guard this with its own read deadline or keepalive). When the
// rest arrives, the message is handled as usual. The wait is bounded.
func TestStalledLiveBodyIsNotWatched(t *testing.T) {
	const pageTimeout = 100 * time.Millisecond
	e := newEnv(t, nil, WithPageTimeout(pageTimeout))
	r := room("stalled-body")
	e.fill(r, 0, 10, stamps(base, 10))
	_, err := e.syncer.CatchUp(e.ctx, r)
	require.NoError(t, err)

	head := fmt.Sprintf(`<message type='groupchat' from='%s/romeo'><body>half a mess`, r.JID)
	tail := fmt.Sprintf(`age</body><stanza-id xmlns='urn:xmpp:sid:0' by='%s' id='live-late'/></message>`, r.JID)
	require.NoError(t, e.srv.SendRaw(e.ctx, []byte(head)))
	// Four times the longest a watched stall takes to be reported.
	select {
	case err := <-e.served:
		e.served <- err // for stop
		t.Fatalf("Serve returned during a stall before <stanza-id>: %v", err)
	case <-time.After(5 * pageTimeout):
	}
	assert.Zero(t, e.syncer.Stats().Stalls, "a stall before <stanza-id> is outside the watch")
	assert.Zero(t, e.events.count(EventStreamStalled))

	require.NoError(t, e.srv.SendRaw(e.ctx, []byte(tail)))
	require.Eventually(t, func() bool { return e.syncer.Stats().Live == 1 }, testTimeout, time.Millisecond)
	assert.Zero(t, e.syncer.Stats().Stalls)
}

func TestSlowRepliesWithinTimeout(t *testing.T) {
	e := newEnv(t, nil, WithPageTimeout(5*time.Second))
	a := e.account()
	e.fill(a, 0, 60, stamps(base, 10))
	e.faultAlways(fakeserver.Fault{Delay: 10 * time.Millisecond, ResultInterval: 200 * time.Microsecond, FinDelay: 10 * time.Millisecond})
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	e.requireInSync(a)
	assert.Zero(t, e.syncer.Stats().Timeouts)
}

// TestDisconnectMidPage: the session ending in the middle of a page fails the
// page at once (not after the page timeout) with ErrSessionClosed; a
// restarted client resumes.
func TestDisconnectMidPage(t *testing.T) {
	e := newEnv(t, nil, WithPageTimeout(time.Hour))
	a := e.account()
	e.fill(a, 0, 140, stamps(base, 10))
	e.faultOnce(2, fakeserver.Fault{Disconnect: true, DisconnectAfter: 10})
	start := time.Now()
	rep, err := e.syncer.CatchUp(e.ctx, a)
	require.ErrorIs(t, err, ErrSessionClosed)
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Equal(t, 50, rep.Inserted)
	e.requireIdle()
	_, err = e.syncer.CatchUp(e.ctx, a)
	require.ErrorIs(t, err, ErrSessionClosed, "a Syncer is bound to its session")

	e.reconnect()
	rep, err = e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	assert.Equal(t, 90, rep.Inserted)
	e.requireInSync(a)
}

// TestSessionEndFailsEveryQuery: queries waiting on a silent server all fail
// when the session ends.
func TestSessionEndFailsEveryQuery(t *testing.T) {
	e := newEnv(t, nil, WithPageTimeout(time.Hour), WithConcurrency(8))
	rooms := []Archive{room("a"), room("b"), room("c"), room("d"), room("e")}
	for _, r := range rooms {
		e.fill(r, 0, 5, stamps(base, 10))
	}
	e.faultAlways(fakeserver.Fault{Silence: true})
	done := make(chan error, 1)
	go func() {
		_, err := e.syncer.CatchUpAll(e.ctx, rooms)
		done <- err
	}()
	require.NoError(t, e.srv.WaitQueries(e.ctx, len(rooms)))
	require.Eventually(t, func() bool { return e.syncer.Stats().TrackedQueries == int64(len(rooms)) }, testTimeout, time.Millisecond)
	e.srv.Disconnect()
	err := <-done
	require.ErrorIs(t, err, ErrSessionClosed)
	e.requireIdle()
}

func TestFloodFailsPage(t *testing.T) {
	e := newEnv(t, nil, fastRetry(3))
	a := e.account()
	e.fill(a, 0, 50, stamps(base, 10))
	e.faultOnce(1, fakeserver.Fault{Flood: 10})
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.ErrorIs(t, err, ErrFlood)
	assert.EqualValues(t, 10, e.syncer.Stats().Dropped["flood"])
	e.requireIdle()
	assert.Empty(t, e.storedIDs(a))
}

// TestLargeResultsRetriedSmaller: results that are legitimately large (each
// under ResultBytes) but whose page does not fit the per-query byte cap are
// not a flood: the page is retried with half the page size until it fits,
// and the sync completes.
func TestLargeResultsRetriedSmaller(t *testing.T) {
	const queryBytes = 64 << 10
	e := newEnv(t, nil, fastRetry(4), WithBufferLimits(BufferLimits{QueryBytes: queryBytes}))
	a := e.account()
	e.fill(a, 0, 60, stamps(base, 10))
	e.faultAlways(fakeserver.Fault{BodySize: 4000}) // 50 results ~ 200 KB
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	e.requireInSync(a)
	e.requireIdle()
	st := e.syncer.Stats()
	assert.Zero(t, st.Dropped["flood"], "large results are not a flood")
	assert.Positive(t, st.Dropped["overflow"])
	assert.Positive(t, st.Retries)
	assert.LessOrEqual(t, st.PeakBufferedBytes, int64(queryBytes))
	var maxes []int
	for _, q := range e.srv.Queries() {
		maxes = append(maxes, q.Max)
	}
	assert.Contains(t, maxes, DefaultPageSize/4, "the page size was halved twice: %v", maxes)
	msgs, err := e.store.Messages(e.ctx, a, AllMessages())
	require.NoError(t, err)
	for _, m := range msgs {
		require.Len(t, m.Body, 4000)
	}
}

// TestOversizedResults: results above the size limit are dropped, counted and
// stored as placeholders so that the range stays exact.
func TestOversizedResults(t *testing.T) {
	e := newEnv(t, nil, WithBufferLimits(BufferLimits{ResultBytes: 1000}))
	a := e.account()
	e.fill(a, 0, 30, stamps(base, 10))
	e.faultAlways(fakeserver.Fault{BodySize: 4000})
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	e.requireInSync(a)
	e.requireIdle()
	msgs, err := e.store.Messages(e.ctx, a, AllMessages())
	require.NoError(t, err)
	for _, m := range msgs {
		assert.Equal(t, DropOversized, m.Omitted)
		assert.Empty(t, m.Body)
		assert.Nil(t, m.Raw)
		assert.False(t, m.Time.IsZero())
	}
	assert.EqualValues(t, 30, e.syncer.Stats().Dropped["oversized"])
}

// TestContextCancel: cancelling the caller's context ends the page at once.
func TestContextCancel(t *testing.T) {
	e := newEnv(t, nil, WithPageTimeout(time.Hour))
	a := e.account()
	e.faultAlways(fakeserver.Fault{Silence: true})
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() {
		_, err := e.syncer.CatchUp(ctx, a)
		done <- err
	}()
	require.NoError(t, e.srv.WaitQueries(e.ctx, 1))
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	e.requireIdle()
}

// TestCloseDuringQuery: Close fails in-flight queries with ErrClosed and
// waits for them.
func TestCloseDuringQuery(t *testing.T) {
	e := newEnv(t, nil, WithPageTimeout(time.Hour))
	a := e.account()
	e.faultAlways(fakeserver.Fault{Silence: true})
	done := make(chan error, 1)
	go func() {
		_, err := e.syncer.CatchUp(e.ctx, a)
		done <- err
	}()
	require.NoError(t, e.srv.WaitQueries(e.ctx, 1))
	syncer := e.syncer
	require.NoError(t, syncer.Close())
	require.ErrorIs(t, <-done, ErrClosed)
	st := syncer.Stats()
	assert.Zero(t, st.TrackedQueries)
	assert.Zero(t, st.BufferedBytes)
	_, err := syncer.CatchUp(e.ctx, a)
	require.ErrorIs(t, err, ErrClosed)
}

// panickyStore panics on Commit while armed.
type panickyStore struct {
	Store
	armed atomic.Bool
}

func (s *panickyStore) Commit(ctx context.Context, a Archive, c Commit) (CommitResult, error) {
	if s.armed.Load() {
		panic("disk on fire")
	}
	return s.Store.Commit(ctx, a, c)
}

// TestStorePanic: a panicking store fails the page, releases its buffer and
// leaves the session working.
func TestStorePanic(t *testing.T) {
	e := newEnv(t, nil)
	ps := &panickyStore{Store: e.store}
	ps.armed.Store(true)
	e.store = ps
	e.reconnect()
	a := e.account()
	e.fill(a, 0, 40, stamps(base, 10))
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.ErrorIs(t, err, ErrStorePanic)
	assert.Contains(t, err.Error(), "disk on fire")
	e.requireIdle()

	ps.armed.Store(false)
	_, err = e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	e.requireInSync(a)
}

// failingStore fails Commit while armed.
type failingStore struct {
	Store
	armed atomic.Bool
}

var errDiskFull = errors.New("disk full")

func (s *failingStore) Commit(ctx context.Context, a Archive, c Commit) (CommitResult, error) {
	if s.armed.Load() {
		return CommitResult{}, errDiskFull
	}
	return s.Store.Commit(ctx, a, c)
}

func TestStoreError(t *testing.T) {
	e := newEnv(t, nil, fastRetry(3))
	fs := &failingStore{Store: e.store}
	fs.armed.Store(true)
	e.store = fs
	e.reconnect()
	a := e.account()
	e.fill(a, 0, 40, stamps(base, 10))
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.ErrorIs(t, err, errDiskFull)
	assert.Zero(t, e.syncer.Stats().Retries, "store errors are not retried")
	e.requireIdle()
}

// TestItemNotFoundGapCursor: the stored cursor of a gap (the newer range's
// oldest id) expired from the archive; the gap is filled by time instead.
func TestItemNotFoundGapCursor(t *testing.T) {
	e := newEnv(t, nil, WithPolicy(AccountArchive, Policy{MaxMessages: 50}))
	a := e.account()
	e.fill(a, 0, 60, stamps(base, 10))
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	e.fill(a, 60, 300, stamps(base, 10))
	rep, err := e.syncer.CatchUp(e.ctx, a) // the cap leaves a gap
	require.NoError(t, err)
	require.Equal(t, 1, rep.Gaps)
	rs := e.ranges(a)
	require.Len(t, rs, 2)

	// The archive expires the newer range's oldest message.
	e.srv.Archive(a.JID).Forget(rs[1].FromID)
	for rep.Gaps > 0 {
		rep, err = e.syncer.CatchUp(e.ctx, a)
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, e.syncer.Stats().CursorResets)
	e.waitEvents(EventCursorReset, 1)
	stored := e.storedIDs(a)
	want := e.srv.Archive(a.JID).IDs()
	// The forgotten message was stored before it expired; everything else
	// is there exactly once, in order.
	requireSameIDs(t, want, removeID(stored, rs[1].FromID))
	assert.Len(t, e.ranges(a), 1)
	e.requireIdle()
}

// TestItemNotFoundBackfillCursor: the oldest stored id expired; back-filling
// continues by time.
func TestItemNotFoundBackfillCursor(t *testing.T) {
	e := newEnv(t, nil, WithPolicy(AccountArchive, Policy{FirstSync: FirstSyncAll, MaxMessages: 50}))
	a := e.account()
	e.fill(a, 0, 300, stamps(base, 10))
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	rs := e.ranges(a)
	require.Len(t, rs, 1)
	require.False(t, rs[0].FromEnd)
	e.srv.Archive(a.JID).Forget(rs[0].FromID)
	for range 6 {
		_, err = e.syncer.CatchUp(e.ctx, a)
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, e.syncer.Stats().CursorResets)
	requireSameIDs(t, e.srv.Archive(a.JID).IDs(), removeID(e.storedIDs(a), rs[0].FromID))
	e.requireIdle()
}

func removeID(ids []string, id string) []string {
	out := make([]string, 0, len(ids))
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

// TestUnknownRoom: a room without an archive answers item-not-found without
// a cursor involved: a plain failure, no cursor reset.
func TestUnknownRoom(t *testing.T) {
	e := newEnv(t, nil)
	_, err := e.syncer.CatchUp(e.ctx, room("nowhere"))
	require.True(t, isCondition(err, stanza.ItemNotFound), "%v", err)
	assert.Zero(t, e.syncer.Stats().CursorResets)
	e.requireIdle()
}

// TestFakeClockDrivesTimeoutsAndBackoff: with WithClock, page timeouts and
// retry backoff follow the clock, not the wall: an hour-long timeout and
// minute-long backoffs pass in an instant.
func TestFakeClockDrivesTimeoutsAndBackoff(t *testing.T) {
	clock := newFakeClock(base)
	e := newEnv(t, nil, WithClock(clock), WithPageTimeout(time.Hour),
		WithRetry(RetryPolicy{MaxAttempts: 3, BaseDelay: time.Minute, MaxDelay: time.Minute}))
	a := e.account()
	e.fill(a, 0, 10, stamps(base, 10))
	e.faultAlways(fakeserver.Fault{Silence: true})
	done := make(chan error, 1)
	go func() {
		_, err := e.syncer.CatchUp(e.ctx, a)
		done <- err
	}()
	for attempt := 1; attempt <= 3; attempt++ {
		require.NoError(t, e.srv.WaitQueries(e.ctx, attempt))
		// The query is in flight with its page timer armed.
		require.Eventually(t, func() bool { return clock.Pending() >= 1 }, testTimeout, time.Millisecond)
		clock.Advance(time.Hour)
		if attempt < 3 {
			// The server answers the ping that checks it after the
			// timeout; the backoff timer (a minute at most) is armed next.
			require.Eventually(t, func() bool { return e.syncer.Stats().Retries == uint64(attempt) && clock.Pending() >= 1 }, testTimeout, time.Millisecond)
			clock.Advance(time.Minute)
		}
	}
	require.ErrorIs(t, <-done, ErrPageTimeout)
	st := e.syncer.Stats()
	assert.EqualValues(t, 3, st.Timeouts)
	assert.EqualValues(t, 2, st.Retries)
	assert.EqualValues(t, 3, st.Pings, "a ping after every timeout, answered")
	assert.Zero(t, st.Unresponsive)
	e.requireIdle()
}

// TestFrozenServerBreaksSession: after a page timeout the Syncer pings the
// server; a server that answers nothing any more (a hung process) gets the
// session closed at once: no retry waits for another page timeout, and the
// next call fails at once instead of waiting again.
func TestFrozenServerBreaksSession(t *testing.T) {
	e := newEnv(t, nil, WithPageTimeout(100*time.Millisecond), WithPingTimeout(50*time.Millisecond), fastRetry(4))
	a := e.account()
	e.fill(a, 0, 10, stamps(base, 10))
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	e.fill(a, 10, 5, stamps(base, 10))
	require.NoError(t, e.srv.Freeze())
	before := e.syncer.Stats().Queries

	_, err = e.syncer.CatchUp(e.ctx, a)
	require.ErrorIs(t, err, ErrPageTimeout)
	require.ErrorIs(t, err, ErrServerUnresponsive)
	require.ErrorIs(t, err, ErrSessionClosed)
	st := e.syncer.Stats()
	assert.EqualValues(t, 1, st.Queries-before, "no retry on a dead session")
	assert.EqualValues(t, 1, st.Pings)
	assert.EqualValues(t, 1, st.Unresponsive)
	assert.Zero(t, st.Retries)
	e.waitEvents(EventServerUnresponsive, 1)

	_, err = e.syncer.CatchUp(e.ctx, a)
	require.ErrorIs(t, err, ErrServerUnresponsive, "the next call fails at once")
	assert.EqualValues(t, 1, e.syncer.Stats().Queries-before, "and sends nothing")
	select {
	case <-e.served:
		e.served <- nil // for env.stop
	case <-time.After(testTimeout):
		t.Fatal("Serve did not return: the connection was not closed")
	}
	e.requireIdle()
}

// TestSlowServerIsNotDead: a page that times out on a server that still
// answers pings is retried on the same session.
func TestSlowServerIsNotDead(t *testing.T) {
	e := newEnv(t, nil, WithPageTimeout(100*time.Millisecond), fastRetry(3))
	a := e.account()
	e.fill(a, 0, 10, stamps(base, 10))
	e.faultOnce(1, fakeserver.Fault{Silence: true})
	rep, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	assert.Equal(t, 10, rep.Inserted)
	st := e.syncer.Stats()
	assert.EqualValues(t, 1, st.Timeouts)
	assert.EqualValues(t, 1, st.Pings)
	assert.Zero(t, st.Unresponsive)
	assert.EqualValues(t, 1, st.Retries)
	e.requireInSync(a)
}

// TestBrokenWriteEndsSession: the server stops reading, so a query's write
// blocks until the page timeout cuts it short. The stream may now hold a
// partial stanza, so the Syncer closes the connection: Serve returns (the
// client reconnects) and later operations fail with ErrSessionClosed instead
// of writing into a broken stream.
func TestBrokenWriteEndsSession(t *testing.T) {
	e := newEnv(t, nil, WithPageTimeout(200*time.Millisecond), fastRetry(3))
	a := e.account()
	e.fill(a, 0, 60, stamps(base, 10))
	// The server still reads the stanza it is waiting for (the first query),
	// then nothing: the second page's query cannot be written.
	require.NoError(t, e.srv.StallReads())
	rep, err := e.syncer.CatchUp(e.ctx, a)
	require.ErrorIs(t, err, ErrPageTimeout)
	assert.Equal(t, 50, rep.Inserted, "the first page was committed")
	assert.Equal(t, 1, e.srv.Stats().Queries)
	select {
	case err := <-e.served:
		require.Error(t, err)
		e.served <- err // for e.stop
	case <-time.After(testTimeout):
		t.Fatal("Serve did not return after a broken write")
	}
	e.requireIdle()
	_, err = e.syncer.CatchUp(e.ctx, a)
	require.ErrorIs(t, err, ErrSessionClosed)
	assert.ErrorContains(t, err, "output stream broken")
}

// cancellingStore cancels the caller's context right after the archive's
// ranges were read, so that the first query is prepared with an ended
// context.
type cancellingStore struct {
	Store
	cancel atomic.Pointer[context.CancelFunc]
}

func (s *cancellingStore) Ranges(ctx context.Context, a Archive) ([]Range, error) {
	rs, err := s.Store.Ranges(ctx, a)
	if c := s.cancel.Swap(nil); c != nil {
		(*c)()
	}
	return rs, err
}

// TestCancelledContextNeverWrites: a query whose context ended before it was
// written is not written at all (mellium would start the write and cut it
// short, leaving a partial stanza that breaks the stream).
func TestCancelledContextNeverWrites(t *testing.T) {
	e := newEnv(t, nil)
	cs := &cancellingStore{Store: e.store}
	e.store = cs
	e.reconnect()
	a := e.account()
	e.fill(a, 0, 10, stamps(base, 10))
	for range 50 {
		ctx, cancel := context.WithCancel(e.ctx)
		cs.cancel.Store(&cancel)
		_, err := e.syncer.CatchUp(ctx, a)
		require.ErrorIs(t, err, context.Canceled)
	}
	assert.Zero(t, e.srv.Stats().Queries, "no query was written")
	e.requireIdle()
	select {
	case err := <-e.served:
		t.Fatalf("the session ended: %v", err)
	default:
	}
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	e.requireInSync(a)
}

// gatedStore runs gate before every Commit.
type gatedStore struct {
	Store
	gate atomic.Pointer[func()]
}

func (s *gatedStore) Commit(ctx context.Context, a Archive, c Commit) (CommitResult, error) {
	if g := s.gate.Load(); g != nil {
		(*g)()
	}
	return s.Store.Commit(ctx, a, c)
}

// TestStragglersDuringCommit: results that arrive after the <fin/> while the
// page is still being committed (its query not yet released) are late: they
// are dropped, not buffered into the finished page.
func TestStragglersDuringCommit(t *testing.T) {
	e := newEnv(t, nil)
	gs := &gatedStore{Store: e.store}
	e.store = gs
	e.reconnect()
	r := room("slowdisk")
	e.fill(r, 0, 10, stamps(base, 10))
	e.faultAlways(fakeserver.Fault{Stragglers: 3})
	syncer := e.syncer
	gate := func() {
		// Hold the commit until the stragglers were routed (at most a few
		// seconds, after which the assertions below fail).
		deadline := time.Now().Add(5 * time.Second)
		for syncer.Stats().Dropped["late"] < 3 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	gs.gate.Store(&gate)
	rep, err := e.syncer.CatchUp(e.ctx, r)
	require.NoError(t, err)
	assert.Equal(t, 10, rep.Inserted)
	st := e.syncer.Stats()
	assert.EqualValues(t, 3, st.Dropped["late"], "stragglers during the commit are late")
	assert.EqualValues(t, 10, st.Messages)
	e.requireIdle()
	e.requireInSync(r)
}
