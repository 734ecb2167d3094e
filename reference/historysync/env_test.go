package historysync

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync/internal/fakeserver"
)

// testTimeout bounds every wait of a functional test.
const testTimeout = 30 * time.Second

// env is a fake server, a client session served with a Syncer's handlers,
// and a store that survives reconnects (a client restart).
type env struct {
	t      *testing.T
	srv    *fakeserver.Server
	store  Store
	opts   []Option
	ctx    context.Context
	syncer *Syncer
	sess   *xmpp.Session
	served chan error
	events *eventLog
}

// newEnv starts a fake server and connects a Syncer to it. The Syncer, the
// session and the server are closed at the end of the test.
func newEnv(t *testing.T, srvOpts []fakeserver.Option, opts ...Option) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	e := &env{t: t, srv: fakeserver.New(srvOpts...), store: NewMemStore(), ctx: ctx, events: &eventLog{}}
	e.opts = append([]Option{WithEvents(e.events.add, 4096)}, opts...)
	t.Cleanup(func() {
		e.stop()
		require.NoError(t, e.srv.Close())
	})
	e.connect()
	return e
}

// connect negotiates a new session and starts a new Syncer on it with the
// same store, as a restarted client would.
func (e *env) connect() {
	e.t.Helper()
	sess, err := e.srv.Connect(e.ctx)
	require.NoError(e.t, err)
	e.sess = sess
	e.syncer, err = New(sess, e.store, e.opts...)
	require.NoError(e.t, err)
	e.served = make(chan error, 1)
	syncer := e.syncer
	go func() { e.served <- syncer.Serve(mux.New(stanza.NSClient, syncer.Handle())) }()
}

// stop closes the Syncer and the session and waits for Serve to return.
func (e *env) stop() {
	if e.syncer == nil {
		return
	}
	require.NoError(e.t, e.syncer.Close())
	e.srv.Disconnect()
	select {
	case err := <-e.served:
		_ = err // the session ends with an error when the connection drops
	case <-time.After(testTimeout):
		e.t.Error("Serve did not return after the connection was dropped")
	}
	e.syncer = nil
}

// reconnect simulates a client restart: a new session and a new Syncer over
// the same store.
func (e *env) reconnect() {
	e.t.Helper()
	e.stop()
	e.connect()
}

func (e *env) account() Archive { return Account(e.srv.Account()) }

func room(name string) Archive {
	return Room(jid.MustParse(name + "@" + fakeserver.DefaultMUCService))
}

// stamps returns a clock for fakeserver messages: n messages per second from
// base, so that many messages share a stamp, as with Prosody.
func stamps(base time.Time, perSecond int) func(i int) time.Time {
	return func(i int) time.Time { return base.Add(time.Duration(i/perSecond) * time.Second) }
}

// fill appends n messages to the archive at a, stamped by stamp(i) (offset
// by first), and returns their archive ids.
func (e *env) fill(a Archive, first, n int, stamp func(int) time.Time) []string {
	e.t.Helper()
	msgs := make([]fakeserver.Message, n)
	for i := range msgs {
		k := first + i
		msgs[i] = fakeserver.Message{Body: fmt.Sprintf("message %d", k), Stamp: stamp(k), OriginID: fmt.Sprintf("origin-%d", k)}
		if a.Kind == RoomArchive {
			msgs[i].From, _ = a.JID.WithResource(fmt.Sprintf("nick%d", k%3))
		} else {
			msgs[i].From = jid.MustParse("romeo@example.net/orchard")
			msgs[i].To = a.JID
		}
	}
	return e.srv.Archive(a.JID).Append(msgs...)
}

// storedIDs returns the archive ids stored for a, in Pos order.
func (e *env) storedIDs(a Archive) []string {
	e.t.Helper()
	msgs, err := e.store.Messages(e.ctx, a, AllMessages())
	require.NoError(e.t, err)
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ArchiveID
	}
	return ids
}

// ranges returns the stored ranges of a.
func (e *env) ranges(a Archive) []Range {
	e.t.Helper()
	rs, err := e.store.Ranges(e.ctx, a)
	require.NoError(e.t, err)
	return rs
}

// requireIdle asserts that the Syncer buffers nothing and tracks no query.
func (e *env) requireIdle() {
	e.t.Helper()
	st := e.syncer.Stats()
	require.Zero(e.t, st.TrackedQueries, "tracked query ids")
	require.Zero(e.t, st.InFlight, "in-flight queries")
	require.Zero(e.t, st.BufferedResults, "buffered results")
	require.Zero(e.t, st.BufferedBytes, "buffered bytes")
}

// requireInSync asserts that the store holds exactly the server's archive, in
// archive order, in one range.
func (e *env) requireInSync(a Archive) {
	e.t.Helper()
	want := e.srv.Archive(a.JID).IDs()
	requireSameIDs(e.t, want, e.storedIDs(a), "stored messages of ", a)
	rs := e.ranges(a)
	if len(want) > 0 {
		require.Len(e.t, rs, 1, "ranges of %s: %v", a, rs)
		assert.Equal(e.t, want[0], rs[0].FromID)
		assert.Equal(e.t, want[len(want)-1], rs[0].ToID)
	}
}

// eventLog records events.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(ev Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
}

// count returns how many events of kind k were delivered so far.
func (l *eventLog) count(k EventKind) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ev := range l.events {
		if ev.Kind == k {
			n++
		}
	}
	return n
}

// ofKind returns the events of kind k delivered so far.
func (l *eventLog) ofKind(k EventKind) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, ev := range l.events {
		if ev.Kind == k {
			out = append(out, ev)
		}
	}
	return out
}

// waitCount waits until at least n events of kind k were delivered (events
// are delivered asynchronously).
func (e *env) waitEvents(k EventKind, n int) {
	e.t.Helper()
	require.Eventually(e.t, func() bool { return e.events.count(k) >= n }, testTimeout, time.Millisecond,
		"waiting for %d %s events (have %d)", n, k, e.events.count(k))
}

// requireSameIDs compares id lists and reports the first difference only
// (archive ids are long; a full diff of hundreds is unreadable).
func requireSameIDs(t *testing.T, want, got []string, msgAndArgs ...any) {
	t.Helper()
	for i := 0; i < min(len(want), len(got)); i++ {
		if want[i] != got[i] {
			require.Failf(t, "ids differ", "first difference at %d of %d/%d: want %s, got %s. %s",
				i, len(want), len(got), want[i], got[i], fmt.Sprint(msgAndArgs...))
		}
	}
	if len(want) != len(got) {
		require.Failf(t, "ids differ", "want %d ids, got %d. %s", len(want), len(got), fmt.Sprint(msgAndArgs...))
	}
}
