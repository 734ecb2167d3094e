package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/mapleak/mapleak/reference/historysync"
)

// progress shows how a catch-up goes. Event is the Syncer's event callback,
// called from one goroutine; Start is called before the catch-up and Close
// after the Syncer's Close. Implementations ignore events before Start and
// after Close, and let Close run while an event is being handled.
type progress interface {
	Start(archives []historysync.Archive)
	Event(ev historysync.Event)
	Close()
}

// lineInterval is how often the plain progress prints a line per archive
// while its pages come in.
const lineInterval = 2 * time.Second

// newProgress returns bars on a terminal, plain lines otherwise.
func newProgress(w io.Writer) progress {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return newBarProgress(w)
	}
	return newLineProgress(w, lineInterval, time.Now)
}

// tally counts what the pages of an archive, or of all archives, held.
type tally struct {
	pages, messages, inserted, duplicates int
}

// add counts the page of an EventPageFetched.
func (t *tally) add(ev historysync.Event) {
	t.pages++
	t.messages += ev.Messages
	t.inserted += ev.Inserted
	t.duplicates += ev.Duplicates
}

// String says "3 pages, 150 messages (148 new)".
func (t tally) String() string {
	return fmt.Sprintf("%s, %s (%d new)", count(t.pages, "page"), count(t.messages, "message"), t.inserted)
}

// count says "1 page" or "2 pages".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// rate says how many messages per second n messages in d are.
func rate(n int, d time.Duration) string {
	if d <= 0 {
		return "- msg/s"
	}
	return fmt.Sprintf("%.0f msg/s", float64(n)/d.Seconds())
}

// eventLine is the line that reports an event other than a page, or ""
// for events not worth a line.
func eventLine(ev historysync.Event) string {
	switch ev.Kind {
	case historysync.EventQueryRetrying:
		return fmt.Sprintf("%s: a page failed (attempt %d), retrying in %v: %v", ev.Archive, ev.Attempt, ev.Delay.Round(time.Millisecond), ev.Err)
	case historysync.EventQueryFailed:
		if interrupted(ev.Err) {
			return "" // said once, by run
		}
		return fmt.Sprintf("%s: a page failed: %v", ev.Archive, ev.Err)
	case historysync.EventCursorReset:
		return fmt.Sprintf("%s: the archive no longer knows a stored message id; fetching by time instead", ev.Archive)
	case historysync.EventStreamStalled:
		return fmt.Sprintf("%s: the server stopped in the middle of a stanza; closing the session: %v", ev.Archive, ev.Err)
	}
	return ""
}

// finishedLine is the line that reports the end of an archive's catch-up.
func finishedLine(ev historysync.Event, t tally) string {
	if interrupted(ev.Err) {
		return fmt.Sprintf("%s: interrupted after %s", ev.Archive, t)
	}
	if ev.Err != nil {
		return fmt.Sprintf("%s: failed after %s: %v", ev.Archive, t, ev.Err)
	}
	return fmt.Sprintf("%s: done, %s", ev.Archive, t)
}

// interrupted reports whether err is the end of the run's context (SIGINT,
// SIGTERM) rather than a failure of its own.
func interrupted(err error) bool {
	return errors.Is(err, context.Canceled)
}
