package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vbauerster/mpb/v8"
	"mellium.im/xmpp/jid"

	"github.com/mapleak/mapleak/reference/historysync"
)

// progressScript is a catch-up of two archives as the Syncer reports it:
// the account in three pages, a room that retries a page and then fails.
func progressScript(t0 time.Time) ([]historysync.Archive, []historysync.Event) {
	account := historysync.Account(jid.MustParse("alice@example.net"))
	room := historysync.Room(jid.MustParse("coven@conference.example.net"))
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	page := func(a historysync.Archive, ms, n, inserted int) historysync.Event {
		return historysync.Event{Kind: historysync.EventPageFetched, Time: at(ms), Archive: a, Messages: n, Inserted: inserted, Duplicates: n - inserted}
	}
	failure := errors.New("mam query q1 to room:coven@conference.example.net: forbidden")
	return []historysync.Archive{account, room}, []historysync.Event{
		page(account, 100, 50, 50),
		page(room, 150, 20, 20),
		page(account, 1500, 50, 49), // within the interval: no line
		{Kind: historysync.EventGapDetected, Time: at(1600), Archive: account}, // not worth a line
		{Kind: historysync.EventQueryRetrying, Time: at(1700), Archive: room, Attempt: 1, Delay: 512 * time.Millisecond, Err: failure},
		page(account, 2200, 10, 10), // 2.1 s after the last line
		{Kind: historysync.EventSyncFinished, Time: at(2300), Archive: account},
		{Kind: historysync.EventQueryFailed, Time: at(2400), Archive: room, Attempt: 2, Err: failure},
		{Kind: historysync.EventSyncFinished, Time: at(2500), Archive: room, Err: failure},
	}
}

func TestLineProgress(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	var out bytes.Buffer
	p := newLineProgress(&out, 2*time.Second, func() time.Time { return now })
	archives, events := progressScript(t0)
	p.Start(archives)
	for _, ev := range events {
		p.Event(ev)
	}
	now = t0.Add(2500 * time.Millisecond)
	p.Close()
	assert.Equal(t, `catching up 2 archives
account:alice@example.net: 1 page, 50 messages (50 new)
room:coven@conference.example.net: 1 page, 20 messages (20 new)
room:coven@conference.example.net: a page failed (attempt 1), retrying in 512ms: mam query q1 to room:coven@conference.example.net: forbidden
account:alice@example.net: 3 pages, 110 messages (109 new)
account:alice@example.net: done, 3 pages, 110 messages (109 new)
room:coven@conference.example.net: a page failed: mam query q1 to room:coven@conference.example.net: forbidden
room:coven@conference.example.net: failed after 1 page, 20 messages (20 new): mam query q1 to room:coven@conference.example.net: forbidden
total: 2/2 archives done, 4 pages, 130 messages (129 new) in 2.5s, 52 msg/s
`, out.String())
}

// TestLineProgressRareEvents checks the lines of the rarer events, and of
// an interrupted run.
func TestLineProgressRareEvents(t *testing.T) {
	var out bytes.Buffer
	p := newLineProgress(&out, time.Second, time.Now)
	a := historysync.Account(jid.MustParse("alice@example.net"))
	p.Start([]historysync.Archive{a})
	p.Event(historysync.Event{Kind: historysync.EventCursorReset, Archive: a})
	stalled := fmt.Errorf("mam query q8 to %s: %w", a, historysync.ErrStreamStalled)
	p.Event(historysync.Event{Kind: historysync.EventStreamStalled, Archive: a, Err: stalled})
	p.Event(historysync.Event{Kind: historysync.EventLiveExtended, Archive: a})
	p.Event(historysync.Event{Kind: historysync.EventResultDropped, Archive: a, Reason: historysync.DropLate})
	stopped := fmt.Errorf("mam query q9 to %s: %w", a, context.Canceled)
	p.Event(historysync.Event{Kind: historysync.EventQueryFailed, Archive: a, Err: stopped})
	p.Event(historysync.Event{Kind: historysync.EventSyncFinished, Archive: a, Err: stopped})
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 4, out.String())
	assert.Equal(t, "account:alice@example.net: the archive no longer knows a stored message id; fetching by time instead", lines[1])
	assert.Equal(t, "account:alice@example.net: the server stopped in the middle of a stanza; closing the session: "+stalled.Error(), lines[2])
	assert.Equal(t, "account:alice@example.net: interrupted after 0 pages, 0 messages (0 new)", lines[3], "an interrupted run's failed page says nothing")
}

// TestBarProgress draws the script's bars into a buffer: Close returns
// (after removing a bar whose last event never came, as when the Syncer's
// event queue was full), the finished archives' lines are printed, and no
// goroutine of mpb is left behind (TestMain's goleak).
func TestBarProgress(t *testing.T) {
	var out bytes.Buffer
	p := newBarProgress(&out, mpb.WithAutoRefresh(), mpb.WithWidth(120))
	archives, events := progressScript(time.Now())
	lost := historysync.Room(jid.MustParse("lost@conference.example.net"))
	p.Start(append(archives, lost))
	for _, ev := range events {
		p.Event(ev)
	}
	p.Event(historysync.Event{Kind: historysync.EventPageFetched, Archive: lost, Messages: 5, Inserted: 5})
	done := make(chan struct{})
	go func() {
		p.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	text := out.String()
	assert.Contains(t, text, "account:alice@example.net: done, 3 pages, 110 messages (109 new)")
	assert.Contains(t, text, "room:coven@conference.example.net: failed after 1 page, 20 messages (20 new): mam query q1")
	assert.Contains(t, text, "room:coven@conference.example.net: a page failed (attempt 1), retrying in 512ms")
	assert.Contains(t, text, "2/3 archives")
	assert.Contains(t, text, "135 messages (134 new)")
}

func TestCountAndRate(t *testing.T) {
	assert.Equal(t, "1 page", count(1, "page"))
	assert.Equal(t, "0 pages", count(0, "page"))
	assert.Equal(t, "2 archives", count(2, "archive"))
	assert.Equal(t, "50 msg/s", rate(100, 2*time.Second))
	assert.Equal(t, "- msg/s", rate(100, 0))
}

// TestBarProgressNotStarted: an event before Start (a stray result dropped
// before the catch-up) draws nothing, and Close without Start returns.
func TestBarProgressNotStarted(t *testing.T) {
	var out bytes.Buffer
	p := newBarProgress(&out, mpb.WithAutoRefresh())
	p.Event(historysync.Event{Kind: historysync.EventResultDropped, Reason: historysync.DropUnknown})
	p.Close()
	assert.Empty(t, out.String())
}

// TestProgressCloseWhileEventsArrive: Close may run while the Syncer's event
// goroutine is still in Event (a Syncer that does not wait for the callback
// in progress); events after Close are ignored. Run with -race.
func TestProgressCloseWhileEventsArrive(t *testing.T) {
	a := historysync.Account(jid.MustParse("alice@example.net"))
	for name, p := range map[string]progress{
		"lines": newLineProgress(&bytes.Buffer{}, 0, time.Now),
		"bars":  newBarProgress(&bytes.Buffer{}, mpb.WithAutoRefresh()),
	} {
		t.Run(name, func(t *testing.T) {
			p.Start([]historysync.Archive{a})
			events := make(chan struct{})
			go func() {
				defer close(events)
				for range 2000 {
					p.Event(historysync.Event{Kind: historysync.EventPageFetched, Time: time.Now(), Archive: a, Messages: 50, Inserted: 50})
				}
				p.Event(historysync.Event{Kind: historysync.EventSyncFinished, Time: time.Now(), Archive: a})
			}()
			p.Close()
			<-events
			p.Close() // idempotent
		})
	}
}

// TestLineProgressIgnoresLateEvents: nothing is printed after Close.
func TestLineProgressIgnoresLateEvents(t *testing.T) {
	var out bytes.Buffer
	p := newLineProgress(&out, 0, time.Now)
	a := historysync.Account(jid.MustParse("alice@example.net"))
	p.Event(historysync.Event{Kind: historysync.EventPageFetched, Archive: a, Messages: 1})
	assert.Empty(t, out.String(), "before Start")
	p.Start([]historysync.Archive{a})
	p.Close()
	printed := out.String()
	p.Event(historysync.Event{Kind: historysync.EventSyncFinished, Archive: a})
	assert.Equal(t, printed, out.String(), "after Close")
}
