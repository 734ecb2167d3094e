package historysync

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"
)

// Errors of the Syncer's lifecycle and of failed pages. Pages fail with these
// wrapped in context ("mam query Q to ARCHIVE: ..."); test with errors.Is. A
// stanza error reply is returned as a wrapped stanza.Error (errors.As).
var (
	// ErrClosed: the Syncer was closed.
	ErrClosed = errors.New("historysync: syncer closed")
	// ErrSessionClosed: the XMPP session ended (Serve returned) while the
	// operation was running.
	ErrSessionClosed = errors.New("historysync: session closed")
	// ErrPageTimeout: no <fin/> arrived within the page timeout.
	ErrPageTimeout = errors.New("historysync: page timed out")
	// ErrFlood: the archive sent more results than asked for.
	ErrFlood = errors.New("historysync: archive flooded the query")
	// ErrBufferFull: the page's results did not fit the buffer caps (the
	// query's bytes or the Syncer-wide caps); the page is retried with half
	// the page size.
	ErrBufferFull = errors.New("historysync: result buffer full")
	// ErrPageMismatch: the results received do not match the <fin/>'s RSM
	// <first/> and <last/> (results lost, reordered or injected).
	ErrPageMismatch = fmt.Errorf("%w: results do not match <fin/>", ErrMalformed)
	// ErrSpoofedReply: the IQ reply came from another address than the
	// archive.
	ErrSpoofedReply = fmt.Errorf("%w: reply from the wrong address", ErrMalformed)
	// ErrStorePanic: the Store panicked; the page was released and failed.
	ErrStorePanic = errors.New("historysync: store panicked")
	// ErrPositions: a gap is too large for the position space between two
	// ranges (more than PosStride messages); see the package documentation.
	ErrPositions = errors.New("historysync: position space exhausted")
)

// Syncer keeps local copies of MAM archives complete for one XMPP session.
//
// Register its handlers on the session's mux with Handle (or HandleMAM and
// HandleLive), serve the session with Syncer.Serve (or call Close when the
// session ends), then call CatchUp, CatchUpAll or LoadOlder. All methods are
// safe for concurrent use.
type Syncer struct {
	session *xmpp.Session
	store   Store
	cfg     config
	account jid.JID

	tracker queryTracker
	stats   counters
	// watch closes the session when the stream stalls inside a stanza the
	// Syncer reads.
	watch *stallWatch
	sem   chan struct{}
	// scratch holds token slices for handleResult.
	scratch sync.Pool
	// rawWriters holds the raw XML buffers of parseCaptures.
	rawWriters sync.Pool

	// ctx is cancelled, with ErrClosed or ErrSessionClosed as cause, by Close
	// or when the session ends; every query's context is bound to it.
	ctx    context.Context
	cancel context.CancelCauseFunc

	closeMu sync.Mutex
	closed  bool
	ops     sync.WaitGroup

	archivesMu sync.Mutex
	archives   map[string]*archiveState
	attached   atomic.Int32 // archives accepting live extension

	events       chan Event
	stopEvents   chan struct{}
	dispatchDone chan struct{}
}

// archiveState is the per-archive state of a Syncer: a few fields per
// archive, never per message.
type archiveState struct {
	archive Archive
	policy  Policy
	// run is a one-slot semaphore held by the CatchUp or LoadOlder working on
	// the archive.
	run chan struct{}
	// mu guards ranges and attached; it is held while a page or a live
	// message is committed.
	mu       sync.Mutex
	ranges   []Range
	attached bool
}

// New returns a Syncer for session that stores into store. The session must
// be served with a mux that includes the Syncer's Handle option; see the
// package example. Call Close when done. New panics if session or store is
// nil, or if an option is invalid (WithPolicy).
func New(session *xmpp.Session, store Store, opts ...Option) *Syncer {
	if session == nil || store == nil {
		panic("historysync: New needs a session and a store")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.limits.QueryResults > 0 && cfg.pageSize > cfg.limits.QueryResults {
		cfg.pageSize = cfg.limits.QueryResults
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	s := &Syncer{
		session:  session,
		store:    store,
		cfg:      cfg,
		account:  session.LocalAddr().Bare(),
		tracker:  newTracker(cfg.limits),
		sem:      make(chan struct{}, cfg.concurrency),
		ctx:      ctx,
		cancel:   cancel,
		archives: make(map[string]*archiveState),
	}
	s.watch = newStallWatch(ctx, cfg.clock, cfg.pageTimeout, s.streamStalled)
	s.scratch.New = func() any {
		toks := make([]xml.Token, 0, 32)
		return &toks
	}
	if cfg.onEvent != nil {
		s.events = make(chan Event, cfg.eventQueue)
		s.stopEvents = make(chan struct{})
		s.dispatchDone = make(chan struct{})
		go s.dispatch()
	}
	return s
}

// Handle returns a mux option that registers both the MAM result handler
// (HandleMAM) and the live message handler (HandleLive).
func (s *Syncer) Handle() mux.Option {
	return func(m *mux.ServeMux) {
		s.HandleMAM()(m)
		s.HandleLive()(m)
	}
}

// HandleMAM returns a mux option that routes {urn:xmpp:mam:2}result messages
// to the Syncer. The handler runs synchronously on the Serve goroutine and
// costs O(1) per result: a map lookup by queryid, an address comparison and,
// for accepted results only, buffering its tokens. Results for query ids the
// Syncer does not track (unknown, late), from the wrong address (spoofed),
// too large, malformed or beyond the buffer caps are dropped and counted;
// dropping allocates nothing. The handler never returns an error, so a
// hostile result cannot end the session. It reads the message to its end
// from the <result/> child on, which servers send first; if the message
// stops there for a page timeout, the Syncer closes the session
// (ErrStreamStalled).
func (s *Syncer) HandleMAM() mux.Option {
	return mux.Message(stanza.NormalMessage, nameResult, resultHandler{s})
}

// HandleLive returns a mux option that observes live chat, groupchat and
// normal messages carrying a XEP-0359 stanza-id, to extend the newest stored
// range of archives whose Policy has LiveExtend (see ObserveLive). mux calls
// the handler when it reaches the <stanza-id> child: a stall from there to
// the message's end closes the session (ErrStreamStalled), but one in the
// children mux reads before it on the Serve goroutine (servers put
// <stanza-id> last, after <body>) is not detected, and blocks Serve until
// the client's own read deadline or keepalive ends the connection.
func (s *Syncer) HandleLive() mux.Option {
	h := liveHandler{s}
	return func(m *mux.ServeMux) {
		for _, typ := range []stanza.MessageType{stanza.ChatMessage, stanza.GroupChatMessage, stanza.NormalMessage} {
			mux.Message(typ, nameStanzaID, h)(m)
		}
	}
}

type resultHandler struct{ s *Syncer }

// HandleMessage implements mux.MessageHandler.
func (h resultHandler) HandleMessage(msg stanza.Message, t xmlstream.TokenReadEncoder) error {
	h.s.handleResult(msg.From, t)
	return nil
}

// Serve serves the session with h (normally a mux including Handle) and,
// when the session ends, fails every in-flight query with ErrSessionClosed
// and makes later operations fail the same way. mellium does not fail
// pending IQs when the stream ends; without Serve, the page timeout is what
// ends them, so call Close when the session ends.
func (s *Syncer) Serve(h xmpp.Handler) error {
	err := s.session.Serve(h)
	if err != nil {
		s.cancel(fmt.Errorf("%w: %w", ErrSessionClosed, err))
	} else {
		s.cancel(ErrSessionClosed)
	}
	return err
}

// Close fails every in-flight query with ErrClosed, waits for running
// operations to return, and stops event delivery. It does not close the
// session or the store. Close is idempotent.
func (s *Syncer) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	s.closeMu.Unlock()
	s.cancel(ErrClosed)
	s.ops.Wait()
	if s.events != nil {
		close(s.stopEvents)
		<-s.dispatchDone
	}
	return nil
}

// beginOp registers a running operation, unless the Syncer is closed or its
// session ended.
func (s *Syncer) beginOp() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.ctx.Err(); err != nil {
		return context.Cause(s.ctx)
	}
	s.ops.Add(1)
	return nil
}

// archiveState returns the state of archive a, creating it on first use.
func (s *Syncer) archiveState(a Archive) *archiveState {
	key := a.String()
	s.archivesMu.Lock()
	defer s.archivesMu.Unlock()
	st := s.archives[key]
	if st == nil {
		st = &archiveState{archive: a, policy: s.cfg.policies[a.Kind], run: make(chan struct{}, 1)}
		s.archives[key] = st
	}
	return st
}

// existingArchive returns the state of archive a if it exists.
func (s *Syncer) existingArchive(a Archive) *archiveState {
	key := a.String()
	s.archivesMu.Lock()
	defer s.archivesMu.Unlock()
	return s.archives[key]
}

// dropped counts a dropped result and reports it. It does not allocate.
func (s *Syncer) dropped(reason DropReason, queryID string, a Archive) {
	s.stats.dropped[reason].Add(1)
	s.emit(Event{Kind: EventResultDropped, Archive: a, QueryID: queryID, Reason: reason})
}

// handleResult routes one MAM result message (r starts at the message's
// start token) into its in-flight query. It runs on the Serve goroutine and
// does as little as possible there: find the query, check the sender, and
// buffer the result's tokens; the query's own goroutine parses them once the
// reply arrived. The tokens are kept as they are: mux hands message handlers
// a reader that copies every token (xml.CopyToken) into a per-message buffer,
// so they stay valid (TestMuxTokensAreCopies guards this property of
// mellium.im/xmpp/mux).
//
// The message is read from its <result/> child (where mux dispatches it,
// normally its first child) to its end inside the stall watch (see
// stallWatch): a server that stops in the middle of it would otherwise hold
// Serve forever.
func (s *Syncer) handleResult(from jid.JID, r xml.TokenReader) {
	s.watch.enter(readingResult)
	defer s.watch.leave(readingResult)
	defer drain(r)
	startTok, start, ok := findResult(r)
	if !ok {
		s.dropped(DropMalformed, "", Archive{})
		return
	}
	queryID, _ := attr(start, "queryid")
	q, reason := s.tracker.lookup(queryID)
	if q == nil {
		s.dropped(reason, queryID, Archive{})
		return
	}
	if !q.acceptsFrom(from) {
		s.dropped(DropSpoofed, queryID, q.archive)
		return
	}
	archiveID, _ := attr(start, "id")
	if archiveID == "" {
		// Nothing identifies the result: the page cannot be trusted.
		s.dropped(DropMalformed, queryID, q.archive)
		s.tracker.malformed(q)
		return
	}
	scratch := s.scratch.Get().(*[]xml.Token)
	defer s.scratch.Put(scratch)
	toks, size, stamp, err := captureResult(r, startTok, start, (*scratch)[:0], s.cfg.limits.ResultBytes)
	*scratch = toks[:0]
	c := capture{archiveID: archiveID}
	switch {
	case errors.Is(err, ErrResultTooLarge):
		// Keep a placeholder so that the range stays exact.
		s.dropped(DropOversized, queryID, q.archive)
		c.omitted, c.stamp, toks = DropOversized, stamp, nil
		size = int64(len(archiveID)) + captureOverhead
	case err != nil:
		s.dropped(DropMalformed, queryID, q.archive)
		c.omitted, c.stamp, toks = DropMalformed, stamp, nil
		size = int64(len(archiveID)) + captureOverhead
	}
	if reason := s.tracker.add(q, c, toks, size); reason != 0 {
		s.dropped(reason, queryID, q.archive)
	}
}

// captureResult reads a result element (start already read; startTok is the
// same token as r returned it, kept as is so that buffering it does not box
// start again) to its end, appending its tokens to toks (r must return
// tokens that stay valid, as mux's reader does). It returns the tokens and
// their accounted size and, for a result whose serialised size exceeds limit
// (ErrResultTooLarge) or that is truncated (ErrMalformed), the delay stamp if
// one was seen, so that a placeholder can be stored.
func captureResult(r xml.TokenReader, startTok xml.Token, start xml.StartElement, toks []xml.Token, limit int) (_ []xml.Token, size int64, stamp string, err error) {
	toks = append(toks, startTok)
	size = captureOverhead + int64(serialisedSize(start)) + tokenOverhead
	serialised := 0
	tooLarge := false
	for depth := 1; depth > 0; {
		tok, _ := r.Token()
		if tok == nil {
			return toks, size, stamp, fmt.Errorf("%w: result truncated", ErrMalformed)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if t.Name == nameDelay && stamp == "" {
				stamp, _ = attr(t, "stamp")
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
		default:
			continue // comments, processing instructions, directives
		}
		text := serialisedSize(tok)
		serialised += text
		if limit > 0 && serialised > limit {
			tooLarge = true
		}
		if !tooLarge {
			size += int64(text) + tokenOverhead
			toks = append(toks, tok)
		}
	}
	if tooLarge {
		return toks, size, stamp, ErrResultTooLarge
	}
	return toks, size, stamp, nil
}

// findResult reads r from the message start token to the start token of its
// {urn:xmpp:mam:2}result child, skipping whitespace and other children, and
// returns that token both as read and as a StartElement. It does not
// allocate.
func findResult(r xml.TokenReader) (xml.Token, xml.StartElement, bool) {
	depth := 0
	for {
		tok, _ := r.Token()
		if tok == nil {
			return nil, xml.StartElement{}, false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth <= 1 && t.Name == nameResult {
				return tok, t, true
			}
			if depth == 1 {
				if skip(r) != nil {
					return nil, xml.StartElement{}, false
				}
				continue
			}
			depth++
		case xml.EndElement:
			return nil, xml.StartElement{}, false
		}
	}
}
