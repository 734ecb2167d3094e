package historysync

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ErrStreamStalled is the cause of a session the Syncer closed because the
// server stopped in the middle of a stanza the Syncer was reading and the
// rest did not arrive within a page timeout. Errors that wrap it also wrap
// ErrSessionClosed and ErrPageTimeout. The Syncer watches what it reads
// itself: the IQ reply of a query, a <result/> message, and a live message
// from its <stanza-id> child on. A stall anywhere else (in a stanza the
// Syncer does not read, or in a live message before its <stanza-id>, which
// mux reads on the Serve goroutine) blocks Serve unseen: guard the stream
// with a read deadline on the session's connection that your keepalive
// (XEP-0199 pings, XEP-0198 acks) keeps moving forward.
var ErrStreamStalled = errors.New("stream stalled mid-stanza")

// readKind says what a Syncer reader is reading from the stream.
type readKind uint8

const (
	readingReply  readKind = iota // the IQ reply of a query (the query's goroutine)
	readingResult                 // a <result/> message (the Serve goroutine)
	readingLive                   // a live message, from its stanza-id on (the Serve goroutine)
	numReadKinds
)

var readKindNames = [numReadKinds]string{
	readingReply:  "the IQ reply of a query",
	readingResult: "a <result/> message",
	readingLive:   "a live message",
}

func (k readKind) String() string { return readKindNames[k] }

// readGauge counts the readers of one kind inside a stanza (low 32 bits) and
// the enters and leaves (high 32 bits, wrapping), in one word so that a
// reader pays one atomic add to enter and one to leave.
type readGauge struct{ state atomic.Uint64 }

const (
	gaugeEnter uint64 = 1<<32 + 1 // one more reader, one more step
	gaugeLeave uint64 = 1<<32 - 1 // one reader less, one more step
)

// stallTicks is the number of watchdog ticks per page timeout: a stanza read
// is stalled when the watchdog saw it in progress, with no reader of its kind
// entering or leaving, at stallTicks+1 consecutive ticks, that is for at
// least one page timeout (and at most 1+1/stallTicks page timeouts).
const stallTicks = 4

// stallWatch detects a stream that stops in the middle of a stanza the Syncer
// reads. This comment is the one full description of what it covers; the
// other places that read the stream refer to it.
//
// Why: a read blocked on the connection cannot be cut short by a context, and
// it blocks the session's Serve loop with it (results and live messages are
// read on Serve; for an IQ reply, Serve waits for the query to read it), so
// the page timeout cannot end it: every later query of the session would
// only time out and the session would never recover.
//
// What is watched: each reader marks the span it reads with enter and leave,
// and reads its stanza to the end inside that span (drain; mux would read the
// same tokens after it anyway):
//   - readingReply: the IQ reply of a query, from its start tag (the query's
//     goroutine, readReplyWatched);
//   - readingResult: a <result/> message from its <result/> child on, where
//     mux dispatches it; servers send that child first, so in practice the
//     whole message (the Serve goroutine, handleResult);
//   - readingLive: a live message from its <stanza-id> child on (the Serve
//     goroutine, liveHandler and ObserveLive). mux reads the children before
//     it (usually <body>, <origin-id> and the rest: Prosody puts <stanza-id>
//     last) on Serve itself, before calling the handler.
//
// What is not: the children of a live message before its <stanza-id>, and
// every stanza the Syncer does not read. A stall there blocks Serve all the
// same; the client guards against it with a read deadline on the session's
// connection that its keepalive moves forward (ErrStreamStalled's
// documentation says so to users).
//
// What happens: when a span made no progress for a page timeout, onStall
// (Syncer.streamStalled) closes the session's connection, which ends the
// blocked read and Serve; the page and every operation fail with an error
// wrapping ErrStreamStalled, ErrSessionClosed and ErrPageTimeout, counted in
// Stats.Stalls (not Stats.Timeouts) and reported by an EventStreamStalled.
//
// Cost: two atomic adds per stanza read and no allocation. A watchdog, a
// chain of one timer at a time on the Syncer's clock ticking every quarter
// page timeout, runs only while some reader is inside a stanza, and reports a
// stall between one and 1.25 page timeouts after the read's last progress.
// When ctx ends (the Syncer was closed or its session ended) the pending
// timer is stopped and no new one starts, so that no tick outlives the Syncer
// (nor keeps it referenced from a Clock given with WithClock).
type stallWatch struct {
	gauges   [numReadKinds]readGauge
	running  atomic.Bool // a watchdog tick is pending (or the watch stopped)
	clock    Clock
	interval time.Duration
	// done stops the watchdog (the Syncer was closed or its session ended).
	done    <-chan struct{}
	onStall func(readKind)

	timerMu sync.Mutex // guards timer and stopped
	timer   Timer      // the pending tick's timer, nil if none
	stopped bool       // done: no timer starts any more

	mu    sync.Mutex // guards last and still, used by ticks only
	last  [numReadKinds]uint64
	still [numReadKinds]int // consecutive ticks that saw last, in progress
}

// newStallWatch returns a watch that calls onStall and stops when ctx ends.
func newStallWatch(ctx context.Context, clock Clock, pageTimeout time.Duration, onStall func(readKind)) *stallWatch {
	w := &stallWatch{clock: clock, interval: max(pageTimeout/stallTicks, time.Nanosecond), done: ctx.Done(), onStall: onStall}
	context.AfterFunc(ctx, w.stop)
	return w
}

// arm starts the timer of the next tick, unless the watch stopped.
func (w *stallWatch) arm() {
	w.timerMu.Lock()
	defer w.timerMu.Unlock()
	if w.stopped {
		// running stays set: enter never arms again.
		return
	}
	w.timer = w.clock.AfterFunc(w.interval, w.tick)
}

// stop stops the pending tick's timer and keeps new ones from starting.
func (w *stallWatch) stop() {
	w.timerMu.Lock()
	defer w.timerMu.Unlock()
	w.stopped = true
	w.running.Store(true)
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
}

// enter marks the start of a stanza read of kind k and starts the watchdog
// if it is not running.
func (w *stallWatch) enter(k readKind) {
	w.gauges[k].state.Add(gaugeEnter)
	if !w.running.Load() && w.running.CompareAndSwap(false, true) {
		w.arm()
	}
}

// leave marks the end of a stanza read of kind k.
func (w *stallWatch) leave(k readKind) { w.gauges[k].state.Add(gaugeLeave) }

// tick checks the readers, reports a stall, and runs again while a reader is
// inside a stanza.
func (w *stallWatch) tick() {
	select {
	case <-w.done:
		// Nothing to break any more; stop (run when done closed) keeps
		// running set, so no later enter starts a chain.
		return
	default:
	}
	stalled, active := w.check()
	if stalled >= 0 {
		w.onStall(readKind(stalled))
	}
	if active {
		w.arm()
		return
	}
	w.running.Store(false)
	// A reader that entered after check may have seen running still set:
	// it is watched by a new chain, started here or by a later enter.
	for k := range w.gauges {
		if uint32(w.gauges[k].state.Load()) != 0 {
			if w.running.CompareAndSwap(false, true) {
				w.arm()
			}
			return
		}
	}
}

// check returns the kind of a stalled read (-1 if none) and whether a reader
// is inside a stanza.
func (w *stallWatch) check() (stalled int, active bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	stalled = -1
	for k := range w.gauges {
		st := w.gauges[k].state.Load()
		switch {
		case uint32(st) == 0:
			w.still[k] = 0
		case st == w.last[k]:
			active = true
			w.still[k]++
			if w.still[k] >= stallTicks {
				stalled, w.still[k] = k, 0
			}
		default:
			active = true
			w.still[k] = 0
		}
		w.last[k] = st
	}
	return stalled, active
}

// streamStalled ends a session whose input stream stopped in the middle of a
// stanza of kind k for a page timeout: like a broken output stream, it fails
// every operation and closes the connection (which ends the blocked read, and
// with it Serve), so that the client reconnects. It is counted in
// Stats.Stalls and reported by an EventStreamStalled.
func (s *Syncer) streamStalled(k readKind) {
	if s.ctx.Err() != nil {
		return
	}
	cause := fmt.Errorf("%w: %w: %w: %s incomplete after %v", ErrSessionClosed, ErrPageTimeout, ErrStreamStalled, k, s.cfg.pageTimeout)
	if !s.breakSession(cause) {
		return
	}
	s.stats.stalls.Add(1)
	s.emit(Event{Kind: EventStreamStalled, Err: cause})
}

// stallError returns the Syncer's stall error if the session was closed for
// a stalled stream, else nil.
func (s *Syncer) stallError() error {
	if s.ctx.Err() == nil {
		return nil
	}
	if cause := context.Cause(s.ctx); errors.Is(cause, ErrStreamStalled) {
		return cause
	}
	return nil
}

// drain reads r to its end. The Syncer's mux handlers drain their message
// (r ends with the message) so that a stall anywhere in it happens inside
// their watched span; mux would read the same tokens after them anyway.
func drain(r xml.TokenReader) {
	for {
		if tok, err := r.Token(); tok == nil || err != nil {
			return
		}
	}
}
