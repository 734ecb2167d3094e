package historysync

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStallWatch drives the stall watchdog on a fake clock: one timer at a
// time and none while no read is in progress, no allocation per read, a read
// that keeps making progress is never a stall, a read without progress is one
// after a page timeout and not before, and a closed Syncer stops it: its
// pending timer is stopped and no new one starts.
func TestStallWatch(t *testing.T) {
	const pageTimeout = 100 * time.Millisecond
	clock := newFakeClock(base)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stalls := make(chan readKind, 4)
	w := newStallWatch(ctx, clock, pageTimeout, func(k readKind) { stalls <- k })
	noStall := func(msg string) {
		t.Helper()
		select {
		case k := <-stalls:
			t.Fatalf("%s: stall of %s reported", msg, k)
		default:
		}
	}
	// tick fires the pending tick and waits until it re-armed (want 1) or
	// stopped (want 0).
	tick := func(want int) {
		t.Helper()
		require.Equal(t, 1, clock.Pending(), "one watchdog timer")
		clock.Advance(pageTimeout / stallTicks)
		require.Eventually(t, func() bool { return clock.Pending() == want && w.running.Load() == (want == 1) },
			testTimeout, time.Millisecond)
	}

	assert.Zero(t, clock.Pending(), "no timer before a read")
	w.enter(readingResult)
	w.leave(readingResult)
	tick(0) // nothing in progress: the chain stops
	noStall("idle")

	// Many reads, one timer, no allocation.
	allocs := testing.AllocsPerRun(1000, func() {
		w.enter(readingResult)
		w.leave(readingResult)
	})
	assert.Zero(t, allocs, "allocations per watched read")
	assert.Equal(t, 1, clock.Pending())

	// A read in progress at every tick, but reads keep completing: progress.
	w.enter(readingResult)
	for range 3 * stallTicks {
		w.leave(readingResult)
		w.enter(readingResult)
		tick(1)
	}
	noStall("reads progressing")

	// No more progress: the stall is reported after stallTicks intervals
	// (one page timeout) since the last tick that saw progress, not before.
	for range stallTicks - 1 {
		tick(1)
		noStall("less than a page timeout without progress")
	}
	tick(1)
	select {
	case k := <-stalls:
		assert.Equal(t, readingResult, k)
	default:
		t.Fatal("no stall reported after a page timeout without progress")
	}

	// The stalled read ends (the session was closed): the chain stops.
	w.leave(readingResult)
	tick(0)

	// Kinds are watched apart: a reply in progress does not hide a stalled
	// live message, and the stall names the live message.
	w.enter(readingLive)
	w.enter(readingReply)
	for range stallTicks + 1 {
		w.leave(readingReply)
		w.enter(readingReply)
		tick(1)
	}
	require.Equal(t, readingLive, <-stalls)
	noStall("one report per stall")
	w.leave(readingReply)
	w.leave(readingLive)
	tick(0)

	// Closed with a read in progress: the pending tick's timer is stopped
	// (nothing of the watch stays on the clock), and no read starts a new
	// one.
	w.enter(readingReply)
	require.Equal(t, 1, clock.Pending(), "one watchdog timer")
	cancel()
	require.Eventually(t, func() bool { return clock.Pending() == 0 }, testTimeout, time.Millisecond,
		"the watchdog timer outlives the Syncer")
	w.leave(readingReply)
	w.enter(readingLive)
	assert.Zero(t, clock.Pending(), "a read after Close starts a watchdog timer")
	w.leave(readingLive)
	clock.Advance(10 * pageTimeout)
	noStall("closed")
}

// TestCloseStopsStallWatch: closing a Syncer while one of its reads is in
// progress (and the watchdog's tick pending) leaves no timer on the clock
// given with WithClock, which would otherwise keep the closed Syncer
// referenced until it fired.
func TestCloseStopsStallWatch(t *testing.T) {
	clock := newFakeClock(base)
	e := newEnv(t, nil, WithClock(clock), WithPageTimeout(time.Minute))
	require.Zero(t, clock.Pending(), "no timer while nothing is read")
	// As a handler does while it reads a stanza.
	e.syncer.watch.enter(readingLive)
	defer e.syncer.watch.leave(readingLive)
	require.Equal(t, 1, clock.Pending(), "the watchdog runs while a read is in progress")
	require.NoError(t, e.syncer.Close())
	require.Eventually(t, func() bool { return clock.Pending() == 0 }, testTimeout, time.Millisecond,
		"a watchdog timer is pending after Close")
}
