package historysync

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"mellium.im/xmpp/stanza"
)

// fetchPage fetches and commits one page, retrying transient failures with
// exponential backoff and jitter. Item-not-found on a stored cursor turns a
// backwards page into a query by time, and fails a forward page with
// errCursorUnknown. After a page timeout it checks that the server still
// answers (checkServer) before anything else.
func (s *Syncer) fetchPage(ctx context.Context, st *archiveState, req pageReq, apply applyFunc) (CommitResult, error) {
	for attempt := 1; ; attempt++ {
		res, err := s.runQuery(ctx, st, req, apply)
		if err == nil {
			return res, nil
		}
		if errors.Is(err, ErrPageTimeout) && !errors.Is(err, ErrStreamStalled) && s.ctx.Err() == nil {
			if dead := s.checkServer(ctx); dead != nil {
				err = fmt.Errorf("%w: %w", err, dead)
			}
		}
		if req.after != "" && isCondition(err, stanza.ItemNotFound) && ctx.Err() == nil && s.ctx.Err() == nil {
			s.stats.cursorResets.Add(1)
			s.cfg.logger.Warn("historysync: newest stored id unknown to the archive, looking for it by time",
				"archive", st.archive.String(), "cursor", req.after)
			s.emit(Event{Kind: EventCursorReset, Archive: st.archive, Err: err})
			return res, fmt.Errorf("%w: %w", errCursorUnknown, err)
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
