package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync"
	"github.com/mapleak/mapleak/reference/historysync/sqlitestore"
)

// openTestStore opens (creating) the SQLite store at path.
func openTestStore(t *testing.T, path string) *sqlitestore.Store {
	t.Helper()
	store, err := sqlitestore.Open(context.Background(), path)
	require.NoError(t, err)
	return store
}

// TestExport writes a stored room archive as JSON lines, oldest first, with
// every field a message can have.
func TestExport(t *testing.T) {
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "history.db")
	store := openTestStore(t, dbPath)
	room := historysync.Room(jid.MustParse("coven@conference.example.net"))
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	msgs := []historysync.Message{
		{ArchiveID: "a1", Pos: -1, Time: t0, From: "coven@conference.example.net/first", Type: stanza.GroupChatMessage, ID: "m1", OriginID: "o1", Body: "When shall we <three> meet again?", Raw: []byte(`<message type="groupchat"><body>When shall we &lt;three&gt; meet again?</body></message>`)},
		{ArchiveID: "a2", Pos: 0, Time: t0.Add(time.Second), From: "coven@conference.example.net/second", Type: stanza.GroupChatMessage, Omitted: historysync.DropOversized},
	}
	_, err := store.Commit(ctx, room, historysync.Commit{
		Messages: msgs,
		Ranges:   []historysync.Range{{FromID: "a1", FromTime: t0, FromPos: -1, FromEnd: true, ToID: "a2", ToTime: t0.Add(time.Second), ToPos: 0}},
	})
	require.NoError(t, err)
	require.NoError(t, store.Close())

	r := runInProcess(t, "", "-db", dbPath, "-export", "jsonl", "-archive", "coven@conference.example.net")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Empty(t, r.stderr)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	require.Len(t, lines, 2, r.stdout)
	assert.JSONEq(t, `{"archive":"room:coven@conference.example.net","archive_id":"a1","pos":-1,"time":"2025-03-01T12:00:00Z",
		"from":"coven@conference.example.net/first","type":"groupchat","id":"m1","origin_id":"o1","body":"When shall we <three> meet again?",
		"raw":"<message type=\"groupchat\"><body>When shall we &lt;three&gt; meet again?</body></message>"}`, lines[0])
	assert.JSONEq(t, `{"archive":"room:coven@conference.example.net","archive_id":"a2","pos":0,"time":"2025-03-01T12:00:01Z",
		"from":"coven@conference.example.net/second","type":"groupchat","omitted":"oversized"}`, lines[1])
	assert.Contains(t, lines[0], `"body":"When shall we <three> meet again?"`, "markup is not escaped as \\u003c")
	assert.True(t, strings.HasPrefix(lines[0], `{"archive":"room:coven@conference.example.net","archive_id":"a1","pos":-1,`), "fields in a fixed order")
}

// TestExportErrors: a missing database, and an archive the database does not
// hold, are one-line errors; the missing database is not created.
func TestExportErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	r := runInProcess(t, "", "-db", missing, "-export", "jsonl", "-archive", "alice@example.net")
	requireOneLine(t, r, "database "+missing+" does not exist")
	assert.NoFileExists(t, missing)

	empty := filepath.Join(dir, "empty.db")
	require.NoError(t, openTestStore(t, empty).Close())
	r = runInProcess(t, "", "-db", empty, "-export", "jsonl", "-archive", "alice@example.net")
	requireOneLine(t, r, "the database holds no archive of alice@example.net")
}
