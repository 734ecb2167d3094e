package historysync

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"sync"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/ping"
	"mellium.im/xmpp/stanza"
)

// ErrServerUnresponsive is the cause of a session the Syncer closed because
// a page timed out and the server then did not answer an XEP-0199 ping
// within the ping timeout (WithPingTimeout): a frozen server or a dead
// connection. Errors that wrap it also wrap ErrSessionClosed. Retrying on
// that session, or starting another call on it, would only wait for another
// page timeout; reconnect, and create a new Syncer over the same Store.
var ErrServerUnresponsive = errors.New("server does not answer")

// liveness runs one server check at a time: queries that time out together
// share it.
type liveness struct {
	mu      sync.Mutex
	pending *serverCheck
}

// serverCheck is one ping; err is its verdict once done is closed.
type serverCheck struct {
	done chan struct{}
	err  error
}

// checkServer pings the server after a page timed out. If the server answers
// (with a result or an error: any answer shows that it reads and writes),
// checkServer returns nil and the page may be retried. If it does not answer
// within the ping timeout, or the ping cannot be written, checkServer closes
// the session (breakSession), so that every operation fails at once and later
// calls do not wait again, and returns the cause, which wraps
// ErrSessionClosed and ErrServerUnresponsive. It returns ctx's cause when ctx
// ends first.
func (s *Syncer) checkServer(ctx context.Context) error {
	s.live.mu.Lock()
	c := s.live.pending
	if c == nil {
		c = &serverCheck{done: make(chan struct{})}
		s.live.pending = c
		s.ops.Add(1) // the caller is an operation: Close waits for the ping too
		go func() {
			defer s.ops.Done()
			c.err = s.ping()
			s.live.mu.Lock()
			s.live.pending = nil
			s.live.mu.Unlock()
			close(c.done)
		}()
	}
	s.live.mu.Unlock()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// ping sends an XEP-0199 ping to the account's server and waits for the
// answer for the ping timeout, bound to the Syncer (not to a caller, whose
// cancellation must not decide for the others). No answer breaks the
// session.
func (s *Syncer) ping() error {
	if s.ctx.Err() != nil {
		return context.Cause(s.ctx)
	}
	s.stats.pings.Add(1)
	ctx, cancel := withTimeout(s.ctx, s.cfg.clock, s.cfg.pingTimeout, ErrServerUnresponsive)
	defer cancel()
	iq := stanza.IQ{Type: stanza.GetIQ, To: s.account.Domain()}
	payload := xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: ping.NS, Local: "ping"}})
	sendCtx, detach := newSendContext(ctx)
	resp, err := s.session.SendIQ(sendCtx, iq.Wrap(payload))
	if err == nil {
		// Answered: the connection reads and writes. The deferred cancel
		// must not reach mellium's write watcher (see sendContext).
		detach()
		_ = resp.Close() // an error reply is an answer too
		return nil
	}
	switch {
	case s.ctx.Err() != nil:
		return context.Cause(s.ctx)
	case errors.Is(context.Cause(ctx), ErrServerUnresponsive):
		err = fmt.Errorf("%w: %w: no answer to a ping within %v after a page timed out", ErrSessionClosed, ErrServerUnresponsive, s.cfg.pingTimeout)
	default:
		err = fmt.Errorf("%w: %w: ping: %w", ErrSessionClosed, ErrServerUnresponsive, err)
	}
	if s.breakSession(err) {
		s.stats.unresponsive.Add(1)
		s.emit(Event{Kind: EventServerUnresponsive, Err: err})
	}
	return context.Cause(s.ctx)
}
