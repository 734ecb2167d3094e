package historysync

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"mellium.im/xmpp/history"
	"mellium.im/xmpp/stanza"
)

// pageReq describes one page to fetch: forward after an archive id (RSM
// <after/>), or backwards (RSM <before/>): the newest page, or the page
// before an archive id.
type pageReq struct {
	// after is the RSM <after/> archive id of a forward page.
	after string
	// before is the RSM <before/> archive id; with after and before empty,
	// the query asks for the newest page.
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
		acceptZero: st.archive.JID.Equal(s.account),
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

	hq := history.Query{ID: id, Start: req.start, End: req.end, Limit: uint64(req.max), Last: req.after == "", PageID: req.before}
	if req.after != "" {
		hq.PageID = req.after
	}
	// The account's own archive is queried without a to; any other archive
	// at its JID, so that the server answers for that archive or refuses.
	iq := stanza.IQ{Type: stanza.SetIQ}
	if !st.archive.JID.Equal(s.account) {
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
		return res, fmt.Errorf("mam query %s: %w", id, replyErr)
	}
	msgs := s.parseCaptures(q, tokens, captures)
	if err := checkPage(q, fin, msgs); err != nil {
		return res, fmt.Errorf("mam query %s: %w", id, err)
	}
	fillTimes(msgs)
	res, err = s.safeApply(apply, &page{queryID: id, req: req, msgs: msgs, fin: fin})
	if err != nil {
		return res, fmt.Errorf("mam query %s: commit: %w", id, err)
	}
	s.stats.pages.Add(1)
	s.stats.messages.Add(uint64(len(msgs)))
	s.stats.inserted.Add(uint64(res.Inserted))
	s.stats.duplicates.Add(uint64(res.Duplicates))
	if s.cfg.logger.Enabled(ctx, slog.LevelDebug) {
		s.cfg.logger.Debug("historysync: page", "archive", st.archive.String(), "query", id,
			"results", len(msgs), "inserted", res.Inserted, "duplicates", res.Duplicates, "complete", fin.Complete)
	}
	s.emit(Event{Kind: EventPageFetched, Archive: st.archive, QueryID: id, Messages: len(msgs), Inserted: res.Inserted, Duplicates: res.Duplicates})
	return res, nil
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

// readReplyWatched reads the reply of q with readReply, and then to its end,
// inside the stall watch (see stallWatch); a stalled reply fails with the
// stall's error.
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
		return "", fmt.Errorf("query id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
