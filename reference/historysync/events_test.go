package historysync

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync/internal/fakeserver"
)

// TestCloseFromEventCallback: Close called from the event callback returns
// (it does not wait for the callback it runs on), fails the run in progress
// with ErrClosed, and no callback starts after it returned.
func TestCloseFromEventCallback(t *testing.T) {
	var syncer atomic.Pointer[Syncer]
	closed := make(chan error, 1)
	var after atomic.Int32 // callbacks started after Close returned
	var closeReturned atomic.Bool
	e := newEnv(t, nil, WithPageSize(10), WithEvents(func(ev Event) {
		if closeReturned.Load() {
			after.Add(1)
		}
		if ev.Kind == EventPageFetched && len(closed) == 0 {
			closed <- syncer.Load().Close()
			closeReturned.Store(true)
		}
	}, 0))
	syncer.Store(e.syncer)
	a := e.account()
	e.fill(a, 0, 200, stamps(base, 10))

	done := make(chan error, 1)
	go func() {
		_, err := e.syncer.CatchUp(e.ctx, a)
		done <- err
	}()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(testTimeout):
		t.Fatal("Close called from the event callback did not return")
	}
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrClosed)
	case <-time.After(testTimeout):
		t.Fatal("CatchUp did not return after Close")
	}
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.ErrorIs(t, err, ErrClosed)
	assert.Zero(t, after.Load(), "no callback started after Close returned")
	e.requireIdle()
}

// TestEventsDeliveredBeforeReturn: CatchUpAll returns after the events of
// its runs were delivered, a failed archive's included, however slow the
// callback.
func TestEventsDeliveredBeforeReturn(t *testing.T) {
	var mu sync.Mutex
	var got []Event
	e := newEnv(t, nil, fastRetry(1), WithEvents(func(ev Event) {
		time.Sleep(time.Millisecond) // a slow callback
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ev)
	}, 0))
	a, r := e.account(), room("events")
	e.fill(a, 0, 120, stamps(base, 10))
	e.fill(r, 0, 30, stamps(base, 10))
	e.srv.Script(func(q fakeserver.Query) fakeserver.Fault {
		if q.Archive.Equal(r.JID) {
			return fakeserver.Fault{ErrorCondition: stanza.Forbidden}
		}
		return fakeserver.Fault{}
	})
	_, err := e.syncer.CatchUpAll(e.ctx, []Archive{a, r})
	require.Error(t, err)

	mu.Lock()
	defer mu.Unlock()
	kinds := map[string][]EventKind{}
	for _, ev := range got {
		kinds[ev.Archive.String()] = append(kinds[ev.Archive.String()], ev.Kind)
	}
	assert.Equal(t, []EventKind{EventPageFetched, EventPageFetched, EventPageFetched, EventSyncFinished}, kinds[a.String()])
	assert.Equal(t, []EventKind{EventQueryFailed, EventSyncFinished}, kinds[r.String()])
}

// TestCatchUpFromEventCallback: a run started from the event callback does
// not wait for its own events (they are delivered after the callback
// returns) and does not deadlock.
func TestCatchUpFromEventCallback(t *testing.T) {
	var syncer atomic.Pointer[Syncer]
	inner := make(chan error, 1)
	finished := make(chan struct{}, 4)
	r := room("inner")
	e := newEnv(t, nil, WithEvents(func(ev Event) {
		if ev.Kind == EventSyncFinished {
			finished <- struct{}{}
			if ev.Archive.Kind == AccountArchive {
				_, err := syncer.Load().CatchUp(t.Context(), r)
				inner <- err
			}
		}
	}, 0))
	syncer.Store(e.syncer)
	a := e.account()
	e.fill(a, 0, 10, stamps(base, 10))
	e.fill(r, 0, 10, stamps(base, 10))
	done := make(chan error, 1)
	go func() {
		_, err := e.syncer.CatchUp(e.ctx, a)
		done <- err
	}()
	for _, c := range []chan error{inner, done} {
		select {
		case err := <-c:
			require.NoError(t, err)
		case <-time.After(testTimeout):
			t.Fatal("a run started from the event callback deadlocked")
		}
	}
	for range 2 {
		select {
		case <-finished: // the room's, delivered once the callback returned
		case <-time.After(testTimeout):
			t.Fatal("the inner run's events were not delivered")
		}
	}
	e.requireInSync(r)
}
