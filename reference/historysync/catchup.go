package historysync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Report summarises one CatchUp or LoadOlder run on one archive.
type Report struct {
	Archive Archive
	// Pages is the number of pages committed.
	Pages int
	// Messages is the number of results those pages held. Each is counted
	// in exactly one of Inserted, the messages newly stored, and Duplicates,
	// the messages already stored (skipped by the Syncer where a page
	// overlaps what it stored before, or by the Store by archive id or by
	// identity): Messages == Inserted + Duplicates.
	Messages, Inserted, Duplicates int
	// Gaps is the number of gaps left between stored ranges.
	Gaps int
	// ReachedStart is true when the stored messages reach back to the start
	// of the archive (or the archive is empty): with no gap, the local copy
	// holds the whole archive up to its newest stored message.
	ReachedStart bool
	// Complete is true when the local copy holds everything the run was
	// asked for: for CatchUp, no gap is left and the history reaches back to
	// the Policy's bound (the start of the archive with FirstSyncAll, the
	// default: then ReachedStart is true too); for LoadOlder, the start of the
	// archive was reached. A room's first runs under the default policy
	// stop after 1000 older results each (Policy.MaxMessages) and report
	// Complete false until its whole history is stored.
	Complete bool
	// Err is the run's error (set by CatchUpAll; CatchUp returns it).
	Err error
}

// CatchUp brings the local copy of archive a up to date and keeps it
// complete:
//
//  1. the new messages: forward from the newest stored archive id (RSM
//     <after/>), page by page, each page extending the newest stored range,
//     until the archive says complete, which costs one empty page when
//     nothing is new. If MaxMessages runs out first, the newest page is
//     fetched instead and stored as a new range above a gap. With nothing
//     stored yet, or when the archive no longer knows the newest stored id
//     (item-not-found, for example after expiry), the newest page (RSM
//     <before/>) is fetched instead, starting Overlap before the newest
//     stored message so that the stored tail is recognised;
//  2. every gap is filled backwards, newest first, from the newer range's
//     oldest id until the older range's newest id (or the archive's
//     complete flag) is reached, then the two ranges are merged;
//  3. older history is back-filled down to the bound of the archive kind's
//     Policy.
//
// Every page after the first counts against Policy.MaxMessages; every page
// is committed to the Store with the ranges it changes, so an interrupted
// run loses nothing and the next one continues. Runs on the same archive are
// serialised. The run's events are delivered before CatchUp returns (see
// Event).
func (s *Syncer) CatchUp(ctx context.Context, a Archive) (Report, error) {
	return s.catchUp(ctx, a, s.events.mark())
}

// catchUp is CatchUp for a caller that started when the event callback m was
// running (see eventQueue.flush).
func (s *Syncer) catchUp(ctx context.Context, a Archive, m callbackMark) (Report, error) {
	return s.runArchive(ctx, a, m, func(r *run) error {
		if err := r.latest(ctx); err != nil {
			return err
		}
		if err := r.fillGaps(ctx); err != nil {
			return err
		}
		if r.st.policy.FirstSync == FirstSyncLatest {
			r.reachedBound = true
			return nil
		}
		var bound time.Time
		if r.st.policy.FirstSync == FirstSyncSince {
			bound = r.now.Add(-r.st.policy.Since)
		}
		return r.backfill(ctx, bound)
	})
}

// LoadOlder fetches up to n messages older than the oldest stored message of
// archive a (scroll-back), extending the oldest range downwards, whatever the
// archive's Policy. With nothing stored yet it starts from the newest page.
// Report.Complete is true once the start of the archive is reached.
func (s *Syncer) LoadOlder(ctx context.Context, a Archive, n int) (Report, error) {
	if n <= 0 {
		return Report{Archive: a}, fmt.Errorf("historysync: LoadOlder of %s: n must be positive, got %d", a, n)
	}
	return s.runArchive(ctx, a, s.events.mark(), func(r *run) error {
		r.budget = n
		r.countFirst = true
		if r.ranges() == nil {
			if err := r.newestPage(ctx, time.Time{}); err != nil {
				return err
			}
		}
		if err := r.backfill(ctx, time.Time{}); err != nil {
			return err
		}
		rs := r.ranges()
		r.reachedBound = len(rs) > 0 && rs[0].FromEnd
		return nil
	})
}

// CatchUpAll runs CatchUp on every archive, at most WithConcurrency archives
// at a time, and returns one Report per archive (in the same order, each with
// its Err) and the archives' errors joined (each names its archive). One
// failing archive does not stop the others.
func (s *Syncer) CatchUpAll(ctx context.Context, archives []Archive) ([]Report, error) {
	// The workers' runs wait for their events unless the callback running
	// now, which may be this call's caller, still runs.
	mark := s.events.mark()
	reports := make([]Report, len(archives))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(s.cfg.concurrency, len(archives)) {
		wg.Go(func() {
			for i := range work {
				reports[i], reports[i].Err = s.catchUp(ctx, archives[i], mark)
			}
		})
	}
	next := 0
feed:
	for ; next < len(archives); next++ {
		select {
		case work <- next:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	for i := next; i < len(archives); i++ {
		reports[i] = Report{Archive: archives[i], Err: fmt.Errorf("historysync: sync %s: %w", archives[i], ctx.Err())}
	}
	var errs []error
	for _, r := range reports {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return reports, errors.Join(errs...)
}

// run is one CatchUp or LoadOlder on one archive.
type run struct {
	s   *Syncer
	st  *archiveState
	rep *Report
	now time.Time
	// budget is the number of results the pages after the first may still
	// fetch; negative means unlimited.
	budget       int
	reachedBound bool
	// countFirst makes the first page count against the budget too
	// (LoadOlder); CatchUp always fetches it.
	countFirst bool
	// fetched is the number of pages fetched so far.
	fetched int
}

// runArchive runs body on archive a (see runLocked) and returns once the
// events it queued were delivered, unless the callback m, running when the
// caller started, still runs (see eventQueue.flush). Its error names the
// archive, once.
func (s *Syncer) runArchive(ctx context.Context, a Archive, mark callbackMark, body func(*run) error) (Report, error) {
	if err := s.checkArchive(a); err != nil {
		return Report{Archive: a}, fmt.Errorf("historysync: sync %s: %w", a, err)
	}
	if err := s.beginOp(); err != nil {
		return Report{Archive: a}, fmt.Errorf("historysync: sync %s: %w", a, err)
	}
	defer s.ops.Done()
	rep, err := s.runLocked(ctx, a, body)
	if err != nil {
		err = fmt.Errorf("historysync: sync %s: %w", a, err)
	}
	s.stats.syncs.Add(1)
	s.emit(Event{Kind: EventSyncFinished, Archive: a, Messages: rep.Messages, Inserted: rep.Inserted, Duplicates: rep.Duplicates, Err: err})
	// Nothing is held here: the callback may run anything on the Syncer,
	// this archive's operations included.
	s.events.flush(ctx, mark)
	return rep, err
}

// runLocked serialises runs per archive, loads the stored ranges, runs body
// and fills in the report.
func (s *Syncer) runLocked(ctx context.Context, a Archive, body func(*run) error) (Report, error) {
	rep := Report{Archive: a}
	ctx, cancel := s.bind(ctx)
	defer cancel()
	st := s.archiveState(a)
	select {
	case st.run <- struct{}{}:
	case <-ctx.Done():
		return rep, context.Cause(ctx)
	}
	defer func() { <-st.run }()

	r := &run{s: s, st: st, rep: &rep, now: s.cfg.clock.Now(), budget: st.policy.budget()}
	err := r.load(ctx)
	if err == nil {
		err = body(r)
	}
	rs := r.ranges()
	rep.Gaps = max(0, len(rs)-1)
	rep.ReachedStart = err == nil && len(rs) == 0 || len(rs) > 0 && rs[0].FromEnd
	rep.Complete = err == nil && rep.Gaps == 0 && r.reachedBound
	return rep, err
}

// checkArchive reports whether this Syncer can synchronise archive a.
func (s *Syncer) checkArchive(a Archive) error {
	if err := a.validate(); err != nil {
		return err
	}
	if a.Kind == RoomArchive && a.JID.Equal(s.account) {
		return errors.New("the account's own JID is not a room")
	}
	return nil
}

// load reads the archive's ranges from the store.
func (r *run) load(ctx context.Context) error {
	ranges, err := r.s.store.Ranges(ctx, r.st.archive)
	if err != nil {
		return fmt.Errorf("ranges: %w", err)
	}
	if err := validateRanges(ranges); err != nil {
		return fmt.Errorf("stored ranges: %w", err)
	}
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	r.st.ranges = ranges
	return nil
}

// ranges returns a copy of the archive's current ranges.
func (r *run) ranges() []Range {
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	return slices.Clone(r.st.ranges)
}

// pageMax is the RSM max for the next gap-fill or back-fill page.
func (r *run) pageMax() int {
	if r.budget >= 0 {
		return min(r.s.cfg.pageSize, r.budget)
	}
	return r.s.cfg.pageSize
}

// exhausted reports whether the run's result budget is used up.
func (r *run) exhausted() bool { return r.budget == 0 }

// plan is what a page changes: the messages to insert (positions assigned)
// and the archive's ranges after the commit.
type plan struct {
	msgs      []Message
	ranges    []Range
	gapOpened bool // a new range was stored above a gap
	gapClosed bool // two ranges were merged
	attach    bool // the page reached the archive's newest message
}

// fetch fetches and commits one page. planPage runs with the archive lock
// held, on a copy of the current ranges. Every page after the run's first
// (and the first too with countFirst) counts against the budget.
func (r *run) fetch(ctx context.Context, req pageReq, planPage func(p *page, ranges []Range) (plan, error)) error {
	counted := r.fetched > 0 || r.countFirst
	_, err := r.s.fetchPage(ctx, r.st, req, func(p *page) (CommitResult, error) {
		pl, err := planPage(p, slices.Clone(r.st.ranges))
		if err != nil {
			return CommitResult{}, err
		}
		res, err := r.commit(ctx, pl.msgs, pl.ranges)
		if err != nil {
			return res, err
		}
		// The results the plan left out are already stored.
		res.Duplicates += len(p.msgs) - len(pl.msgs)
		r.rep.Pages++
		r.rep.Messages += len(p.msgs)
		r.rep.Inserted += res.Inserted
		r.rep.Duplicates += res.Duplicates
		if r.budget >= 0 && counted {
			r.budget = max(0, r.budget-len(p.msgs))
		}
		if pl.gapOpened {
			r.s.stats.gapsDetected.Add(1)
			r.s.emit(Event{Kind: EventGapDetected, Archive: r.st.archive, QueryID: p.queryID, Messages: len(pl.msgs)})
		}
		if pl.gapClosed {
			r.s.stats.gapsClosed.Add(1)
			r.s.emit(Event{Kind: EventGapClosed, Archive: r.st.archive, QueryID: p.queryID})
		}
		if pl.attach {
			r.attach()
		}
		return res, nil
	})
	r.fetched++
	return err
}

// commit stores msgs and ranges; st.mu is held.
func (r *run) commit(ctx context.Context, msgs []Message, ranges []Range) (CommitResult, error) {
	if len(msgs) == 0 && rangesEqual(ranges, r.st.ranges) {
		return CommitResult{}, nil
	}
	res, err := r.s.store.Commit(ctx, r.st.archive, Commit{Messages: msgs, Ranges: ranges})
	if err != nil {
		return res, err
	}
	r.st.ranges = ranges
	return res, nil
}

func rangesEqual(a, b []Range) bool {
	return slices.EqualFunc(a, b, func(x, y Range) bool {
		return x.FromID == y.FromID && x.FromPos == y.FromPos && x.FromTime.Equal(y.FromTime) && x.FromEnd == y.FromEnd &&
			x.ToID == y.ToID && x.ToPos == y.ToPos && x.ToTime.Equal(y.ToTime)
	})
}

// latest fetches the new messages (step 1): forward from the newest stored
// id, or the newest page when nothing is stored, when the archive does not
// know that id any more, or when the budget runs out before the forward
// catch-up reached the archive's end.
func (r *run) latest(ctx context.Context) error {
	rs := r.ranges()
	if len(rs) == 0 {
		var start time.Time
		if r.st.policy.FirstSync == FirstSyncSince {
			start = r.now.Add(-r.st.policy.Since)
		}
		return r.newestPage(ctx, start)
	}
	for {
		done, progressed, err := r.forward(ctx)
		switch {
		case errors.Is(err, errCursorUnknown):
			// The newest page from Overlap before the newest stored message
			// recognises the stored tail by id, or stores the page above a
			// gap.
			newest := r.ranges()
			var start time.Time
			if t := newest[len(newest)-1].ToTime; !t.IsZero() {
				start = t.Add(-r.s.cfg.overlap)
			}
			return r.newestPage(ctx, start)
		case err != nil:
			return err
		case done:
			return nil
		case !progressed || r.exhausted():
			// The newest messages are always fetched: the newest page,
			// above a gap that the next runs fill (or, from a page that did
			// not say complete though nothing follows it, the newest page
			// decides where the archive ends).
			return r.newestPage(ctx, time.Time{})
		}
	}
}

// errCursorUnknown is returned by forward when the archive no longer knows
// the newest stored id.
var errCursorUnknown = errors.New("newest stored archive id unknown to the archive")

// forward fetches the page after the newest stored id and appends it to the
// newest range. It reports whether the page reached the archive's end and
// whether it held new messages.
func (r *run) forward(ctx context.Context) (done, progressed bool, err error) {
	rs := r.ranges()
	newest := rs[len(rs)-1]
	req := pageReq{after: newest.ToID, max: r.s.cfg.pageSize}
	if r.fetched > 0 || r.countFirst {
		req.max = r.pageMax()
	}
	err = r.fetch(ctx, req, func(p *page, ranges []Range) (plan, error) {
		n := &ranges[len(ranges)-1]
		if n.ToID != newest.ToID || n.ToPos != newest.ToPos {
			return plan{}, errors.New("ranges changed during a forward catch-up")
		}
		msgs := p.msgs
		if k := indexOf(msgs, n.ToID); k >= 0 {
			msgs = msgs[k+1:] // a server that includes the <after/> id itself
		}
		done, progressed = p.fin.Complete, len(msgs) > 0
		if !progressed {
			return plan{ranges: ranges, attach: done}, nil
		}
		assignUp(msgs, n.ToPos+1)
		last := &msgs[len(msgs)-1]
		n.ToID, n.ToTime, n.ToPos = last.ArchiveID, last.Time, last.Pos
		return plan{msgs: msgs, ranges: ranges, attach: done}, nil
	})
	return done, progressed, err
}

// newestPage fetches the newest page (RSM <before/>) from start (zero: no
// time filter). With stored ranges, the messages after the newest stored id
// extend the newest range if that id is in the page; otherwise the page
// becomes a new range above a gap.
func (r *run) newestPage(ctx context.Context, start time.Time) error {
	req := pageReq{start: start, max: r.s.cfg.pageSize}
	if r.countFirst {
		req.max = r.pageMax()
	}
	return r.fetch(ctx, req, func(p *page, ranges []Range) (plan, error) {
		msgs := p.msgs
		if len(ranges) == 0 {
			if len(msgs) == 0 {
				return plan{ranges: ranges}, nil
			}
			assignUp(msgs, FirstPos-int64(len(msgs)-1))
			span := spanOf(msgs)
			span.FromEnd = p.fin.Complete && p.req.start.IsZero() && p.req.end.IsZero()
			return plan{msgs: msgs, ranges: []Range{span}, attach: true}, nil
		}
		newest := &ranges[len(ranges)-1]
		k := indexOf(msgs, newest.ToID)
		switch {
		case k >= 0:
			msgs = msgs[k+1:]
		case p.fin.Complete:
			// Everything since start is in the page but the newest stored id
			// is not (expired or retracted): the page follows the newest
			// range; ids already stored are skipped by the store.
		default:
			if len(msgs) == 0 {
				return plan{ranges: ranges, attach: true}, nil
			}
			// More new messages than one page: store the page as a new
			// range above a gap, filled backwards next.
			if newest.ToPos > MaxPos-2*PosStride {
				return plan{}, fmt.Errorf("%w: no room above %v", ErrPositions, *newest)
			}
			assignUp(msgs, newest.ToPos+PosStride)
			return plan{msgs: msgs, ranges: append(ranges, spanOf(msgs)), gapOpened: true, attach: true}, nil
		}
		if len(msgs) == 0 {
			return plan{ranges: ranges, attach: true}, nil
		}
		assignUp(msgs, newest.ToPos+1)
		last := &msgs[len(msgs)-1]
		newest.ToID, newest.ToTime, newest.ToPos = last.ArchiveID, last.Time, last.Pos
		return plan{msgs: msgs, ranges: ranges, attach: true}, nil
	})
}

// attach enables live extension of the archive after its newest page was
// committed; st.mu is held.
func (r *run) attach() {
	if r.st.policy.LiveExtend == On && !r.st.attached && len(r.st.ranges) > 0 {
		r.st.attached = true
		r.s.attached.Add(1)
	}
}

// fillGaps fills the gaps between ranges backwards, newest gap first
// (step 2).
func (r *run) fillGaps(ctx context.Context) error {
	for {
		rs := r.ranges()
		if len(rs) < 2 || r.exhausted() {
			return nil
		}
		later, earlier := rs[len(rs)-1], rs[len(rs)-2]
		req := pageReq{
			before:   later.FromID,
			start:    earlier.ToTime,
			max:      r.pageMax(),
			resetEnd: later.FromTime,
		}
		err := r.fetch(ctx, req, func(p *page, ranges []Range) (plan, error) {
			j := slices.IndexFunc(ranges, func(x Range) bool { return x.FromPos == later.FromPos && x.FromID == later.FromID })
			if j < 1 {
				return plan{}, errors.New("ranges changed during a gap fill")
			}
			lt, er := &ranges[j], &ranges[j-1]
			msgs := p.msgs
			merge := p.fin.Complete || len(msgs) == 0
			if k := indexOf(msgs, er.ToID); k >= 0 {
				msgs = msgs[k+1:]
				merge = true
			}
			if len(msgs) > 0 {
				base := lt.FromPos - int64(len(msgs))
				if base <= er.ToPos {
					return plan{}, fmt.Errorf("%w: gap between %v and %v", ErrPositions, *er, *lt)
				}
				assignUp(msgs, base)
				first := &msgs[0]
				lt.FromID, lt.FromTime, lt.FromPos = first.ArchiveID, first.Time, first.Pos
			}
			if merge {
				er.ToID, er.ToTime, er.ToPos = lt.ToID, lt.ToTime, lt.ToPos
				ranges = slices.Delete(ranges, j, j+1)
			}
			return plan{msgs: msgs, ranges: ranges, gapClosed: merge}, nil
		})
		if err != nil {
			return err
		}
	}
}

// backfill extends the oldest range downwards until the archive start, the
// bound (when not zero) or the budget (step 3, and LoadOlder).
func (r *run) backfill(ctx context.Context, bound time.Time) error {
	for {
		rs := r.ranges()
		if len(rs) == 0 {
			// Nothing stored: the archive is empty.
			r.reachedBound = true
			return nil
		}
		oldest := rs[0]
		if oldest.FromEnd || !bound.IsZero() && !oldest.FromTime.After(bound) {
			r.reachedBound = true
			return nil
		}
		if r.exhausted() {
			return nil
		}
		req := pageReq{before: oldest.FromID, start: bound, max: r.pageMax(), resetEnd: oldest.FromTime}
		done := false
		err := r.fetch(ctx, req, func(p *page, ranges []Range) (plan, error) {
			if len(ranges) == 0 || ranges[0].FromPos != oldest.FromPos {
				return plan{}, errors.New("ranges changed during a back-fill")
			}
			o := &ranges[0]
			msgs := p.msgs
			if len(msgs) > 0 {
				base := o.FromPos - int64(len(msgs))
				if base > o.FromPos || base < MinPos+PosStride {
					return plan{}, fmt.Errorf("%w: back-fill below %d", ErrPositions, o.FromPos)
				}
				assignUp(msgs, base)
				first := &msgs[0]
				o.FromID, o.FromTime, o.FromPos = first.ArchiveID, first.Time, first.Pos
			}
			if p.fin.Complete || len(msgs) == 0 {
				done = true
				if p.req.start.IsZero() && p.req.end.IsZero() {
					o.FromEnd = true
				}
			}
			return plan{msgs: msgs, ranges: ranges}, nil
		})
		if err != nil {
			return err
		}
		if done {
			r.reachedBound = true
			return nil
		}
	}
}

// assignUp gives msgs consecutive positions from base.
func assignUp(msgs []Message, base int64) {
	for i := range msgs {
		msgs[i].Pos = base + int64(i)
	}
}

// spanOf returns the range covering msgs (non-empty, positions assigned).
func spanOf(msgs []Message) Range {
	first, last := &msgs[0], &msgs[len(msgs)-1]
	return Range{
		FromID: first.ArchiveID, FromTime: first.Time, FromPos: first.Pos,
		ToID: last.ArchiveID, ToTime: last.Time, ToPos: last.Pos,
	}
}

func indexOf(msgs []Message, archiveID string) int {
	for i := range msgs {
		if msgs[i].ArchiveID == archiveID {
			return i
		}
	}
	return -1
}
