package historysync_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync"
	"github.com/mapleak/mapleak/reference/historysync/internal/prosodytest"
	"github.com/mapleak/mapleak/reference/historysync/sqlitestore"
)

const prosodyPassword = "historysync pass"

// prosodyEnv is a real Prosody with two users and seeding sessions, and a
// client (alice) syncing into an SQLite file.
type prosodyEnv struct {
	t          *testing.T
	ctx        context.Context
	srv        *prosodytest.Server
	alice, bob jid.JID
	coven      jid.JID // a room with MAM, created by alice
	closed     jid.JID // a members-only room of bob's: alice's queries fail
	dbPath     string

	// Seeding sessions (alice's also reads archives as ground truth).
	aliceSeed, bobSeed *xmpp.Session
	reader             *prosodytest.ArchiveReader

	// The client under test.
	store   *sqlitestore.Store
	syncer  *historysync.Syncer
	served  chan error
	session *xmpp.Session
}

// newProsodyEnv starts a Prosody with alice and bob, and the room coven
// created by alice, bounded by timeout. The client is not started.
func newProsodyEnv(t *testing.T, timeout time.Duration) *prosodyEnv {
	t.Helper()
	srv := prosodytest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	e := &prosodyEnv{t: t, ctx: ctx, srv: srv, dbPath: filepath.Join(t.TempDir(), "alice.db")}
	e.alice = srv.Register(t, "alice", prosodyPassword)
	e.bob = srv.Register(t, "bob", prosodyPassword)
	e.coven = srv.RoomJID(t, "coven")
	e.seedSessions()
	require.NoError(t, prosodytest.CreateRoom(ctx, e.aliceSeed, e.coven, "Alice"))
	return e
}

func (e *prosodyEnv) seedSessions() {
	e.t.Helper()
	e.reader = prosodytest.NewArchiveReader()
	e.aliceSeed = e.srv.Connect(e.t, e.alice, prosodyPassword, mux.New(stanza.NSClient, e.reader.Option()))
	e.bobSeed = e.srv.Connect(e.t, e.bob, prosodyPassword, nil)
}

// startClient opens the SQLite store and starts a Syncer on a new session of
// alice's.
func (e *prosodyEnv) startClient(opts ...historysync.Option) {
	e.t.Helper()
	store, err := sqlitestore.Open(e.ctx, e.dbPath)
	require.NoError(e.t, err)
	sess, err := e.srv.Dial(e.ctx, e.alice, prosodyPassword)
	require.NoError(e.t, err)
	e.store, e.session = store, sess
	// Quick retries: service-unavailable, which Prosody answers for another
	// account's archive, is retried by default.
	opts = append([]historysync.Option{historysync.WithRetry(historysync.RetryPolicy{BaseDelay: 10 * time.Millisecond, MaxDelay: 20 * time.Millisecond})}, opts...)
	e.syncer, err = historysync.New(sess, store, opts...)
	require.NoError(e.t, err)
	e.served = make(chan error, 1)
	s := e.syncer
	go func() { e.served <- s.Serve(mux.New(stanza.NSClient, s.Handle())) }()
}

// stopClient closes the Syncer, its session and the store.
func (e *prosodyEnv) stopClient() {
	e.t.Helper()
	if e.syncer == nil {
		return
	}
	require.NoError(e.t, e.syncer.Close())
	_ = e.session.Close()
	select {
	case err := <-e.served:
		_ = err // the session ends with an error when the connection drops
	case <-time.After(10 * time.Second):
		_ = e.session.Conn().Close()
		err := <-e.served
		_ = err // Serve ends when the connection is dropped
	}
	_ = e.session.Conn().Close()
	require.NoError(e.t, e.store.Close())
	e.syncer = nil
}

func (e *prosodyEnv) archives() []historysync.Archive {
	return []historysync.Archive{historysync.Account(e.alice), historysync.Room(e.coven), historysync.Room(e.closed)}
}

// seed sends n chats from bob to alice and n groupchats to the room, and
// waits until both archives hold them.
func (e *prosodyEnv) seed(prefix string, chats, groupchats int) {
	e.t.Helper()
	before, err := prosodytest.ArchiveCount(e.ctx, e.aliceSeed, e.alice)
	require.NoError(e.t, err)
	require.NoError(e.t, prosodytest.SendChat(e.ctx, e.bobSeed, e.alice, numbered(prefix+" chat", chats)...))
	require.NoError(e.t, prosodytest.WaitArchiveCount(e.ctx, e.aliceSeed, e.alice, before+chats))
	before, err = prosodytest.ArchiveCount(e.ctx, e.aliceSeed, e.coven)
	require.NoError(e.t, err)
	require.NoError(e.t, prosodytest.SendGroupchat(e.ctx, e.aliceSeed, e.coven, numbered(prefix+" room", groupchats)...))
	require.NoError(e.t, prosodytest.WaitArchiveCount(e.ctx, e.aliceSeed, e.coven, before+groupchats))
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s %03d", prefix, i)
	}
	return out
}

// requireExactlyOnce checks the store against the server's archive read by
// an independent reader: every archived message once, in archive order; a
// second archived copy of a message (same origin-id) is an alias of the
// first.
func (e *prosodyEnv) requireExactlyOnce(a historysync.Archive) {
	e.t.Helper()
	truth, err := e.reader.ReadAll(e.ctx, e.aliceSeed, a.JID)
	require.NoError(e.t, err)
	stored, err := e.store.Messages(e.ctx, a, historysync.AllMessages())
	require.NoError(e.t, err)
	var want []string
	aliasOf := map[string]string{}
	firstByOrigin := map[string]string{}
	for _, m := range truth {
		if first, dup := firstByOrigin[m.OriginID]; dup && m.OriginID != "" {
			aliasOf[m.ID] = first
			continue
		}
		firstByOrigin[m.OriginID] = m.ID
		want = append(want, m.ID)
	}
	got := make([]string, len(stored))
	gotAliases := map[string]string{}
	for i, m := range stored {
		got[i] = m.ArchiveID
		for _, alias := range m.Aliases {
			gotAliases[alias] = m.ArchiveID
		}
		if i > 0 {
			require.Less(e.t, stored[i-1].Pos, m.Pos)
		}
	}
	require.Equal(e.t, want, got, "%s: stored messages, in archive order", a)
	require.Equal(e.t, aliasOf, gotAliases, "%s: aliases", a)
	rs, err := e.store.Ranges(e.ctx, a)
	require.NoError(e.t, err)
	require.Len(e.t, rs, 1, "%s: one range", a)
	assert.True(e.t, rs[0].FromEnd)
	assert.Equal(e.t, truth[len(truth)-1].ID, rs[0].ToID)
}

// requireIdle checks that the Syncer buffers nothing.
func (e *prosodyEnv) requireIdle() {
	e.t.Helper()
	st := e.syncer.Stats()
	require.Zero(e.t, st.TrackedQueries, "tracked query ids")
	require.Zero(e.t, st.BufferedBytes, "buffered bytes")
	require.Zero(e.t, st.InFlight, "in-flight queries")
}

// TestProsody runs the Syncer against a real Prosody 0.12 (skipped when
// Prosody is not installed; CI installs it): a first CatchUpAll of the
// account archive (with self-archived copies) and a MUC archive, checked
// message by message against the server; an incremental run; an interrupted
// catch-up resumed after a server restart from the SQLite store; a stale
// cursor recovered by time; and a room whose queries fail without leaving a
// buffer behind.
func TestProsody(t *testing.T) {
	e := newProsodyEnv(t, 3*time.Minute)
	srv, ctx := e.srv, e.ctx
	e.closed = srv.RoomJID(t, "closed")
	require.NoError(t, prosodytest.CreateRoom(ctx, e.bobSeed, e.closed, "Bob", prosodytest.MembersOnly()))
	require.NoError(t, prosodytest.SendGroupchat(ctx, e.bobSeed, e.closed, "private"))

	// Seed: more than two pages in each archive, many messages per second,
	// and notes to self (archived twice by Prosody).
	e.seed("first", 130, 120)
	require.NoError(t, prosodytest.SendChat(ctx, e.aliceSeed, e.alice, "note to self 1", "note to self 2", "note to self 3"))
	require.NoError(t, prosodytest.WaitArchiveCount(ctx, e.aliceSeed, e.alice, 136))

	// 1. First sync, with the default policies: both archives down to their
	// start.
	e.startClient()
	defer e.stopClient()
	reports, err := e.syncer.CatchUpAll(ctx, e.archives())
	require.Error(t, err, "the members-only room fails")
	var se stanza.Error
	require.ErrorAs(t, reports[2].Err, &se)
	assert.Equal(t, stanza.Forbidden, se.Condition)
	for _, rep := range reports[:2] {
		assert.True(t, rep.Complete, "%s", rep.Archive)
		assert.True(t, rep.ReachedStart, "%s", rep.Archive)
		assert.Equal(t, rep.Messages, rep.Inserted+rep.Duplicates, "%s", rep.Archive)
	}
	assert.Equal(t, 133, reports[0].Inserted)
	assert.Equal(t, 3, reports[0].Duplicates, "the second copies of the notes to self")
	assert.Equal(t, 120, reports[1].Inserted)
	e.requireExactlyOnce(historysync.Account(e.alice))
	e.requireExactlyOnce(historysync.Room(e.coven))
	e.requireIdle()
	t.Logf("first sync: account %d new + %d self copies, room %d new, failing room: %v", reports[0].Inserted, reports[0].Duplicates, reports[1].Inserted, reports[2].Err)

	// Another account's archive is queried at its JID, and Prosody refuses:
	// nothing is stored under its key (nor is alice's archive).
	nobody := historysync.Account(jid.MustParse("nobody@" + srv.Domain()))
	_, err = e.syncer.CatchUp(ctx, nobody)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, stanza.ServiceUnavailable, se.Condition)
	rs, err := e.store.Ranges(ctx, nobody)
	require.NoError(t, err)
	assert.Empty(t, rs)
	stored, err := e.store.Messages(ctx, nobody, historysync.AllMessages())
	require.NoError(t, err)
	assert.Empty(t, stored)

	// 2. Incremental run: only the new messages, from one forward page each.
	e.seed("second", 20, 10)
	queries := e.syncer.Stats().Queries
	reports, _ = e.syncer.CatchUpAll(ctx, e.archives()[:2])
	assert.Equal(t, 20, reports[0].Inserted)
	assert.Equal(t, 10, reports[1].Inserted)
	assert.Zero(t, reports[0].Duplicates+reports[1].Duplicates)
	assert.EqualValues(t, 2, e.syncer.Stats().Queries-queries)
	e.requireExactlyOnce(historysync.Account(e.alice))
	e.requireExactlyOnce(historysync.Room(e.coven))

	// 3. A catch-up interrupted after its first page (the forward catch-up
	// extends the stored range page by page: no gap), then a server restart;
	// a new client over the same SQLite file resumes without gaps or
	// duplicates.
	e.seed("third", 140, 0)
	e.stopClient()
	stop, cancelRun := context.WithCancel(ctx)
	e.startClient(historysync.WithEvents(func(ev historysync.Event) {
		if ev.Kind == historysync.EventPageFetched {
			cancelRun()
		}
	}, 16))
	rep, err := e.syncer.CatchUp(stop, historysync.Account(e.alice))
	require.Error(t, err)
	cancelRun()
	assert.Positive(t, rep.Inserted)
	assert.Less(t, rep.Inserted, 140)
	rs, err = e.store.Ranges(ctx, historysync.Account(e.alice))
	require.NoError(t, err)
	assert.Len(t, rs, 1, "the interruption left no gap")
	e.requireIdle()
	e.stopClient()
	srv.Restart(t)
	e.seedSessions()
	e.startClient()
	resumed := rep.Inserted
	rep, err = e.syncer.CatchUp(ctx, historysync.Account(e.alice))
	require.NoError(t, err)
	assert.Zero(t, rep.Duplicates)
	assert.True(t, rep.Complete)
	assert.Equal(t, 140, resumed+rep.Inserted)
	e.requireExactlyOnce(historysync.Account(e.alice))
	t.Logf("interrupted after %d of 140 new messages; after the restart %d more, 0 duplicates", resumed, rep.Inserted)

	// 4. A stale cursor: the newer range of a gap starts at an id the archive
	// does not know (as after expiry); the gap is filled by time instead.
	e.seed("fourth", 200, 0) // more than the first page, the capped pages and the newest page
	e.stopClient()
	e.startClient(historysync.WithPolicy(historysync.AccountArchive, historysync.Policy{FirstSync: historysync.FirstSyncAll, MaxMessages: 10}))
	_, err = e.syncer.CatchUp(ctx, historysync.Account(e.alice))
	require.NoError(t, err)
	account := historysync.Account(e.alice)
	rs, err = e.store.Ranges(ctx, account)
	require.NoError(t, err)
	require.Len(t, rs, 2, "the cap left a gap")
	rs[1].FromID = "stale-cursor-unknown-to-prosody"
	_, err = e.store.Commit(ctx, account, historysync.Commit{Ranges: rs})
	require.NoError(t, err)
	e.stopClient()
	e.startClient()
	rep, err = e.syncer.CatchUp(ctx, account)
	require.NoError(t, err)
	assert.EqualValues(t, 1, e.syncer.Stats().CursorResets)
	assert.Zero(t, rep.Gaps)
	e.requireExactlyOnce(account)
	t.Logf("stale cursor: reset by time, %d new, %d already stored", rep.Inserted, rep.Duplicates)

	// 5. The failing room, again: no buffer left behind.
	_, err = e.syncer.CatchUp(ctx, historysync.Room(e.closed))
	require.ErrorAs(t, err, &se)
	e.requireIdle()
	assert.Zero(t, e.syncer.Stats().DroppedTotal())
}

// TestProsodyFrozenServer: a Prosody that hangs (SIGSTOP) in the middle of a
// catch-up costs one page timeout and one ping timeout, not attempts × page
// timeouts: the Syncer closes the session, and the next call fails at once.
// After the server resumes, a new session catches up exactly.
func TestProsodyFrozenServer(t *testing.T) {
	e := newProsodyEnv(t, 3*time.Minute)
	srv, ctx := e.srv, e.ctx
	e.seed("first", 60, 0)
	account := historysync.Account(e.alice)

	const pageTimeout, pingTimeout = 400 * time.Millisecond, 200 * time.Millisecond
	e.startClient(historysync.WithPageTimeout(pageTimeout), historysync.WithPingTimeout(pingTimeout))
	defer e.stopClient()
	_, err := e.syncer.CatchUp(ctx, account)
	require.NoError(t, err)
	e.seed("second", 10, 0)

	srv.Freeze(t)
	start := time.Now()
	_, err = e.syncer.CatchUp(ctx, account)
	took := time.Since(start)
	require.ErrorIs(t, err, historysync.ErrServerUnresponsive)
	require.ErrorIs(t, err, historysync.ErrSessionClosed)
	st := e.syncer.Stats()
	assert.EqualValues(t, 1, st.Timeouts)
	assert.Zero(t, st.Retries, "no retry on a dead session")
	assert.EqualValues(t, 1, st.Unresponsive)
	start = time.Now()
	_, err = e.syncer.CatchUp(ctx, account)
	require.ErrorIs(t, err, historysync.ErrServerUnresponsive)
	again := time.Since(start)
	t.Logf("frozen server: the catch-up failed after %v (page timeout %v, ping timeout %v); the next call after %v",
		took.Round(time.Millisecond), pageTimeout, pingTimeout, again.Round(time.Microsecond))
	e.requireIdle()

	srv.Thaw(t)
	e.stopClient()
	e.seedSessions()
	e.startClient()
	_, err = e.syncer.CatchUp(ctx, account)
	require.NoError(t, err)
	e.requireExactlyOnce(account)
}
