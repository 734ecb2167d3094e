package historysync

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"
)

// Errors of the Syncer's lifecycle and of failed pages. The errors of
// CatchUp, LoadOlder and CatchUpAll name the archive once
// ("historysync: sync ARCHIVE: mam query Q: ..."), with these wrapped
// inside; test with errors.Is. A stanza error reply is returned as a wrapped
// stanza.Error (errors.As).
var (
	// ErrClosed: the Syncer was closed.
	ErrClosed = errors.New("syncer closed")
	// ErrSessionClosed: the XMPP session ended (Serve returned) while the
	// operation was running, or the Syncer closed it (a broken stream, a
	// stalled stream, an unresponsive server).
	ErrSessionClosed = errors.New("session closed")
	// ErrPageTimeout: no <fin/> arrived within the page timeout.
	ErrPageTimeout = errors.New("page timed out")
	// ErrFlood: the archive sent more results than asked for.
	ErrFlood = errors.New("archive flooded the query")
	// ErrBufferFull: the page's results did not fit the buffer caps (the
	// query's bytes or the Syncer-wide caps); the page is retried with half
	// the page size.
	ErrBufferFull = errors.New("result buffer full")
	// ErrPageMismatch: the results received do not match the <fin/>'s RSM
	// <first/> and <last/> (results lost, reordered or injected).
	ErrPageMismatch = fmt.Errorf("%w: results do not match <fin/>", ErrMalformed)
	// ErrSpoofedReply: the IQ reply came from another address than the
	// archive.
	ErrSpoofedReply = fmt.Errorf("%w: reply from the wrong address", ErrMalformed)
	// ErrStorePanic: the Store panicked; the page was released and failed.
	ErrStorePanic = errors.New("store panicked")
	// ErrPositions: a gap is too large for the position space between two
	// ranges (more than PosStride messages); see the package documentation.
	ErrPositions = errors.New("position space exhausted")
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
	live    liveness
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

	// events delivers events to the WithEvents callback; nil without one.
	events *eventQueue
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
// package example. Call Close when done. New returns an error, naming the
// option, if session or store is nil or an option got a value out of range
// (see Option).
func New(session *xmpp.Session, store Store, opts ...Option) (*Syncer, error) {
	cfg := defaultConfig()
	if session == nil {
		cfg.errs = append(cfg.errs, errors.New("no session"))
	}
	if store == nil {
		cfg.errs = append(cfg.errs, errors.New("no store"))
	}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if err := errors.Join(cfg.errs...); err != nil {
		return nil, fmt.Errorf("historysync: New: %w", err)
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
		s.events = newEventQueue(cfg.eventQueue, s.deliver)
	}
	return s, nil
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
// hostile result cannot end the session. It reads the message to its end;
// a message that stalls closes the session (see ErrStreamStalled).
func (s *Syncer) HandleMAM() mux.Option {
	return mux.Message(stanza.NormalMessage, nameResult, resultHandler{s})
}

// HandleLive returns a mux option that observes live chat, groupchat and
// normal messages carrying a XEP-0359 stanza-id, to extend the newest stored
// range of archives whose Policy has LiveExtend (see ObserveLive). A message
// that stalls from its <stanza-id> child on closes the session; one that
// stalls before it does not (see ErrStreamStalled).
func (s *Syncer) HandleLive() mux.Option {
	h := liveHandler{s}
	return func(m *mux.ServeMux) {
		for _, typ := range []stanza.MessageType{stanza.ChatMessage, stanza.GroupChatMessage, stanza.NormalMessage} {
			mux.Message(typ, nameStanzaID, h)(m)
		}
	}
}

// Close fails every in-flight query with ErrClosed, stops event delivery
// and waits for running operations (CatchUp, LoadOlder, CatchUpAll, which
// return promptly with ErrClosed) to return. It does not wait for an event
// callback in progress, so it is safe to call from any goroutine, the
// callback's included: no callback starts after Close returned, and events
// still queued are dropped (see Event). It does not close the session or
// the store. Close is idempotent.
func (s *Syncer) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	s.closeMu.Unlock()
	s.cancel(ErrClosed)
	// Before waiting for the operations: they may be waiting for their
	// events to be delivered by a callback that is calling Close.
	s.events.close()
	s.ops.Wait()
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
