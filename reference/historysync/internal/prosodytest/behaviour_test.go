package prosodytest_test

import (
	"encoding/xml"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync/internal/prosodytest"
)

// liveMessage is a message delivered live with a stanza-id.
type liveMessage struct {
	From     jid.JID
	Body     string
	OriginID string
	StanzaID stanza.ID
}

// liveRecorder is a mux handler that records live messages carrying a
// stanza-id, without blocking the session (extra messages are dropped).
type liveRecorder chan liveMessage

func (l liveRecorder) HandleMessage(msg stanza.Message, t xmlstream.TokenReadEncoder) error {
	var m struct {
		Body     string          `xml:"body"`
		OriginID stanza.OriginID `xml:"urn:xmpp:sid:0 origin-id"`
		IDs      []stanza.ID     `xml:"urn:xmpp:sid:0 stanza-id"`
	}
	// A malformed message is not recorded (a missing one fails the test).
	if xml.NewTokenDecoder(t).Decode(&m) == nil && len(m.IDs) > 0 {
		select {
		case l <- liveMessage{From: msg.From, Body: m.Body, OriginID: m.OriginID.ID, StanzaID: m.IDs[0]}:
		default:
		}
	}
	return nil
}

func (l liveRecorder) options() []mux.Option {
	sid := xml.Name{Space: "urn:xmpp:sid:0", Local: "stanza-id"}
	return []mux.Option{
		mux.Message(stanza.ChatMessage, sid, l),
		mux.Message(stanza.GroupChatMessage, sid, l),
	}
}

func (l liveRecorder) next(t *testing.T) liveMessage {
	t.Helper()
	select {
	case m := <-l:
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no live message with a stanza-id")
		return liveMessage{}
	}
}

func requireStanzaError(t *testing.T, err error, typ stanza.ErrorType, cond stanza.Condition) {
	t.Helper()
	var se stanza.Error
	require.ErrorAs(t, err, &se, "want a stanza error %s/%s", typ, cond)
	assert.Equal(t, typ, se.Type, "error type")
	assert.Equal(t, cond, se.Condition, "error condition")
}

var archiveID = map[prosodytest.Storage]*regexp.Regexp{
	prosodytest.StorageSQL:      regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`),
	prosodytest.StorageInternal: regexp.MustCompile(`^[A-Za-z0-9_-]{24}$`),
}

// TestProsodyBehaviour pins down the Prosody 0.12 archive behaviour that the
// sync engine depends on, for both storage backends; the package
// documentation lists it.
func TestProsodyBehaviour(t *testing.T) {
	for _, storage := range []prosodytest.Storage{prosodytest.StorageSQL, prosodytest.StorageInternal} {
		t.Run(string(storage), func(t *testing.T) {
			srv := prosodytest.Start(t, prosodytest.WithStorage(storage))
			assert.Equal(t, storage, srv.Storage())
			ctx := testCtx(t)
			alice := connect(t, srv, srv.Register(t, "alice", password))
			bobJID := srv.Register(t, "bob", password)
			bobReader := prosodytest.NewArchiveReader()
			bobLive := make(liveRecorder, 100)
			bobSess := srv.Connect(t, bobJID, password,
				mux.New(stanza.NSClient, append(bobLive.options(), bobReader.Option())...), prosodytest.Available())
			bob := client{jid: bobJID, sess: bobSess, reader: bobReader}

			// An empty archive: complete, count 0, no first/last.
			msgs, fin, err := alice.reader.Page(ctx, alice.sess, alice.jid, prosodytest.Page{})
			require.NoError(t, err)
			assert.Empty(t, msgs)
			assert.Equal(t, prosodytest.Fin{Complete: true, Stable: true, Count: 0}, fin)

			sent, err := prosodytest.Send(ctx, alice.sess, bob.jid, stanza.ChatMessage, messages(numbered("m", 55))...)
			require.NoError(t, err)
			require.NoError(t, prosodytest.WaitArchiveCount(ctx, alice.sess, alice.jid, 55))
			require.NoError(t, prosodytest.WaitArchiveCount(ctx, bob.sess, bob.jid, 55))

			// The count-only query: the account archive says complete='true'
			// although it holds messages.
			fin, err = prosodytest.QueryPage(ctx, alice.sess, alice.jid, prosodytest.Page{Max: -1})
			require.NoError(t, err)
			assert.Equal(t, prosodytest.Fin{Complete: true, Stable: true, Count: 55}, fin)

			// Default page size 20; <max> clamped to 50; forward paging ends
			// with complete='true'.
			msgs, fin, err = alice.reader.Page(ctx, alice.sess, alice.jid, prosodytest.Page{})
			require.NoError(t, err)
			require.Len(t, msgs, 20)
			assert.False(t, fin.Complete)
			msgs, fin, err = alice.reader.Page(ctx, alice.sess, alice.jid, prosodytest.Page{Max: 500})
			require.NoError(t, err)
			require.Len(t, msgs, 50)
			assert.Equal(t, 55, fin.Count)
			assert.False(t, fin.Complete)
			assert.Equal(t, "m 000", msgs[0].Body)
			assert.Equal(t, sent[0].OriginID, msgs[0].OriginID)
			assert.Equal(t, sent[0].ID, msgs[0].MessageID)
			for _, m := range msgs {
				assert.Regexp(t, archiveID[storage], m.ID)
				assert.Zero(t, m.Stamp.Nanosecond(), "stamps have a resolution of one second")
			}
			msgs, fin, err = alice.reader.Page(ctx, alice.sess, alice.jid, prosodytest.Page{Max: 50, After: fin.Last})
			require.NoError(t, err)
			assert.Equal(t, numbered("m", 55)[50:], bodies(msgs))
			assert.True(t, fin.Complete)

			// The newest page (<before/>) comes in archive order; complete only
			// when it reaches the start.
			msgs, fin, err = alice.reader.Page(ctx, alice.sess, alice.jid, prosodytest.Page{Max: 10, Last: true})
			require.NoError(t, err)
			assert.Equal(t, numbered("m", 55)[45:], bodies(msgs))
			assert.Equal(t, msgs[0].ID, fin.First)
			assert.Equal(t, msgs[9].ID, fin.Last)
			assert.False(t, fin.Complete)
			msgs, fin, err = alice.reader.Page(ctx, alice.sess, alice.jid, prosodytest.Page{Max: 50, Before: fin.First})
			require.NoError(t, err)
			assert.Equal(t, numbered("m", 55)[:45], bodies(msgs))
			assert.True(t, fin.Complete)

			// A stale cursor: item-not-found of type modify, forward or back.
			_, _, err = alice.reader.Page(ctx, alice.sess, alice.jid, prosodytest.Page{After: "no-such-id"})
			requireStanzaError(t, err, stanza.Modify, stanza.ItemNotFound)
			_, _, err = alice.reader.Page(ctx, alice.sess, alice.jid, prosodytest.Page{Before: "no-such-id"})
			requireStanzaError(t, err, stanza.Modify, stanza.ItemNotFound)
			// Someone else's archive, or no such account: service-unavailable.
			_, _, err = alice.reader.Page(ctx, alice.sess, bob.jid, prosodytest.Page{})
			requireStanzaError(t, err, stanza.Cancel, stanza.ServiceUnavailable)
			_, _, err = alice.reader.Page(ctx, alice.sess, srv.JID(t, "nobody"), prosodytest.Page{})
			requireStanzaError(t, err, stanza.Cancel, stanza.ServiceUnavailable)

			// A live chat carries the recipient archive's stanza-id.
			bobArchive, err := bob.reader.ReadAll(ctx, bob.sess, bob.jid)
			require.NoError(t, err)
			require.Len(t, bobArchive, 55)
			live := bobLive.next(t)
			assert.Equal(t, "m 000", live.Body)
			assert.Equal(t, bob.jid.String(), live.StanzaID.By.String())
			assert.Equal(t, bobArchive[0].ID, live.StanzaID.ID)
			for range 54 {
				bobLive.next(t)
			}

			// MUC: live echoes carry the room's stanza-id, equal to the
			// archive id; the count-only query leaves complete out.
			room := srv.RoomJID(t, "lounge")
			require.NoError(t, prosodytest.CreateRoom(ctx, alice.sess, room, "Alice"))
			require.NoError(t, prosodytest.JoinRoom(ctx, bob.sess, room, "Bob"))
			fin, err = prosodytest.QueryPage(ctx, bob.sess, room, prosodytest.Page{Max: -1})
			require.NoError(t, err)
			assert.Equal(t, prosodytest.Fin{Complete: true, Stable: true, Count: 0}, fin)
			require.NoError(t, prosodytest.SendGroupchat(ctx, alice.sess, room, "g 0", "g 1", "g 2"))
			require.NoError(t, prosodytest.WaitArchiveCount(ctx, bob.sess, room, 3))
			fin, err = prosodytest.QueryPage(ctx, bob.sess, room, prosodytest.Page{Max: -1})
			require.NoError(t, err)
			assert.Equal(t, prosodytest.Fin{Complete: false, Stable: true, Count: 3}, fin)
			roomMsgs, err := bob.reader.ReadAll(ctx, bob.sess, room)
			require.NoError(t, err)
			require.Equal(t, []string{"g 0", "g 1", "g 2"}, bodies(roomMsgs))
			for i := range 3 {
				live := bobLive.next(t)
				assert.Equal(t, roomMsgs[i].Body, live.Body)
				assert.Equal(t, room.String(), live.StanzaID.By.String())
				assert.Equal(t, roomMsgs[i].ID, live.StanzaID.ID)
				assert.Equal(t, roomMsgs[i].OriginID, live.OriginID)
				assert.Regexp(t, archiveID[storage], roomMsgs[i].ID)
				assert.Equal(t, "lounge@conference.localhost/Alice", roomMsgs[i].From.String())
				assert.True(t, roomMsgs[i].To.Equal(jid.JID{}), "the archive strips the room message's to")
			}
			_, _, err = bob.reader.Page(ctx, bob.sess, room, prosodytest.Page{After: "no-such-id"})
			requireStanzaError(t, err, stanza.Modify, stanza.ItemNotFound)

			// A room that does not exist: item-not-found of type cancel.
			nowhere := srv.RoomJID(t, "nowhere")
			_, _, err = bob.reader.Page(ctx, bob.sess, nowhere, prosodytest.Page{})
			requireStanzaError(t, err, stanza.Cancel, stanza.ItemNotFound)
			requireStanzaError(t, prosodytest.JoinRoom(ctx, bob.sess, nowhere, "Bob"), stanza.Cancel, stanza.ItemNotFound)

			// A members-only room: forbidden (auth) for a non-member's query
			// and join.
			private := srv.RoomJID(t, "private")
			require.NoError(t, prosodytest.CreateRoom(ctx, alice.sess, private, "Alice", prosodytest.MembersOnly()))
			_, _, err = bob.reader.Page(ctx, bob.sess, private, prosodytest.Page{})
			requireStanzaError(t, err, stanza.Auth, stanza.Forbidden)
			require.Error(t, prosodytest.JoinRoom(ctx, bob.sess, private, "Bob"))
			// Someone else's room cannot be created again.
			requireStanzaError(t, prosodytest.CreateRoom(ctx, bob.sess, room, "Bob"), stanza.Auth, stanza.Forbidden)

			// A room without archiving answers queries with an empty archive.
			quiet := srv.RoomJID(t, "quiet")
			require.NoError(t, prosodytest.CreateRoom(ctx, alice.sess, quiet, "Alice", prosodytest.WithoutArchive()))
			require.NoError(t, prosodytest.SendGroupchat(ctx, alice.sess, quiet, "not archived"))
			// Prosody handles a session's stanzas in order: once this one is
			// archived, the one before has been handled.
			require.NoError(t, prosodytest.SendGroupchat(ctx, alice.sess, room, "g 3"))
			require.NoError(t, prosodytest.WaitArchiveCount(ctx, alice.sess, room, 4))
			n, err := prosodytest.ArchiveCount(ctx, alice.sess, quiet)
			require.NoError(t, err)
			assert.Zero(t, n)

			assert.Zero(t, alice.reader.Dropped())
			assert.Zero(t, bob.reader.Dropped())
		})
	}
}

func messages(bodies []string) []prosodytest.Message {
	out := make([]prosodytest.Message, len(bodies))
	for i, b := range bodies {
		out[i] = prosodytest.Message{Body: b}
	}
	return out
}
