package main

import (
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/mapleak/mapleak/reference/historysync"
)

// barProgress draws progress bars on a terminal (mpb): a spinner per archive
// while its pages come in, with its pages and messages, and a total bar
// below (archives done, pages, messages, rate). Retries, failures and
// finished archives are printed as lines above the bars.
//
// mpb renders from its own goroutine and calls the decorators there, so the
// counters they read are guarded by mu, and no mpb method is called while mu
// is held (mpb's methods wait for that goroutine). Event and Close are
// serialised by drawing, which the decorators do not take: an event callback
// may still run when Close is called.
type barProgress struct {
	w       io.Writer
	options []mpb.ContainerOption
	started chan struct{} // closed by Start once the fields below are set

	drawing   sync.Mutex
	closed    bool
	container *mpb.Progress
	totalBar  *mpb.Bar
	bars      map[string]*archiveBar // by Archive.String(), historysync's archive key
	startTime time.Time

	mu    sync.Mutex
	total tally
}

// archiveBar is the bar of one archive and what it shows.
type archiveBar struct {
	bar   *mpb.Bar
	tally tally // guarded by barProgress.mu
}

// newBarProgress returns bars drawn on w, a terminal. Tests pass
// mpb.WithAutoRefresh to draw them into a buffer.
func newBarProgress(w io.Writer, options ...mpb.ContainerOption) *barProgress {
	return &barProgress{w: w, options: options, started: make(chan struct{}), bars: map[string]*archiveBar{}}
}

// Start implements progress: it shows the total bar.
func (p *barProgress) Start(archives []historysync.Archive) {
	defer close(p.started)
	p.startTime = time.Now()
	p.container = mpb.New(append([]mpb.ContainerOption{mpb.WithOutput(p.w), mpb.WithRefreshRate(150 * time.Millisecond)}, p.options...)...)
	p.totalBar = p.container.New(int64(len(archives)), mpb.BarStyle(),
		mpb.BarPriority(math.MaxInt), // below the archives' bars
		mpb.PrependDecorators(decor.Name("total", decor.WCSyncSpaceR), decor.CountersNoUnit("%d/%d archives")),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
			p.mu.Lock()
			defer p.mu.Unlock()
			return fmt.Sprintf("%s, %s", p.total, rate(p.total.messages, time.Since(p.startTime)))
		})),
	)
}

// Event implements progress.
func (p *barProgress) Event(ev historysync.Event) {
	select {
	case <-p.started:
	default:
		return // an event before the catch-up, such as a stray result dropped
	}
	p.drawing.Lock()
	defer p.drawing.Unlock()
	if p.closed {
		return
	}
	a := p.archive(ev.Archive)
	switch ev.Kind {
	case historysync.EventPageFetched:
		p.mu.Lock()
		a.tally.add(ev)
		p.total.add(ev)
		p.mu.Unlock()
	case historysync.EventSyncFinished:
		p.mu.Lock()
		line := finishedLine(ev, a.tally)
		p.mu.Unlock()
		fmt.Fprintln(p.container, line)
		a.bar.Abort(true)
		p.totalBar.Increment()
	default:
		if line := eventLine(ev); line != "" {
			fmt.Fprintln(p.container, line)
		}
	}
}

// archive returns the bar of archive a, adding it on first use.
func (p *barProgress) archive(a historysync.Archive) *archiveBar {
	key := a.String()
	if ab := p.bars[key]; ab != nil {
		return ab
	}
	ab := &archiveBar{}
	ab.bar = p.container.New(0, mpb.SpinnerStyle().PositionLeft(), mpb.BarWidth(2),
		mpb.PrependDecorators(decor.Name(key, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
			p.mu.Lock()
			defer p.mu.Unlock()
			return ab.tally.String()
		})),
	)
	p.bars[key] = ab
	return ab
}

// Close implements progress: it removes the bars still shown (archives
// whose last event was dropped, or that never finished), stops the total
// bar where it is unless it is complete, and waits for the last frame.
// Later events are ignored.
func (p *barProgress) Close() {
	select {
	case <-p.started:
	default:
		return
	}
	p.drawing.Lock()
	defer p.drawing.Unlock()
	p.closed = true
	for _, ab := range p.bars {
		ab.bar.Abort(true)
	}
	p.totalBar.Abort(false) // a no-op when every archive finished
	p.container.Wait()
}
