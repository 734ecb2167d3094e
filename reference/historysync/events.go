package historysync

import (
	"fmt"
	"time"
)

// EventKind says what an Event reports.
type EventKind uint8

const (
	// EventPageFetched reports that a page was received and committed (Messages results,
	// Inserted new, Duplicates skipped).
	EventPageFetched EventKind = iota + 1
	// EventGapDetected reports that the newest page did not reach the newest stored
	// message; a new range was stored above a gap.
	EventGapDetected
	// EventGapClosed reports that a backwards gap fill met the older range; the two
	// ranges were merged.
	EventGapClosed
	// EventQueryRetrying reports that a page failed with a transient error (Err) and is
	// retried after Delay (attempt Attempt+1).
	EventQueryRetrying
	// EventQueryFailed reports that a page failed for good (Err).
	EventQueryFailed
	// EventCursorReset reports that a stored cursor (archive id) was unknown to the
	// archive (item-not-found); the query was retried by time.
	EventCursorReset
	// EventResultDropped reports that a result was dropped (Reason); QueryID is the
	// queryid it carried.
	EventResultDropped
	// EventSyncFinished reports that a CatchUp or LoadOlder run ended, as its
	// last event (Err is its error; Messages, Inserted and Duplicates are its
	// Report's).
	EventSyncFinished
	// EventLiveExtended reports that a live message extended the newest range.
	EventLiveExtended
	// EventStreamStalled reports that the Syncer closed the session's
	// connection because the stream stalled in a stanza it was reading, and
	// failed its operations (Err wraps ErrStreamStalled, which says what is
	// watched). Reconnect, and create a new Syncer over the same Store.
	EventStreamStalled
	// EventServerUnresponsive reports that the Syncer closed the session's
	// connection because a page timed out and the server did not answer a
	// ping (Err wraps ErrServerUnresponsive). Reconnect, and create a new
	// Syncer over the same Store.
	EventServerUnresponsive
)

var eventKindNames = [...]string{
	EventPageFetched:        "page-fetched",
	EventGapDetected:        "gap-detected",
	EventGapClosed:          "gap-closed",
	EventQueryRetrying:      "query-retrying",
	EventQueryFailed:        "query-failed",
	EventCursorReset:        "cursor-reset",
	EventResultDropped:      "result-dropped",
	EventSyncFinished:       "sync-finished",
	EventLiveExtended:       "live-extended",
	EventStreamStalled:      "stream-stalled",
	EventServerUnresponsive: "server-unresponsive",
}

// String returns the event kind's name, such as "page-fetched".
func (k EventKind) String() string {
	if int(k) < len(eventKindNames) && eventKindNames[k] != "" {
		return eventKindNames[k]
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// Event reports progress. Which fields are set depends on Kind.
//
// Events are delivered to the WithEvents callback in order, one at a time,
// by one goroutine of the Syncer, and emitting never blocks the Syncer: when
// the queue is full the event is dropped and counted in Stats.EventsDropped.
// CatchUp, LoadOlder and CatchUpAll return after the events they queued were
// delivered, so that a run's EventSyncFinished (its last event) comes before
// the call returns; a slow callback slows them down. They do not wait when
// their context ends first, nor when the callback that was running when
// they started still runs (as when the call is made from the callback, which
// cannot return before the call does). Close stops delivery: no callback
// starts after Close returned, events still queued are dropped, and Close
// does not wait for a callback in progress, so it may be called from the
// callback.
type Event struct {
	// Kind says what happened.
	Kind EventKind
	// Time is when it happened, on the Syncer's clock.
	Time time.Time
	// Archive is the archive concerned (zero for a result dropped before its
	// query was known).
	Archive Archive
	// QueryID is the MAM query id concerned, if any.
	QueryID string
	// Messages, Inserted and Duplicates count results of a page, or of a whole
	// run for EventSyncFinished.
	Messages, Inserted, Duplicates int
	// Attempt is the attempt that failed (EventQueryRetrying,
	// EventQueryFailed), counting from 1.
	Attempt int
	// Delay is the backoff before the next attempt (EventQueryRetrying).
	Delay time.Duration
	// Reason is why a result was dropped (EventResultDropped).
	Reason DropReason
	// Err is the error of a failed or retried query or run.
	Err error
}

// emit queues ev for the event callback without blocking.
func (s *Syncer) emit(ev Event) {
	if s.events == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = s.cfg.clock.Now()
	}
	if !s.events.put(ev) {
		s.stats.eventsDropped.Add(1)
	}
}

// deliver calls the callback, containing a panic so that a faulty callback
// cannot take the Syncer down.
func (s *Syncer) deliver(ev Event) {
	defer func() {
		if p := recover(); p != nil {
			s.cfg.logger.Error("historysync: event callback panicked", "event", ev.Kind.String(), "panic", fmt.Sprint(p))
		}
	}()
	s.cfg.onEvent(ev)
}
