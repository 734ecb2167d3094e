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
	// Pages is the number of pages committed; Messages the results they
	// held; Inserted the messages newly stored and Duplicates those the store
	// already had.
	Pages, Messages, Inserted, Duplicates int
	// Gaps is the number of gaps left between stored ranges.
	Gaps int
	// Complete is true when no gap is left and the back-fill reached its
	// bound (for LoadOlder: the start of the archive).
	Complete bool
	// Err is the run's error (set by CatchUpAll; CatchUp returns it).
	Err error
}

// CatchUp brings the local copy of archive a up to date, Dino-style:
//
//  1. the newest page, starting Overlap before the newest stored message, so
//     that the newest stored archive id is seen again: the messages after it
//     extend the newest range; if it is not in the page, the page becomes a
//     new range and a gap is recorded;
//  2. every gap is filled backwards, newest first, from the newer range's
//     oldest id until the older range's newest id (or the archive's
//     complete flag) is reached, then the two ranges are merged;
//  3. older history is back-filled down to the bound of the archive kind's
//     Policy.
//
// Gap filling and back-filling stop after Policy.MaxMessages results; every
// page is committed to the Store with the ranges it changes, so an
// interrupted run loses nothing and the next one continues. Runs on the same
// archive are serialised.
func (s *Syncer) CatchUp(ctx context.Context, a Archive) (Report, error) {
	return s.runArchive(ctx, a, func(r *run) error {
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
	return s.runArchive(ctx, a, func(r *run) error {
		r.budget = n
		r.countLatest = true
		if r.ranges() == nil {
			if err := r.latest(ctx); err != nil {
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
// its Err) and the archives' errors joined. One failing archive does not stop
// the others.
func (s *Syncer) CatchUpAll(ctx context.Context, archives []Archive) ([]Report, error) {
	reports := make([]Report, len(archives))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(s.cfg.concurrency, len(archives)) {
		wg.Go(func() {
			for i := range work {
				reports[i], reports[i].Err = s.CatchUp(ctx, archives[i])
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
		reports[i] = Report{Archive: archives[i], Err: ctx.Err()}
	}
	var errs []error
	for _, r := range reports {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Archive, r.Err))
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
	// budget is the number of results gap filling and back-filling may
	// still fetch; negative means unlimited.
	budget       int
	reachedBound bool
	// countLatest makes the newest page count against the budget
	// (LoadOlder); CatchUp always fetches it.
	countLatest bool
}

// runArchive serialises runs per archive, loads the stored ranges, runs body
// and reports.
func (s *Syncer) runArchive(ctx context.Context, a Archive, body func(*run) error) (Report, error) {
	rep := Report{Archive: a}
	if err := a.validate(); err != nil {
		return rep, err
	}
	if err := s.beginOp(); err != nil {
		return rep, err
	}
	defer s.ops.Done()
	ctx, cancel := s.bind(ctx)
	defer cancel()

	st := s.archiveState(a)
	select {
	case st.run <- struct{}{}:
	case <-ctx.Done():
		return rep, context.Cause(ctx)
	}
	defer func() { <-st.run }()

	r := &run{s: s, st: st, rep: &rep, now: s.cfg.clock.Now(), budget: -1}
	if st.policy.MaxMessages > 0 {
		r.budget = st.policy.MaxMessages
	}
	err := r.load(ctx)
	if err == nil {
		err = body(r)
	}
	if err != nil {
		err = fmt.Errorf("historysync: sync %s: %w", a, err)
	}
	rs := r.ranges()
	rep.Gaps = max(0, len(rs)-1)
	rep.Complete = err == nil && rep.Gaps == 0 && r.reachedBound
	s.stats.syncs.Add(1)
	s.emit(Event{Kind: EventSyncFinished, Archive: a, Messages: rep.Messages, Inserted: rep.Inserted, Duplicates: rep.Duplicates, Err: err})
	return rep, err
}

// load reads the archive's ranges from the store.
func (r *run) load(ctx context.Context) error {
	ranges, err := r.s.store.Ranges(ctx, r.st.archive)
	if err != nil {
		return fmt.Errorf("historysync: ranges of %s: %w", r.st.archive, err)
	}
	if err := validateRanges(ranges); err != nil {
		return fmt.Errorf("historysync: stored ranges of %s: %w", r.st.archive, err)
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
// held, on a copy of the current ranges.
func (r *run) fetch(ctx context.Context, req pageReq, planPage func(p *page, ranges []Range) (plan, error)) error {
	res, err := r.s.fetchPage(ctx, r.st, req, func(p *page) (CommitResult, error) {
		pl, err := planPage(p, slices.Clone(r.st.ranges))
		if err != nil {
			return CommitResult{}, err
		}
		res, err := r.commit(ctx, pl.msgs, pl.ranges)
		if err != nil {
			return res, err
		}
		r.rep.Pages++
		r.rep.Messages += len(p.msgs)
		if r.budget >= 0 && (req.before != "" || r.countLatest) {
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
	r.rep.Inserted += res.Inserted
	r.rep.Duplicates += res.Duplicates
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

// latest fetches the newest page (step 1).
func (r *run) latest(ctx context.Context) error {
	st := r.st
	req := pageReq{max: r.s.cfg.pageSize}
	if rs := r.ranges(); len(rs) > 0 {
		if t := rs[len(rs)-1].ToTime; !t.IsZero() {
			req.start = t.Add(-r.s.cfg.overlap)
		}
	} else if st.policy.FirstSync == FirstSyncSince {
		req.start = r.now.Add(-st.policy.Since)
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
			// Everything since the overlap start is in the page but the
			// newest stored id is not (expired or retracted): the page
			// follows the newest range; ids already stored are skipped by
			// the store.
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
	if r.st.policy.LiveExtend && !r.st.attached && len(r.st.ranges) > 0 {
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
				return plan{}, fmt.Errorf("historysync: ranges of %s changed during a gap fill", r.st.archive)
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
				return plan{}, fmt.Errorf("historysync: ranges of %s changed during a back-fill", r.st.archive)
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
