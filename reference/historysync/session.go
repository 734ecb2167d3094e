package historysync

import (
	"context"
	"errors"
	"fmt"

	"mellium.im/xmpp"
)

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
	return fmt.Errorf("mam query %s: %w", q.id, err)
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
