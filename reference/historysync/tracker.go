package historysync

import (
	"context"
	"encoding/xml"
	"fmt"
	"sync"
	"unsafe"

	"mellium.im/xmpp/jid"
)

// query is one in-flight MAM query: the only place results are buffered.
// It exists from just before the query is sent until its page is committed
// or it fails; runQuery owns it and ends it with a deferred tracker.end on
// every path.
type query struct {
	id      string
	archive Archive
	// from is the address results must come from; for the session's own
	// account archive mellium reports the account's bare JID as an empty
	// from, and both are accepted (acceptZero).
	from       jid.JID
	acceptZero bool
	maxResults int
	maxBytes   int64

	// Guarded by the tracker's mutex. Results are buffered as the tokens
	// mux read for them (tokens, back to back) and one capture per result;
	// they are parsed by the query's goroutine once the reply arrived, so
	// that the Serve goroutine only routes.
	reservedResults int
	reservedBytes   int64
	tokens          []xml.Token
	captures        []capture
	buf             *queryBuffers // where tokens and captures came from
	bytes           int64
	finished        bool // the IQ reply arrived: later results are stragglers
	ended           bool // released
	flooded         bool // results beyond the page size asked for were dropped
	overflow        bool // results beyond the byte caps or the global caps were dropped
	malformed       int  // results that could not be identified were dropped
}

// capture is one buffered result: tokens[from:to] of its query, or a
// placeholder (from == to) for a result whose payload was not kept.
type capture struct {
	archiveID string
	from, to  int
	omitted   DropReason
	stamp     string // the delay stamp of a placeholder, if it was seen
}

// acceptsFrom reports whether a result with this from address may belong to
// q. It does not allocate.
func (q *query) acceptsFrom(from jid.JID) bool {
	if q.acceptZero && from.Equal(jid.JID{}) {
		return true
	}
	return from.Equal(q.from)
}

// queryTracker routes results to in-flight queries and accounts for their
// buffers. tracker is the implementation; the leak test substitutes a
// deliberately leaky one to prove that its harness can fail.
type queryTracker interface {
	// begin waits until a page of up to want results fits the global caps
	// beside the queries in flight (or until ctx or done ends), then starts
	// tracking q under q.id and returns the page size to ask for.
	begin(ctx, done context.Context, q *query, want int) (int, error)
	// end stops tracking q and releases its buffer. err is the query's
	// outcome (nil on success).
	end(q *query, err error)
	// lookup returns the query a result with queryid id belongs to, or why
	// the result must be dropped. It does not allocate.
	lookup(id string) (*query, DropReason)
	// add buffers a result for q (its tokens, possibly none for a
	// placeholder, and their accounted size), or returns why it was
	// dropped.
	add(q *query, c capture, toks []xml.Token, size int64) DropReason
	// malformed records a result for q that could not be identified.
	malformed(q *query)
	// finish marks q's reply as received and returns its buffered results;
	// later results are stragglers. The results stay accounted until end.
	finish(q *query) ([]xml.Token, []capture)
	// gauges reports the current and peak buffer use.
	gauges() trackerGauges
}

type trackerGauges struct {
	tracked, results, bytes, peakBytes int64
}

// recentQueries is how many ended query ids are remembered to tell late
// results from unknown ones; a fixed ring, so it never grows.
const recentQueries = 64

// tracker is the queryTracker of a Syncer.
type tracker struct {
	limits BufferLimits

	mu      sync.Mutex
	queries map[string]*query
	recent  [recentQueries]string
	next    int
	results int64
	bytes   int64
	peak    int64
	// reservedResults and reservedBytes are the expected buffers of the
	// queries in flight (their page size times estimate).
	reservedResults int
	reservedBytes   int64
	// estimate is a moving average of result sizes.
	estimate int64
	// freed is closed (and replaced) whenever a query ends.
	freed chan struct{}
	// buffers recycles the result buffers of ended queries.
	buffers sync.Pool
}

// queryBuffers are the backing arrays of a query's tokens and captures,
// recycled from query to query: a query allocates no buffer of its own in
// the steady state. They are cleared when the query ends, so they keep no
// token alive, and buffers grown beyond maxRecycledTokens are dropped.
type queryBuffers struct {
	tokens   []xml.Token
	captures []capture
}

// maxRecycledTokens bounds the token capacity of a recycled buffer (about
// 4 pages of 64 typical results).
const maxRecycledTokens = 4 * preallocResults * tokensPerResult

// preallocResults bounds the result slots allocated up front per query, and
// tokensPerResult is the typical number of tokens of a result.
const (
	preallocResults = 64
	tokensPerResult = 16
)

// initialEstimate is the result size assumed before any was seen.
const initialEstimate = 1024

func newTracker(limits BufferLimits) *tracker {
	t := &tracker{limits: limits, queries: make(map[string]*query), estimate: initialEstimate, freed: make(chan struct{})}
	t.buffers.New = func() any {
		return &queryBuffers{
			tokens:   make([]xml.Token, 0, preallocResults*tokensPerResult),
			captures: make([]capture, 0, preallocResults),
		}
	}
	return t
}

func (t *tracker) begin(ctx, done context.Context, q *query, want int) (int, error) {
	for {
		t.mu.Lock()
		if _, dup := t.queries[q.id]; dup {
			t.mu.Unlock()
			return 0, fmt.Errorf("query id %s is already tracked", q.id)
		}
		n := min(want, t.limits.TotalResults, max(1, int(t.limits.TotalBytes/t.estimate)))
		fits := t.reservedResults+n <= t.limits.TotalResults && t.reservedBytes+int64(n)*t.estimate <= t.limits.TotalBytes
		if fits || len(t.queries) == 0 {
			q.reservedResults = n
			q.reservedBytes = int64(n) * t.estimate
			t.reservedResults += q.reservedResults
			t.reservedBytes += q.reservedBytes
			q.buf = t.buffers.Get().(*queryBuffers)
			q.tokens, q.captures = q.buf.tokens[:0], q.buf.captures[:0]
			t.queries[q.id] = q
			t.mu.Unlock()
			return n, nil
		}
		freed := t.freed
		t.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return 0, context.Cause(ctx)
		case <-done.Done():
			return 0, context.Cause(done)
		}
	}
}

func (t *tracker) end(q *query, _ error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.queries, q.id)
	t.results -= int64(len(q.captures))
	t.bytes -= q.bytes
	t.reservedResults -= q.reservedResults
	t.reservedBytes -= q.reservedBytes
	if b := q.buf; b != nil && cap(q.tokens) <= maxRecycledTokens {
		// Keep the grown arrays, without the tokens (runQuery is done with
		// them: end is its last use of q).
		clear(q.tokens)
		clear(q.captures)
		b.tokens, b.captures = q.tokens[:0], q.captures[:0]
		t.buffers.Put(b)
	}
	q.buf = nil
	q.tokens = nil
	q.captures = nil
	q.bytes = 0
	q.reservedResults = 0
	q.reservedBytes = 0
	q.ended = true
	t.recent[t.next] = q.id
	t.next = (t.next + 1) % recentQueries
	close(t.freed)
	t.freed = make(chan struct{})
}

func (t *tracker) lookup(id string) (*query, DropReason) {
	t.mu.Lock()
	defer t.mu.Unlock()
	q := t.queries[id]
	if q == nil {
		if id != "" {
			for i := range t.recent {
				if t.recent[i] == id {
					return nil, DropLate
				}
			}
		}
		return nil, DropUnknown
	}
	if q.finished || q.ended {
		return nil, DropLate
	}
	return q, 0
}

func (t *tracker) add(q *query, c capture, toks []xml.Token, size int64) DropReason {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.estimate += (size - t.estimate) / 8
	t.estimate = max(t.estimate, 64)
	switch {
	case q.finished || q.ended:
		return DropLate
	case len(q.captures) >= q.maxResults:
		q.flooded = true
		return DropFlood
	case q.bytes+size > q.maxBytes || t.results+1 > int64(t.limits.TotalResults) || t.bytes+size > t.limits.TotalBytes:
		// Large results, not a misbehaving archive: the page is retried
		// smaller.
		q.overflow = true
		return DropOverflow
	}
	c.from = len(q.tokens)
	q.tokens = append(q.tokens, toks...)
	c.to = len(q.tokens)
	q.captures = append(q.captures, c)
	q.bytes += size
	t.results++
	t.bytes += size
	t.peak = max(t.peak, t.bytes)
	return 0
}

func (t *tracker) malformed(q *query) {
	t.mu.Lock()
	defer t.mu.Unlock()
	q.malformed++
}

func (t *tracker) finish(q *query) ([]xml.Token, []capture) {
	t.mu.Lock()
	defer t.mu.Unlock()
	q.finished = true
	return q.tokens, q.captures
}

func (t *tracker) gauges() trackerGauges {
	t.mu.Lock()
	defer t.mu.Unlock()
	return trackerGauges{tracked: int64(len(t.queries)), results: t.results, bytes: t.bytes, peakBytes: t.peak}
}

// tokenOverhead approximates the memory of one buffered token beyond its
// text (interface, struct, attribute slice), and captureOverhead that of a
// result's bookkeeping; both count in the buffer caps.
const (
	tokenOverhead   = 64
	captureOverhead = int64(unsafe.Sizeof(capture{}))
)
