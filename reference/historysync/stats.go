package historysync

import (
	"encoding/json"
	"expvar"
	"fmt"
	"sync/atomic"
)

// DropReason says why a result was dropped (or, for Message.Omitted, why a
// stored message has no payload).
type DropReason uint8

const (
	// DropUnknown means the queryid was never issued by this Syncer (or ended long
	// ago).
	DropUnknown DropReason = iota + 1
	// DropLate means the query already ended (fin received, failed, timed out or
	// cancelled): a straggler.
	DropLate
	// DropSpoofed means the result came from another address than the queried
	// archive.
	DropSpoofed
	// DropOversized means the result exceeded BufferLimits.ResultBytes.
	DropOversized
	// DropMalformed means the result could not be parsed.
	DropMalformed
	// DropFlood means the archive sent more results than the query asked for
	// (BufferLimits.QueryResults).
	DropFlood
	// DropOverflow means a buffer cap was reached: the query's bytes
	// (BufferLimits.QueryBytes) or the Syncer-wide results or bytes. The page
	// is retried smaller.
	DropOverflow

	numDropReasons = iota + 1
)

var dropReasonNames = [...]string{
	DropUnknown:   "unknown",
	DropLate:      "late",
	DropSpoofed:   "spoofed",
	DropOversized: "oversized",
	DropMalformed: "malformed",
	DropFlood:     "flood",
	DropOverflow:  "overflow",
}

// String returns the reason's name, such as "late" ("" for zero).
func (r DropReason) String() string {
	if r == 0 {
		return ""
	}
	if int(r) < len(dropReasonNames) {
		return dropReasonNames[r]
	}
	return fmt.Sprintf("drop(%d)", uint8(r))
}

// ParseDropReason is the inverse of DropReason.String, for stores.
func ParseDropReason(s string) (DropReason, error) {
	if s == "" {
		return 0, nil
	}
	for i, n := range dropReasonNames {
		if n == s && i > 0 {
			return DropReason(i), nil
		}
	}
	return 0, fmt.Errorf("historysync: unknown drop reason %q", s)
}

// counters are the Syncer's monotonic counters.
type counters struct {
	queries, pages, messages, inserted, duplicates atomic.Uint64
	retries, timeouts, failures, cursorResets      atomic.Uint64
	gapsDetected, gapsClosed, live, eventsDropped  atomic.Uint64
	syncs, stalls, pings, unresponsive             atomic.Uint64
	dropped                                        [numDropReasons]atomic.Uint64
	inFlight                                       atomic.Int64
}

// Stats is a snapshot of a Syncer's counters and gauges. It implements
// expvar.Var (String returns JSON), and (*Syncer).Var publishes live values.
type Stats struct {
	// Counters since New.
	Queries       uint64 `json:"queries"`       // MAM queries sent
	Pages         uint64 `json:"pages"`         // pages received and committed
	Messages      uint64 `json:"messages"`      // results of the committed pages
	Inserted      uint64 `json:"inserted"`      // messages newly stored (fetched or live)
	Duplicates    uint64 `json:"duplicates"`    // messages already stored: Inserted + Duplicates == Messages + Live
	Retries       uint64 `json:"retries"`       // page attempts retried
	Timeouts      uint64 `json:"timeouts"`      // page timeouts (a stalled stream counts in Stalls only)
	Failures      uint64 `json:"failures"`      // pages failed for good
	CursorResets  uint64 `json:"cursor_resets"` // item-not-found on a stored cursor
	GapsDetected  uint64 `json:"gaps_detected"`
	GapsClosed    uint64 `json:"gaps_closed"`
	Live          uint64 `json:"live"`           // live messages that extended a range
	Syncs         uint64 `json:"syncs"`          // CatchUp and LoadOlder runs finished
	EventsDropped uint64 `json:"events_dropped"` // events lost to a full queue
	// Stalls counts sessions closed because the stream stopped in the middle
	// of a stanza the Syncer was reading (ErrStreamStalled).
	Stalls uint64 `json:"stalls"`
	// Pings counts the pings sent to check the server after a page timed
	// out, and Unresponsive the sessions closed because one got no answer
	// (ErrServerUnresponsive).
	Pings        uint64 `json:"pings"`
	Unresponsive uint64 `json:"unresponsive"`
	// Dropped counts dropped results by reason name ("late", "spoofed", ...).
	Dropped map[string]uint64 `json:"dropped"`

	// Gauges, now.
	InFlight        int64 `json:"in_flight"`       // queries waiting for their fin
	TrackedQueries  int64 `json:"tracked_queries"` // query ids routed to a buffer
	BufferedResults int64 `json:"buffered_results"`
	BufferedBytes   int64 `json:"buffered_bytes"`
	// PeakBufferedBytes is the highest BufferedBytes seen since New.
	PeakBufferedBytes int64 `json:"peak_buffered_bytes"`
}

// DroppedTotal is the number of dropped results, all reasons together.
func (st Stats) DroppedTotal() uint64 {
	var n uint64
	for _, v := range st.Dropped {
		n += v
	}
	return n
}

// String returns the snapshot as JSON, so Stats is an expvar.Var.
func (st Stats) String() string {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Sprintf("{%q:%q}", "error", err.Error())
	}
	return string(b)
}

var _ expvar.Var = Stats{}

// Stats returns a snapshot of the counters and gauges.
func (s *Syncer) Stats() Stats {
	c := &s.stats
	st := Stats{
		Queries:       c.queries.Load(),
		Pages:         c.pages.Load(),
		Messages:      c.messages.Load(),
		Inserted:      c.inserted.Load(),
		Duplicates:    c.duplicates.Load(),
		Retries:       c.retries.Load(),
		Timeouts:      c.timeouts.Load(),
		Failures:      c.failures.Load(),
		CursorResets:  c.cursorResets.Load(),
		GapsDetected:  c.gapsDetected.Load(),
		GapsClosed:    c.gapsClosed.Load(),
		Live:          c.live.Load(),
		Syncs:         c.syncs.Load(),
		EventsDropped: c.eventsDropped.Load(),
		Stalls:        c.stalls.Load(),
		Pings:         c.pings.Load(),
		Unresponsive:  c.unresponsive.Load(),
		Dropped:       make(map[string]uint64, numDropReasons-1),
		InFlight:      c.inFlight.Load(),
	}
	for r := DropReason(1); r < numDropReasons; r++ {
		st.Dropped[r.String()] = c.dropped[r].Load()
	}
	g := s.tracker.gauges()
	st.TrackedQueries = g.tracked
	st.BufferedResults = g.results
	st.BufferedBytes = g.bytes
	st.PeakBufferedBytes = g.peakBytes
	return st
}

// Var returns an expvar.Var that reports the live Stats as JSON, for
// expvar.Publish("historysync", syncer.Var()).
func (s *Syncer) Var() expvar.Var {
	return expvar.Func(func() any { return s.Stats() })
}
