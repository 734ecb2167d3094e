package historysync

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStallWatch drives the stall watchdog on a fake clock: one timer at a
// time and none while no read is in progress, no allocation per read, a read
// that keeps making progress is never a stall, a read without progress is one
// after a page timeout and not before, and a closed Syncer stops it.
func TestStallWatch(t *testing.T) {
	const pageTimeout = 100 * time.Millisecond
	clock := newFakeClock(base)
	done := make(chan struct{})
	stalls := make(chan readKind, 4)
	w := newStallWatch(clock, pageTimeout, done, func(k readKind) { stalls <- k })
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

	// Closed: a tick ends the chain even with a read in progress.
	close(done)
	w.enter(readingReply)
	tick(0)
	noStall("closed")
	w.leave(readingReply)
}
