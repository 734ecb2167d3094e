package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/mapleak/mapleak/reference/historysync"
)

// lineProgress reports progress as plain lines, for logs and pipes: a line
// for an archive's first page and then at most one per interval while its
// pages come in, one for each retry or failure, one when it is done, and a
// total at the end.
type lineProgress struct {
	w        io.Writer
	interval time.Duration
	now      func() time.Time

	mu       sync.Mutex
	closed   bool
	started  time.Time
	archives int
	finished int
	total    tally
	byKey    map[string]*archiveLine // by Archive.String(), historysync's archive key
}

// archiveLine is what lineProgress knows of one archive.
type archiveLine struct {
	tally
	printed time.Time // when its last page line was printed
}

func newLineProgress(w io.Writer, interval time.Duration, now func() time.Time) *lineProgress {
	return &lineProgress{w: w, interval: interval, now: now, byKey: map[string]*archiveLine{}}
}

// Start implements progress.
func (p *lineProgress) Start(archives []historysync.Archive) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.started = p.now()
	p.archives = len(archives)
	fmt.Fprintf(p.w, "catching up %s\n", count(len(archives), "archive"))
}

// Event implements progress.
func (p *lineProgress) Event(ev historysync.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started.IsZero() || p.closed {
		return
	}
	a := p.archive(ev.Archive)
	switch ev.Kind {
	case historysync.EventPageFetched:
		a.add(ev)
		p.total.add(ev)
		if a.pages == 1 || ev.Time.Sub(a.printed) >= p.interval {
			a.printed = ev.Time
			fmt.Fprintf(p.w, "%s: %s\n", ev.Archive, a.tally)
		}
	case historysync.EventSyncFinished:
		p.finished++
		fmt.Fprintln(p.w, finishedLine(ev, a.tally))
	default:
		if line := eventLine(ev); line != "" {
			fmt.Fprintln(p.w, line)
		}
	}
}

// archive returns the state of archive a, creating it on first use.
func (p *lineProgress) archive(a historysync.Archive) *archiveLine {
	key := a.String()
	st := p.byKey[key]
	if st == nil {
		st = &archiveLine{}
		p.byKey[key] = st
	}
	return st
}

// Close implements progress: it prints the total.
func (p *lineProgress) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started.IsZero() || p.closed {
		return
	}
	p.closed = true
	elapsed := p.now().Sub(p.started)
	fmt.Fprintf(p.w, "total: %d/%d archives done, %s in %v, %s\n",
		p.finished, p.archives, p.total, elapsed.Round(time.Millisecond), rate(p.total.messages, elapsed))
}
