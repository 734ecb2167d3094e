package prosodytest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"
	"mellium.im/xmpp/stream"

	"github.com/mapleak/mapleak/reference/historysync/internal/prosodytest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const password = "s3cret pass"

// testCtx bounds a test's XMPP calls.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// client is a connected user with an archive reader in its handler.
type client struct {
	jid    jid.JID
	sess   *xmpp.Session
	reader *prosodytest.ArchiveReader
}

func connect(t testing.TB, srv *prosodytest.Server, j jid.JID) client {
	t.Helper()
	r := prosodytest.NewArchiveReader()
	sess := srv.Connect(t, j, password, mux.New(stanza.NSClient, r.Option()))
	return client{jid: j, sess: sess, reader: r}
}

func bodies(msgs []prosodytest.ArchivedMessage) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Body
	}
	return out
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s %03d", prefix, i)
	}
	return out
}

// TestServer covers the whole harness on one server: accounts, logins, chats
// in both archives, self-chats archived twice, a MUC with MAM, and a restart
// that keeps everything.
func TestServer(t *testing.T) {
	srv := prosodytest.Start(t)
	ctx := testCtx(t)

	assert.Equal(t, "localhost", srv.Domain())
	assert.Equal(t, "conference.localhost", srv.MUCDomain())
	host, _, err := net.SplitHostPort(srv.Addr())
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", host)

	alice := connect(t, srv, srv.Register(t, "alice", password))
	bob := connect(t, srv, srv.Register(t, "bob", password))
	assert.Equal(t, "alice@localhost", alice.sess.LocalAddr().Bare().String())
	assert.NotEmpty(t, alice.sess.LocalAddr().Resourcepart(), "resource bound")

	// One-to-one chat: in both archives, in order, with origin-ids.
	sent, err := prosodytest.Send(ctx, alice.sess, bob.jid, stanza.ChatMessage,
		prosodytest.Message{Body: "hello bob"}, prosodytest.Message{Body: "second"})
	require.NoError(t, err)
	// Sends are fire-and-forget and two connections are not ordered with
	// each other: wait before replying so that the archive order is known.
	require.NoError(t, prosodytest.WaitArchiveCount(ctx, bob.sess, bob.jid, 2))
	require.NoError(t, prosodytest.SendChat(ctx, bob.sess, alice.jid, "hi alice"))
	require.NoError(t, prosodytest.WaitArchiveCount(ctx, alice.sess, alice.jid, 3))
	require.NoError(t, prosodytest.WaitArchiveCount(ctx, bob.sess, bob.jid, 3))

	for _, c := range []client{alice, bob} {
		msgs, err := c.reader.ReadAll(ctx, c.sess, c.jid)
		require.NoError(t, err)
		require.Equal(t, []string{"hello bob", "second", "hi alice"}, bodies(msgs), "archive of %s", c.jid)
		assert.Equal(t, sent[0].OriginID, msgs[0].OriginID)
		assert.Equal(t, sent[1].OriginID, msgs[1].OriginID)
		assert.NotEmpty(t, msgs[2].OriginID)
		for _, m := range msgs {
			assert.Equal(t, stanza.ChatMessage, m.Type)
			assert.NotEmpty(t, m.ID)
			assert.WithinDuration(t, time.Now(), m.Stamp, time.Minute)
		}
		assert.Equal(t, "alice@localhost", msgs[0].From.Bare().String())
		assert.Equal(t, "bob@localhost", msgs[0].To.Bare().String())
	}

	// A message to oneself is archived twice: two archive ids, one origin-id.
	require.NoError(t, prosodytest.SendChat(ctx, alice.sess, alice.jid, "note to self"))
	require.NoError(t, prosodytest.WaitArchiveCount(ctx, alice.sess, alice.jid, 5))
	aliceArchive, err := alice.reader.ReadAll(ctx, alice.sess, alice.jid)
	require.NoError(t, err)
	require.Len(t, aliceArchive, 5)
	self1, self2 := aliceArchive[3], aliceArchive[4]
	assert.Equal(t, "note to self", self1.Body)
	assert.Equal(t, "note to self", self2.Body)
	assert.Equal(t, self1.OriginID, self2.OriginID)
	assert.NotEqual(t, self1.ID, self2.ID)
	n, err := prosodytest.ArchiveCount(ctx, bob.sess, bob.jid)
	require.NoError(t, err)
	assert.Equal(t, 3, n, "bob's archive is untouched by alice's self-chat")

	// A MUC room with MAM: alice creates it, bob joins, both talk.
	room := srv.RoomJID(t, "lounge")
	require.NoError(t, prosodytest.CreateRoom(ctx, alice.sess, room, "Alice"))
	require.NoError(t, prosodytest.JoinRoom(ctx, bob.sess, room, "Bob"))
	require.NoError(t, prosodytest.SendGroupchat(ctx, alice.sess, room, "welcome", "to the lounge"))
	require.NoError(t, prosodytest.WaitArchiveCount(ctx, bob.sess, room, 2))
	require.NoError(t, prosodytest.SendGroupchat(ctx, bob.sess, room, "thanks"))
	require.NoError(t, prosodytest.WaitArchiveCount(ctx, bob.sess, room, 3))
	roomMsgs, err := bob.reader.ReadAll(ctx, bob.sess, room)
	require.NoError(t, err)
	require.Equal(t, []string{"welcome", "to the lounge", "thanks"}, bodies(roomMsgs))
	for _, m := range roomMsgs {
		assert.Equal(t, stanza.GroupChatMessage, m.Type)
		assert.Equal(t, room.String(), m.From.Bare().String())
		assert.NotEmpty(t, m.OriginID)
	}
	assert.Equal(t, "Alice", roomMsgs[0].From.Resourcepart())
	assert.Equal(t, "Bob", roomMsgs[2].From.Resourcepart())
	n, err = prosodytest.ArchiveCount(ctx, alice.sess, alice.jid)
	require.NoError(t, err)
	assert.Equal(t, 5, n, "groupchat is not archived in the account archive")
	assert.Zero(t, alice.reader.Dropped())
	assert.Zero(t, bob.reader.Dropped())

	// Restart keeps accounts, archives and the persistent room. Sessions end
	// with a system-shutdown stream error.
	watcher, err := srv.Dial(ctx, alice.jid, password)
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- watcher.Serve(nil) }()
	srv.Restart(t)
	// Usually a system-shutdown stream error; sometimes Prosody closes the
	// connection before the error is flushed and Serve reports an XML EOF.
	serveErr := <-served
	require.Error(t, serveErr)
	var streamErr stream.Error
	if errors.As(serveErr, &streamErr) {
		assert.Equal(t, stream.SystemShutdown.Err, streamErr.Err)
	} else {
		assert.ErrorContains(t, serveErr, "unexpected EOF")
	}
	require.NoError(t, watcher.Conn().Close())
	alice2 := connect(t, srv, alice.jid)
	after, err := alice2.reader.ReadAll(ctx, alice2.sess, alice.jid)
	require.NoError(t, err)
	assert.Equal(t, aliceArchive, after)
	roomAfter, err := alice2.reader.ReadAll(ctx, alice2.sess, room)
	require.NoError(t, err)
	assert.Equal(t, roomMsgs, roomAfter)
	require.NoError(t, prosodytest.CreateRoom(ctx, alice2.sess, room, "Alice"), "the owner rejoins and reconfigures")
	require.NoError(t, prosodytest.SendGroupchat(ctx, alice2.sess, room, "after restart"))
	require.NoError(t, prosodytest.WaitArchiveCount(ctx, alice2.sess, room, 4))
}
