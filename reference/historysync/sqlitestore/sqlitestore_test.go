package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync"
	"github.com/mapleak/mapleak/reference/historysync/internal/fakeserver"
	"github.com/mapleak/mapleak/reference/historysync/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) historysync.Store {
		return open(t, filepath.Join(t.TempDir(), "history.db"))
	})
}

var account = historysync.Account(jid.MustParse("juliet@example.net"))

func TestPersistsAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	ctx := context.Background()
	s, err := Open(ctx, path)
	require.NoError(t, err)
	m := historysync.Message{ArchiveID: "a", Pos: 7, Time: time.Date(2025, 1, 1, 0, 0, 0, 5, time.UTC), Body: "kept", Raw: []byte("<message/>")}
	r := historysync.Range{FromID: "a", FromTime: m.Time, FromPos: 7, FromEnd: true, ToID: "a", ToTime: m.Time, ToPos: 7}
	_, err = s.Commit(ctx, account, historysync.Commit{Messages: []historysync.Message{m}, Ranges: []historysync.Range{r}})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s = open(t, path)
	v, err := s.SchemaVersion(ctx)
	require.NoError(t, err)
	assert.Equal(t, LatestSchemaVersion(), v)
	msgs, err := s.Messages(ctx, account, historysync.AllMessages())
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	assert.Equal(t, "kept", msgs[0].Body)
	assert.True(t, m.Time.Equal(msgs[0].Time))
	rs, err := s.Ranges(ctx, account)
	require.NoError(t, err)
	require.Len(t, rs, 1)
	assert.True(t, rs[0].FromEnd)
}

// rawDB opens the database without migrating, for upgrade tests.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestUpgradeFromV1: a database written by schema version 1 (no aliases: the
// two archived copies of a message to self are two rows) is upgraded in
// place: data kept, copies merged into one message with an alias, and the
// store works as usual afterwards.
func TestUpgradeFromV1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db := rawDB(t, path)
	require.NoError(t, migrate(ctx, db, 1))
	v, err := schemaVersion(ctx, db)
	require.NoError(t, err)
	require.Equal(t, 1, v)

	stamp := "2024-06-01T10:00:00Z"
	_, err = db.ExecContext(ctx, `INSERT INTO archives (id, key) VALUES (1, ?), (2, 'room:coven@chat.example.net')`, account.String())
	require.NoError(t, err)
	for _, m := range []struct {
		archive      int
		pos          int64
		id, from, oi string
	}{
		{1, 0, "m0", "romeo@example.net/a", "o-0"},
		{1, 1, "self-sent", "juliet@example.net/balcony", "o-self"},
		{1, 2, "self-received", "juliet@example.net/phone", "o-self"},
		{1, 3, "m3", "romeo@example.net/a", ""},
		{2, 0, "r0", "coven@chat.example.net/first", "same"},
		{2, 1, "r1", "coven@chat.example.net/second", "same"},
	} {
		_, err = db.ExecContext(ctx, `INSERT INTO messages (archive, pos, archive_id, stamp, from_jid, to_jid, type, stanza_id, origin_id, body, raw, omitted)
			VALUES (?, ?, ?, ?, ?, 'juliet@example.net', 'chat', '', ?, ?, NULL, '')`, m.archive, m.pos, m.id, stamp, m.from, m.oi, "body "+m.id)
		require.NoError(t, err)
	}
	_, err = db.ExecContext(ctx, `INSERT INTO ranges VALUES (1, 0, 'm0', ?, 0, 1, 'm3', ?, 3)`, stamp, stamp)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	s := open(t, path)
	v, err = s.SchemaVersion(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, v)
	msgs, err := s.Messages(ctx, account, historysync.AllMessages())
	require.NoError(t, err)
	require.Len(t, msgs, 3)
	assert.Equal(t, "self-sent", msgs[1].ArchiveID)
	assert.Equal(t, []string{"self-received"}, msgs[1].Aliases)
	assert.False(t, msgs[0].Live)
	room := historysync.Room(jid.MustParse("coven@chat.example.net"))
	rmsgs, err := s.Messages(ctx, room, historysync.AllMessages())
	require.NoError(t, err)
	assert.Len(t, rmsgs, 2, "different occupants are different senders")
	rs, err := s.Ranges(ctx, account)
	require.NoError(t, err)
	require.Len(t, rs, 1)
	assert.Equal(t, "m3", rs[0].ToID)

	// The upgraded store dedupes by alias and identity.
	res, err := s.Commit(ctx, account, historysync.Commit{
		Messages: []historysync.Message{
			{ArchiveID: "self-received", Pos: 10},
			{ArchiveID: "third-copy", Pos: 11, From: "juliet@example.net/x", OriginID: "o-self"},
			{ArchiveID: "m4", Pos: 4, Live: true},
		},
		Ranges: []historysync.Range{{FromID: "m0", FromPos: 0, FromEnd: true, ToID: "m4", ToPos: 4}},
	})
	require.NoError(t, err)
	assert.Equal(t, historysync.CommitResult{Inserted: 1, Duplicates: 2}, res)
	msgs, err = s.Messages(ctx, account, historysync.AllMessages())
	require.NoError(t, err)
	require.Len(t, msgs, 4)
	assert.Equal(t, []string{"self-received", "third-copy"}, msgs[1].Aliases)
	assert.True(t, msgs[3].Live)
}

func TestSchemaTooNew(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "future.db")
	s := open(t, path)
	require.NoError(t, s.Close())
	db := rawDB(t, path)
	_, err := db.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (?, 'from the future', '2099-01-01T00:00:00Z')`, LatestSchemaVersion()+1)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	_, err = Open(ctx, path)
	require.ErrorIs(t, err, ErrSchemaTooNew)
}

// TestConcurrentOpen: processes starting together on a new file all open it
// (switching to WAL and migrating must wait for each other, not fail with
// SQLITE_BUSY, which happened in about 3% of runs) and migrate once.
func TestConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "race.db")
	errs := make(chan error, 4)
	stores := make(chan *Store, 4)
	for range 4 {
		go func() {
			s, err := Open(context.Background(), path)
			errs <- err
			stores <- s
		}()
	}
	for range 4 {
		require.NoError(t, <-errs)
		s := <-stores
		v, err := s.SchemaVersion(context.Background())
		require.NoError(t, err)
		assert.Equal(t, LatestSchemaVersion(), v)
		var mode string
		require.NoError(t, s.db.QueryRowContext(context.Background(), `PRAGMA journal_mode`).Scan(&mode))
		assert.Equal(t, "wal", mode)
		require.NoError(t, s.Close())
	}
}

// TestSyncerResumesAfterRestart: a client syncing into SQLite is killed in
// the middle of a catch-up (its session drops); a new process opens the same
// file and finishes the catch-up without gaps or duplicates.
func TestSyncerResumesAfterRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "client.db")
	srv := fakeserver.New()
	defer srv.Close()
	a := historysync.Account(srv.Account())
	msgs := make([]fakeserver.Message, 333)
	base := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	for i := range msgs {
		msgs[i] = fakeserver.Message{From: jid.MustParse("romeo@example.net/x"), To: a.JID, Body: fmt.Sprint("m", i), Stamp: base.Add(time.Duration(i/25) * time.Second)}
	}
	srv.Archive(a.JID).Append(msgs...)

	run := func(script func(fakeserver.Query) fakeserver.Fault) (historysync.Report, error) {
		store, err := Open(ctx, path)
		require.NoError(t, err)
		defer store.Close()
		srv.Script(script)
		sess, err := srv.Connect(ctx)
		require.NoError(t, err)
		syncer, err := historysync.New(sess, store)
		require.NoError(t, err)
		served := make(chan error, 1)
		go func() { served <- syncer.Serve(mux.New(stanza.NSClient, syncer.Handle())) }()
		defer func() {
			_ = syncer.Close()
			srv.Disconnect()
			err := <-served
			_ = err // Serve ends when the connection is dropped
		}()
		return syncer.CatchUp(ctx, a)
	}

	start := srv.Stats().Queries
	rep, err := run(func(q fakeserver.Query) fakeserver.Fault {
		if q.Seq == start+4 {
			return fakeserver.Fault{Disconnect: true, DisconnectAfter: 20}
		}
		return fakeserver.Fault{}
	})
	require.ErrorIs(t, err, historysync.ErrSessionClosed)
	assert.Equal(t, 150, rep.Inserted, "three pages committed before the crash")

	rep, err = run(nil)
	require.NoError(t, err)
	assert.Equal(t, 183, rep.Inserted)
	assert.Zero(t, rep.Duplicates)
	assert.True(t, rep.Complete)

	store := open(t, path)
	got, err := store.Messages(ctx, a, historysync.AllMessages())
	require.NoError(t, err)
	want := srv.Archive(a.JID).IDs()
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i], got[i].ArchiveID, "message %d", i)
	}
}
