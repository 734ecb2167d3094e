package historysync

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/history"
	"mellium.im/xmpp/stanza"
)

// pageReq describes one page to fetch. Every query of the Syncer pages
// backwards (RSM <before/>), as Dino does: the newest page, then older pages.
type pageReq struct {
	// before is the RSM <before/> archive id; empty asks for the newest page.
	before string
	// start and end are the form's time filters (zero: absent).
	start, end time.Time
	// max is the RSM <max/>.
	max int
	// resetEnd is the end filter to retry with when before is unknown to the
	// archive (item-not-found): the stored cursor is dropped and the page is
	// asked by time instead.
	resetEnd time.Time
}

// page is a fetched page, handed to the commit function while the archive's
// lock is held.
type page struct {
	queryID string
	req     pageReq
	msgs    []Message
	fin     Fin
}

// applyFunc commits a page (under the archive lock) and reports what the
// store did.
type applyFunc func(p *page) (CommitResult, error)

// fetchPage fetches and commits one page, retrying transient failures with
// exponential backoff and jitter, and turning item-not-found on a stored
// cursor into a query by time.
func (s *Syncer) fetchPage(ctx context.Context, st *archiveState, req pageReq, apply applyFunc) (CommitResult, error) {
	for attempt := 1; ; attempt++ {
		res, err := s.runQuery(ctx, st, req, apply)
		if err == nil {
			return res, nil
		}
		if req.before != "" && isCondition(err, stanza.ItemNotFound) && ctx.Err() == nil && s.ctx.Err() == nil {
			s.stats.cursorResets.Add(1)
			s.cfg.logger.Warn("historysync: stored cursor unknown to the archive, retrying by time",
				"archive", st.archive.String(), "cursor", req.before, "end", req.resetEnd)
			s.emit(Event{Kind: EventCursorReset, Archive: st.archive, Err: err})
			req.before = ""
			req.end = req.resetEnd
			attempt--
			continue
		}
		if !s.transient(err) || attempt >= s.cfg.retry.MaxAttempts || ctx.Err() != nil || s.ctx.Err() != nil {
			s.stats.failures.Add(1)
			s.cfg.logger.Warn("historysync: page failed", "archive", st.archive.String(), "attempt", attempt, "err", err)
			s.emit(Event{Kind: EventQueryFailed, Archive: st.archive, Attempt: attempt, Err: err})
			return res, err
		}
		if errors.Is(err, ErrBufferFull) {
			req.max = max(1, req.max/2)
		}
		delay := s.backoff(attempt)
		s.stats.retries.Add(1)
		s.cfg.logger.Warn("historysync: page failed, retrying", "archive", st.archive.String(), "attempt", attempt, "delay", delay, "err", err)
		s.emit(Event{Kind: EventQueryRetrying, Archive: st.archive, Attempt: attempt, Delay: delay, Err: err})
		if err := s.sleep(ctx, delay); err != nil {
			return res, err
		}
	}
}

// sleep waits for d on the Syncer's clock, or until ctx is done or the
// Syncer is closed.
func (s *Syncer) sleep(ctx context.Context, d time.Duration) error {
	ctx, cancel := s.bind(ctx)
	defer cancel()
	return sleep(ctx, s.cfg.clock, d)
}

// backoff returns the wait after the given failed attempt: BaseDelay doubled
// per attempt, capped at MaxDelay, drawn uniformly from [d/2, d].
func (s *Syncer) backoff(attempt int) time.Duration {
	d := s.cfg.retry.BaseDelay
	for i := 1; i < attempt && d < s.cfg.retry.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, s.cfg.retry.MaxDelay)
	half := d / 2
	return half + rand.N(d-half+1)
}

// transient reports whether a failed page may succeed when retried.
func (s *Syncer) transient(err error) bool {
	if errors.Is(err, ErrPageTimeout) || errors.Is(err, ErrBufferFull) {
		return true
	}
	var se stanza.Error
	if !errors.As(err, &se) {
		return false
	}
	for _, c := range s.cfg.retry.Conditions {
		if se.Condition == c {
			return true
		}
	}
	return false
}

func isCondition(err error, c stanza.Condition) bool {
	var se stanza.Error
	return errors.As(err, &se) && se.Condition == c
}

// bind returns a context that is also cancelled, with the Syncer's cause,
// when the Syncer is closed or its session ends, and its cancel function.
func (s *Syncer) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(s.ctx, func() { cancel(context.Cause(s.ctx)) })
	return ctx, func() {
		stop()
		cancel(context.Canceled)
	}
}

// runQuery sends one MAM query and commits its page. It is the single owner
// of the query's buffer: the query is tracked just before it is sent and a
// deferred tracker.end releases it on every return, whatever the outcome
// (success, IQ error, malformed reply, timeout, cancellation, session end,
// store failure or store panic).
func (s *Syncer) runQuery(ctx context.Context, st *archiveState, req pageReq, apply applyFunc) (res CommitResult, err error) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return res, ctx.Err()
	case <-s.ctx.Done():
		return res, context.Cause(s.ctx)
	}
	defer func() { <-s.sem }()

	id, err := newQueryID()
	if err != nil {
		return res, err
	}
	q := &query{
		id:         id,
		archive:    st.archive,
		from:       st.archive.JID,
		acceptZero: st.archive.Kind == AccountArchive,
		maxBytes:   int64(s.cfg.limits.QueryBytes),
	}
	// begin waits until the query's expected results fit the global caps and
	// may lower its page size; from here on, the deferred end is the one
	// release of the query on every path.
	req.max, err = s.tracker.begin(ctx, s.ctx, q, req.max)
	if err != nil {
		return res, err
	}
	defer func() { s.tracker.end(q, err) }()
	q.maxResults = req.max
	if s.cfg.limits.QueryResults > 0 {
		q.maxResults = s.cfg.limits.QueryResults
	}

	s.stats.queries.Add(1)
	qctx, cancel := s.queryContext(ctx)
	defer cancel()

	hq := history.Query{ID: id, Start: req.start, End: req.end, Limit: uint64(req.max), Last: true, PageID: req.before}
	iq := stanza.IQ{Type: stanza.SetIQ}
	if st.archive.Kind == RoomArchive {
		iq.To = st.archive.JID
	}
	// Do not start a write that is already cancelled: mellium cuts a write
	// short when its context ends, which would break the stream.
	if qctx.Err() != nil {
		return res, s.queryError(qctx, q, qctx.Err())
	}
	s.stats.inFlight.Add(1)
	sendCtx, detach := newSendContext(qctx)
	resp, err := s.session.SendIQ(sendCtx, iq.Wrap(hq.TokenReader()))
	s.stats.inFlight.Add(-1)
	if err != nil {
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			// The query could not be written (mellium returns context
			// errors only while waiting for the reply): the stream may hold
			// a partial stanza and cannot carry another one.
			s.breakSession(fmt.Errorf("%w: output stream broken: %w", ErrSessionClosed, err))
		}
		return res, s.queryError(qctx, q, err)
	}
	// The query was written and answered: the deferred cancel of qctx must
	// not reach mellium's write watcher (see sendContext).
	detach()
	fin, replyErr := s.readReplyWatched(resp, q)
	tokens, captures := s.tracker.finish(q)
	// Take the archive lock before letting Serve continue (resp.Close), so
	// that a live message arriving after this reply is committed after this
	// page.
	st.mu.Lock()
	defer st.mu.Unlock()
	if cerr := resp.Close(); cerr != nil && replyErr == nil {
		replyErr = fmt.Errorf("%w: %w", ErrMalformed, cerr)
	}
	if replyErr != nil {
		return res, fmt.Errorf("mam query %s to %s: %w", id, st.archive, replyErr)
	}
	msgs := s.parseCaptures(q, tokens, captures)
	if err := checkPage(q, fin, msgs); err != nil {
		return res, fmt.Errorf("mam query %s to %s: %w", id, st.archive, err)
	}
	fillTimes(msgs)
	s.stats.pages.Add(1)
	s.stats.messages.Add(uint64(len(msgs)))
	res, err = s.safeApply(apply, &page{queryID: id, req: req, msgs: msgs, fin: fin})
	if err != nil {
		return res, fmt.Errorf("mam query %s to %s: commit: %w", id, st.archive, err)
	}
	s.stats.inserted.Add(uint64(res.Inserted))
	s.stats.duplicates.Add(uint64(res.Duplicates))
	if s.cfg.logger.Enabled(ctx, slog.LevelDebug) {
		s.cfg.logger.Debug("historysync: page", "archive", st.archive.String(), "query", id,
			"results", len(msgs), "inserted", res.Inserted, "duplicates", res.Duplicates, "complete", fin.Complete)
	}
	s.emit(Event{Kind: EventPageFetched, Archive: st.archive, QueryID: id, Messages: len(msgs), Inserted: res.Inserted, Duplicates: res.Duplicates})
	return res, nil
}

// parseCaptures parses the buffered results of q into messages, on the
// query's goroutine. A result that does not parse is kept as a placeholder
// (Message.Omitted) and counted as dropped.
//
// The raw XML of the page's messages (Message.Raw) is written back to back
// into a recycled buffer and copied once, exactly, into one array that the
// messages' Raw slices share (each capped to its own bytes): one allocation
// per page rather than one per message.
func (s *Syncer) parseCaptures(q *query, tokens []xml.Token, captures []capture) []Message {
	msgs := make([]Message, len(captures))
	opts := ParseOptions{KeepRaw: s.cfg.keepRaw}
	var r sliceTokenReader
	raw, _ := s.rawWriters.Get().(*rawWriter)
	if raw == nil {
		raw = &rawWriter{}
	}
	defer s.putRawWriter(raw)
	raw.shared, raw.buf = true, raw.buf[:0]
	// ends[i] is the end of message i's raw XML in raw.buf (its start is the
	// previous end); equal ends mean no raw XML.
	var endsArray [preallocResults]int
	ends := endsArray[:0]
	if len(captures) > len(endsArray) {
		ends = make([]int, 0, len(captures))
	}
	for i, c := range captures {
		raw.base = len(raw.buf)
		ends = append(ends, raw.base)
		m := &msgs[i]
		if c.from == c.to {
			*m = Message{ArchiveID: c.archiveID, Omitted: c.omitted}
			m.Time, _ = parseStamp(c.stamp)
			continue
		}
		r.toks, r.i = tokens[c.from+1:c.to], 0
		res, err := parseResult(&r, tokens[c.from].(xml.StartElement), opts, raw, true)
		if err != nil {
			raw.buf = raw.buf[:raw.base]
			s.dropped(DropMalformed, q.id, q.archive)
			*m = Message{ArchiveID: c.archiveID, Time: res.Message.Time, Omitted: DropMalformed}
			continue
		}
		*m = res.Message
		if m.Raw != nil {
			ends[i] = len(raw.buf)
		} else {
			raw.buf = raw.buf[:raw.base]
		}
	}
	// Every Raw is a view of the recycled buffer until here: replace them
	// all.
	var page []byte
	if len(raw.buf) > 0 {
		page = make([]byte, len(raw.buf))
		copy(page, raw.buf)
	}
	start := 0
	for i, end := range ends {
		if msgs[i].Raw != nil {
			msgs[i].Raw = page[start:end:end]
		}
		start = end
	}
	return msgs
}

// maxRecycledRaw bounds the capacity of a recycled raw XML page buffer.
const maxRecycledRaw = 1 << 20

// putRawWriter recycles a page's raw XML writer.
func (s *Syncer) putRawWriter(w *rawWriter) {
	if cap(w.buf) > maxRecycledRaw {
		return
	}
	w.buf, w.ns, w.shared, w.base = w.buf[:0], w.ns[:0], false, 0
	s.rawWriters.Put(w)
}

// sliceTokenReader reads buffered tokens.
type sliceTokenReader struct {
	toks []xml.Token
	i    int
}

func (r *sliceTokenReader) Token() (xml.Token, error) {
	if r.i >= len(r.toks) {
		return nil, io.EOF
	}
	r.i++
	return r.toks[r.i-1], nil
}

// safeApply runs apply, turning a panic (from the Store or the commit logic)
// into ErrStorePanic so that runQuery still releases the query.
func (s *Syncer) safeApply(apply applyFunc, p *page) (res CommitResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.cfg.logger.Error("historysync: store panicked", "panic", fmt.Sprint(r))
			err = fmt.Errorf("%w: %v", ErrStorePanic, r)
		}
	}()
	return apply(p)
}

// sendContext is the context a query hands to Session.SendIQ. It is done
// when the query's context is done while the query is being written or
// answered, and never after detach.
//
// mellium (v0.22.0, session.go send) ties a write to its context with a
// goroutine started for every stanza it writes, which waits for either the
// context's end or the write's end and, on the context's end, sets a write
// deadline in the past on the connection, then clears it. If that goroutine
// has not yet run when the write has ended and the context then ends too,
// both are ready and it may pick the context's end: it then sets the past
// deadline after the write returned, and a write of another goroutine at that
// moment (another query, or the client's own stanza) fails with "i/o
// timeout", leaving a partial stanza on the stream. runQuery cancels its
// context as soon as the reply is in, so every query would open that window.
// Detaching the send context once SendIQ returned closes it: the watcher, if
// still pending, then only ever sees the write's end.
type sendContext struct {
	context.Context
	done chan struct{}
}

// newSendContext returns a sendContext over ctx and the function that detaches
// it from ctx. The function reports whether the sendContext was still open.
func newSendContext(ctx context.Context) (*sendContext, func() bool) {
	c := &sendContext{Context: ctx, done: make(chan struct{})}
	stop := context.AfterFunc(ctx, func() { close(c.done) })
	return c, stop
}

// Done is closed when the parent context ended before detach.
func (c *sendContext) Done() <-chan struct{} { return c.done }

// Err is the parent's error once Done is closed, nil before.
func (c *sendContext) Err() error {
	select {
	case <-c.done:
		return c.Context.Err()
	default:
		return nil
	}
}

// queryContext returns the context of one query: bound to the Syncer (Close,
// session end) and to the page timeout.
func (s *Syncer) queryContext(ctx context.Context) (context.Context, context.CancelFunc) {
	bound, cancelBound := s.bind(ctx)
	timed, cancelTimed := withTimeout(bound, s.cfg.clock, s.cfg.pageTimeout, ErrPageTimeout)
	return timed, func() {
		cancelTimed()
		cancelBound()
	}
}

// breakSession ends a session whose stream cannot be used any more: it fails
// every operation with cause (which wraps ErrSessionClosed) and closes the
// connection, so that Serve returns and the client reconnects. An XMPP stream
// on which a stanza was partly written (for example a write cut short by the
// page timeout while the server did not read) cannot be used again, nor one
// whose input stopped in the middle of a stanza (streamStalled). It reports
// whether cause is the one the session ended with (false if it had already
// ended).
func (s *Syncer) breakSession(cause error) bool {
	if s.ctx.Err() != nil {
		return false
	}
	s.cancel(cause)
	if context.Cause(s.ctx) != cause { //nolint:errorlint // identity, not a match: did this call end the session?
		return false
	}
	s.cfg.logger.Error("historysync: closing the session's connection", "err", cause)
	if c := s.session.Conn(); c != nil {
		_ = c.Close()
	}
	return true
}

// queryError wraps the error of a query that got no reply.
func (s *Syncer) queryError(qctx context.Context, q *query, err error) error {
	if qctx.Err() != nil {
		cause := context.Cause(qctx)
		// A stalled stream fails the queries in flight with a cause that
		// wraps ErrPageTimeout; it is counted once, in Stalls.
		if errors.Is(cause, ErrPageTimeout) && !errors.Is(cause, ErrStreamStalled) {
			s.stats.timeouts.Add(1)
		}
		err = cause
	} else if s.ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", context.Cause(s.ctx), err)
	}
	return fmt.Errorf("mam query %s to %s: %w", q.id, q.archive, err)
}

// readReplyWatched reads the reply of q with readReply, and then to its end,
// inside the stall watch. mellium returns the reply as soon as its start tag
// arrived; a server that stops in the middle of the reply leaves the read
// (and Serve, which waits for it) blocked on the connection, where no context
// reaches. If the rest of the reply does not arrive within a page timeout,
// the watch closes the session, which ends the read, and the page fails with
// ErrStreamStalled (wrapping ErrSessionClosed and ErrPageTimeout).
func (s *Syncer) readReplyWatched(resp xml.TokenReader, q *query) (Fin, error) {
	s.watch.enter(readingReply)
	fin, err := readReply(resp, q)
	drain(resp)
	s.watch.leave(readingReply)
	if err != nil {
		if stall := s.stallError(); stall != nil {
			// Counted once, in Stalls (see queryError), not in Timeouts.
			return Fin{}, stall
		}
	}
	return fin, err
}

// readReply reads the IQ reply of query q: a stanza error, or a <fin/>. It
// tolerates whitespace and never panics.
func readReply(resp xml.TokenReader, q *query) (Fin, error) {
	tok, err := resp.Token()
	if tok == nil {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Fin{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	start, ok := tok.(xml.StartElement)
	if !ok {
		return Fin{}, fmt.Errorf("%w: reply starts with %T", ErrMalformed, tok)
	}
	iq, err := stanza.NewIQ(start)
	if err != nil {
		return Fin{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if !q.acceptsFrom(iq.From) {
		return Fin{}, ErrSpoofedReply
	}
	switch iq.Type {
	case stanza.ErrorIQ:
		se, err := readStanzaError(resp)
		if err != nil {
			return Fin{}, fmt.Errorf("%w: unreadable error reply: %w", ErrMalformed, err)
		}
		return Fin{}, se
	case stanza.ResultIQ:
	default:
		return Fin{}, fmt.Errorf("%w: reply of type %q", ErrMalformed, iq.Type)
	}
	inner := xmlstream.Inner(resp)
	for {
		tok, err := inner.Token()
		if tok == nil {
			if err == nil || errors.Is(err, io.EOF) {
				return Fin{}, ErrMissingFin
			}
			return Fin{}, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return ParseFin(inner, t)
		case xml.EndElement:
			return Fin{}, ErrMissingFin
		}
	}
}

// readStanzaError reads the <error/> child of an error reply (r is
// positioned after the IQ's start token), skipping whitespace and other
// children. stanza.UnmarshalError is not used: it panics when text, such as
// the whitespace of a pretty-printed reply, precedes <error/>.
func readStanzaError(r xml.TokenReader) (stanza.Error, error) {
	inner := xmlstream.Inner(r)
	for {
		tok, err := inner.Token()
		if tok == nil {
			if err == nil || errors.Is(err, io.EOF) {
				return stanza.Error{}, errors.New("no <error/> in the reply")
			}
			return stanza.Error{}, err
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if start.Name.Local != "error" {
			if err := skip(inner); err != nil {
				return stanza.Error{}, err
			}
			continue
		}
		var se stanza.Error
		// The decoder checks that <error/> is complete and well nested.
		d := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(start), inner))
		if err := d.Decode(&se); err != nil {
			return stanza.Error{}, err
		}
		return se, nil
	}
}

// checkPage verifies that the buffered results are exactly the page the
// <fin/> describes.
func checkPage(q *query, fin Fin, msgs []Message) error {
	switch {
	case q.flooded:
		return ErrFlood
	case q.overflow:
		return ErrBufferFull
	case q.malformed > 0:
		return fmt.Errorf("%w: %d unidentifiable results", ErrMalformed, q.malformed)
	}
	if len(msgs) == 0 {
		if fin.First != "" {
			return fmt.Errorf("%w: no results but <first>%s</first>", ErrPageMismatch, fin.First)
		}
		return nil
	}
	if fin.First != msgs[0].ArchiveID || fin.Last != msgs[len(msgs)-1].ArchiveID {
		return fmt.Errorf("%w: got %d results %s..%s, fin says %s..%s", ErrPageMismatch,
			len(msgs), msgs[0].ArchiveID, msgs[len(msgs)-1].ArchiveID, fin.First, fin.Last)
	}
	seen := make(map[string]struct{}, len(msgs))
	for i := range msgs {
		if _, dup := seen[msgs[i].ArchiveID]; dup {
			return fmt.Errorf("%w: archive id %s twice in one page", ErrPageMismatch, msgs[i].ArchiveID)
		}
		seen[msgs[i].ArchiveID] = struct{}{}
	}
	return nil
}

// fillTimes gives placeholders without a stamp the stamp of a neighbour, so
// that ranges always have times.
func fillTimes(msgs []Message) {
	var last time.Time
	for i := range msgs {
		if msgs[i].Time.IsZero() {
			msgs[i].Time = last
		} else {
			last = msgs[i].Time
		}
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Time.IsZero() {
			msgs[i].Time = last
		} else {
			last = msgs[i].Time
		}
	}
}

// newQueryID returns a random, unguessable query id.
func newQueryID() (string, error) {
	var b [12]byte
	if _, err := cryptorand.Read(b[:]); err != nil {
		return "", fmt.Errorf("historysync: query id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
