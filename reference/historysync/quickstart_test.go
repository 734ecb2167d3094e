package historysync_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync"
	"github.com/mapleak/mapleak/reference/historysync/internal/fakeserver"
)

// TestQuickStart runs the wiring of the package Example (a Syncer served
// beside the client's handlers, a catch-up of the account and a room, the
// room's messages read back in archive order) against the in-process fake
// server, through the exported API only.
func TestQuickStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := fakeserver.New()
	defer srv.Close()
	coven := jid.MustParse("coven@conference.example.net")
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	srv.Archive(srv.Account()).Append(
		fakeserver.Message{From: jid.MustParse("romeo@example.net/orchard"), Body: "Good morrow", Stamp: t0},
	)
	lines := []string{"When shall we three meet again?", "When the hurlyburly's done", "That will be ere the set of sun"}
	for i, line := range lines {
		from, err := coven.WithResource(fmt.Sprint("witch", i+1))
		require.NoError(t, err)
		srv.Archive(coven).Append(fakeserver.Message{From: from, Body: line, Stamp: t0})
	}
	session, err := srv.Connect(ctx)
	require.NoError(t, err)

	store := historysync.NewMemStore()
	syncer, err := historysync.New(session, store)
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- syncer.Serve(mux.New(stanza.NSClient, syncer.Handle())) }()
	defer func() {
		require.NoError(t, syncer.Close())
		srv.Disconnect()
		err := <-served
		_ = err // Serve ends when the connection is dropped
	}()

	archives := []historysync.Archive{historysync.Account(session.LocalAddr()), historysync.Room(coven)}
	reports, err := syncer.CatchUpAll(ctx, archives)
	require.NoError(t, err)
	require.Len(t, reports, 2)
	assert.Equal(t, 1, reports[0].Inserted)
	assert.Equal(t, 3, reports[1].Inserted)
	for _, r := range reports {
		assert.True(t, r.Complete, "%s", r.Archive)
		assert.True(t, r.ReachedStart, "%s", r.Archive)
	}
	msgs, err := store.Messages(ctx, historysync.Room(coven), historysync.AllMessages())
	require.NoError(t, err)
	require.Len(t, msgs, 3)
	for i, m := range msgs {
		assert.Equal(t, lines[i], m.Body)
		assert.Equal(t, fmt.Sprintf("%s/witch%d", coven, i+1), m.From)
	}
	assert.Zero(t, syncer.Stats().TrackedQueries)
}
