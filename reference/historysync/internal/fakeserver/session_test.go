package fakeserver_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"mellium.im/xmlstream"
	"mellium.im/xmpp/history"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync/internal/fakeserver"
)

func TestUnknownCursorAndArchive(t *testing.T) {
	srv := newServer(t)
	a := srv.Archive(room)
	all := seed(a, 10, t0)
	c := connect(t, srv)
	ctx := testCtx(t)

	a.Forget(all[3], "never-existed")
	assert.Equal(t, 9, a.Len())
	_, ok := a.Get(all[3])
	assert.False(t, ok)

	for name, q := range map[string]history.Query{
		"after":     {ID: "a", PageID: all[3]},
		"before":    {ID: "b", PageID: all[3], Last: true},
		"after-id":  {ID: "c", AfterID: all[3]},
		"before-id": {ID: "d", BeforeID: all[3]},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.fetch(ctx, room, q)
			var se stanza.Error
			require.ErrorAs(t, err, &se)
			assert.Equal(t, stanza.ItemNotFound, se.Condition)
		})
	}
	t.Run("known cursor still works", func(t *testing.T) {
		_, err := c.fetch(ctx, room, history.Query{ID: "ok", PageID: all[2]})
		require.NoError(t, err)
		assert.Equal(t, all[4:], ids(c.resultsFor("ok")))
	})
	t.Run("room without archive", func(t *testing.T) {
		_, err := c.fetch(ctx, jid.MustParse("nowhere@conference.example.net"), history.Query{ID: "x"})
		var se stanza.Error
		require.ErrorAs(t, err, &se)
		assert.Equal(t, stanza.ItemNotFound, se.Condition)
	})
	t.Run("full JID", func(t *testing.T) {
		_, err := c.fetch(ctx, jid.MustParse("juliet@example.net/balcony"), history.Query{ID: "x"})
		var se stanza.Error
		require.ErrorAs(t, err, &se)
		assert.Equal(t, stanza.ServiceUnavailable, se.Condition)
	})
	t.Run("another account", func(t *testing.T) {
		_, err := c.fetch(ctx, jid.MustParse("nobody@example.net"), history.Query{ID: "x"})
		var se stanza.Error
		require.ErrorAs(t, err, &se)
		assert.Equal(t, stanza.ServiceUnavailable, se.Condition, "as Prosody answers")
	})
	t.Run("bare account JID", func(t *testing.T) {
		seed(srv.Archive(account), 3, t0)
		_, err := c.fetch(ctx, account, history.Query{ID: "bare"})
		require.NoError(t, err)
		rs := c.resultsFor("bare")
		require.Len(t, rs, 3)
		// mellium blanks a from equal to the account's bare JID; the raw
		// check is in TestResultFromAttribute.
		assert.Empty(t, rs[0].From)
	})
}

func TestResultFromAttribute(t *testing.T) {
	var wire syncBuffer
	srv := newServer(t, fakeserver.WithOutputLog(&wire))
	seed(srv.Archive(account), 1, t0)
	c := connect(t, srv)
	// mellium blanks a from equal to the account's bare JID, so the wire
	// bytes are checked.
	_, err := c.rawQuery(testCtx(t), account, history.Query{ID: "q"})
	require.NoError(t, err)
	assert.Contains(t, wire.String(), `from='juliet@example.net'><result xmlns='urn:xmpp:mam:2' queryid='q'`, "results to a query to the bare JID come from it")
	assert.Contains(t, wire.String(), `from='juliet@example.net'><fin xmlns='urn:xmpp:mam:2' queryid='q'`, "and so does the reply")
	_, err = c.rawQuery(testCtx(t), jid.JID{}, history.Query{ID: "q2"})
	require.NoError(t, err)
	assert.Regexp(t, `<message to='juliet@example.net/fakeserver-1'><result xmlns='urn:xmpp:mam:2' queryid='q2'`, wire.String(), "a query without to is answered without from")
	assert.Regexp(t, `<iq type='result' id='[^']+' to='juliet@example.net/fakeserver-1'><fin xmlns='urn:xmpp:mam:2' queryid='q2'`, wire.String())
}

func TestDiscoAndOtherIQs(t *testing.T) {
	srv := newServer(t)
	srv.Archive(room)
	c := connect(t, srv)
	ctx := testCtx(t)
	info := func(to jid.JID) string {
		raw, err := c.rawIQ(ctx, stanza.IQ{Type: stanza.GetIQ, To: to}, xmlTokens(`<query xmlns='http://jabber.org/protocol/disco#info'/>`))
		require.NoError(t, err)
		return raw
	}
	acc := info(jid.JID{})
	assert.Contains(t, acc, `var="urn:xmpp:mam:2"`)
	assert.Contains(t, acc, `var="urn:xmpp:mam:2#extended"`)
	assert.Contains(t, acc, `category="account"`)
	r := info(room)
	assert.Contains(t, r, `var="urn:xmpp:mam:2"`)
	assert.Contains(t, r, `var="http://jabber.org/protocol/muc"`)
	assert.Contains(t, info(jid.MustParse("conference.example.net")), `category="conference"`)
	assert.Equal(t, "item-not-found", parseIQ(t, info(jid.MustParse("gone@conference.example.net"))).condition())

	raw, err := c.rawIQ(ctx, stanza.IQ{Type: stanza.GetIQ, To: jid.MustParse("conference.example.net")}, xmlTokens(`<query xmlns='http://jabber.org/protocol/disco#items'/>`))
	require.NoError(t, err)
	assert.Contains(t, raw, room.String())

	raw, err = c.rawIQ(ctx, stanza.IQ{Type: stanza.GetIQ}, xmlTokens(`<query xmlns='jabber:iq:version'/>`))
	require.NoError(t, err)
	assert.Equal(t, "service-unavailable", parseIQ(t, raw).condition())

	raw, err = c.rawIQ(ctx, stanza.IQ{Type: stanza.GetIQ}, xmlTokens(`<ping xmlns='urn:xmpp:ping'/>`))
	require.NoError(t, err)
	assert.Equal(t, "result", parseIQ(t, raw).Type)

	raw, err = c.rawIQ(ctx, stanza.IQ{Type: stanza.GetIQ}, xmlTokens(`<query xmlns='urn:xmpp:mam:2'/>`))
	require.NoError(t, err)
	assert.Contains(t, raw, `var="before-id"`)

	assert.Equal(t, 8, srv.Stats().OtherIQs, "disco#info×4, disco#items, version, ping, MAM form")
}

func TestWithoutExtended(t *testing.T) {
	srv := newServer(t, fakeserver.WithExtended(false))
	all := seed(srv.Archive(account), 5, t0)
	c := connect(t, srv)
	raw, err := c.rawIQ(testCtx(t), stanza.IQ{Type: stanza.GetIQ}, xmlTokens(`<query xmlns='http://jabber.org/protocol/disco#info'/>`))
	require.NoError(t, err)
	assert.NotContains(t, raw, "#extended")
	_, err = c.fetch(testCtx(t), jid.JID{}, history.Query{ID: "q", AfterID: all[2]})
	require.NoError(t, err)
	assert.Equal(t, all, ids(c.resultsFor("q")), "extended fields are ignored")
}

func TestReconnect(t *testing.T) {
	srv := newServer(t)
	all := seed(srv.Archive(account), 30, t0)
	ctx := testCtx(t)

	c1 := connect(t, srv)
	res, err := c1.fetch(ctx, jid.JID{}, history.Query{ID: "p1", Limit: 10})
	require.NoError(t, err)
	srv.Disconnect()
	require.Error(t, c1.waitServed(t))

	c2 := connect(t, srv)
	assert.NotEqual(t, c1.sess.LocalAddr().String(), c2.sess.LocalAddr().String(), "a fresh resource per session")
	assert.True(t, c2.sess.LocalAddr().Bare().Equal(account))
	_, err = c2.fetch(ctx, jid.JID{}, history.Query{ID: "p2", Limit: 10, PageID: res.Set.Last})
	require.NoError(t, err)
	assert.Equal(t, all[10:20], ids(c2.resultsFor("p2")), "archives persist across sessions")

	// Connect while connected replaces the old session.
	c3 := connect(t, srv)
	require.Error(t, c2.waitServed(t))
	_, err = c3.fetch(ctx, jid.JID{}, history.Query{ID: "p3", Limit: 10, PageID: all[19]})
	require.NoError(t, err)
	assert.Equal(t, all[20:], ids(c3.resultsFor("p3")))

	// A client that ends its stream gets the stream end back.
	require.NoError(t, c3.sess.Close())
	require.NoError(t, c3.waitServed(t))
	require.NoError(t, srv.WaitStats(ctx, func(st fakeserver.Stats) bool { return st.Disconnects == 3 }))
	st := srv.Stats()
	assert.Equal(t, 3, st.Connections)
	assert.Equal(t, 3, st.Queries)
}

func TestSendLive(t *testing.T) {
	srv := newServer(t)
	c := connect(t, srv)
	ctx := testCtx(t)

	romeo := jid.MustParse("room@conference.example.net/romeo")
	roomID, err := srv.SendLive(ctx, room, fakeserver.Message{From: romeo, Body: "live in the room", OriginID: "o1"})
	require.NoError(t, err)
	userID, err := srv.SendLive(ctx, account, fakeserver.Message{From: jid.MustParse("nurse@example.com/x"), To: account, Body: "live to me"})
	require.NoError(t, err)
	quiet, err := srv.SendLive(ctx, room, fakeserver.Message{Body: "from the room itself"})
	require.NoError(t, err)

	require.NoError(t, c.waitFor(ctx, func() bool { return len(c.liveMessages()) == 3 }))
	live := c.liveMessages()
	assert.Equal(t, gotLive{From: romeo.String(), Type: "groupchat", By: room.String(), ID: roomID}, live[0])
	assert.Equal(t, gotLive{From: "nurse@example.com/x", Type: "chat", By: account.String(), ID: userID}, live[1])
	assert.Equal(t, gotLive{From: room.String(), Type: "groupchat", By: room.String(), ID: quiet}, live[2])
	assert.Equal(t, 3, srv.Stats().LiveMessages)

	// Live messages are archived under the id announced.
	_, err = c.fetch(ctx, room, history.Query{ID: "q"})
	require.NoError(t, err)
	assert.Equal(t, []string{roomID, quiet}, ids(c.resultsFor("q")))
	m, ok := srv.Archive(room).Get(roomID)
	require.True(t, ok)
	assert.Equal(t, "o1", m.OriginID)
	assert.Equal(t, stanza.GroupChatMessage, m.Type)

	// Without a client the message is archived but not delivered.
	srv.Disconnect()
	require.Error(t, c.waitServed(t))
	id, err := srv.SendLive(ctx, room, fakeserver.Message{From: romeo, Body: "while away"})
	require.ErrorIs(t, err, fakeserver.ErrNotConnected)
	_, ok = srv.Archive(room).Get(id)
	assert.True(t, ok)
}

func TestSendLiveHonoursContext(t *testing.T) {
	srv := newServer(t)
	sess, err := srv.Connect(testCtx(t))
	require.NoError(t, err)
	// Nobody serves the client session, so the write blocks.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = srv.SendLive(ctx, room, fakeserver.Message{Body: "nobody reads"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, srv.WaitStats(testCtx(t), func(st fakeserver.Stats) bool { return st.Disconnects == 1 }), "a cut write ends the connection")
	_ = sess
}

func TestAppendSemantics(t *testing.T) {
	n := 0
	srv := newServer(t,
		fakeserver.WithIDGenerator(func() string { n++; return fmt.Sprintf("id-%d", n%3) }),
		fakeserver.WithClock(func() time.Time { return t0 }))
	a := srv.Archive(account)
	got := a.Append(fakeserver.Message{Body: "one"}, fakeserver.Message{ID: "preset", Body: "two"}, fakeserver.Message{ID: "preset", Body: "dup"})
	require.Len(t, got, 3)
	assert.Equal(t, "id-1", got[0])
	assert.Equal(t, "preset", got[1])
	assert.NotEqual(t, "preset", got[2], "a duplicate preset id is replaced")
	msgs := a.Messages()
	assert.Equal(t, stanza.ChatMessage, msgs[0].Type)
	assert.True(t, msgs[0].Stamp.Equal(t0))
	assert.Equal(t, got, a.IDs())
	assert.False(t, a.IsRoom())
	assert.True(t, srv.Archive(jid.MustParse("juliet@example.net/other")).JID().Equal(account), "archives are per bare JID")
	assert.True(t, srv.Archive(room).IsRoom())

	sent, received := a.AppendSelfArchived(fakeserver.Message{From: jid.MustParse("juliet@example.net/a"), To: account, Body: "note to self", OriginID: "self-1"})
	assert.NotEqual(t, sent, received)
	c := connect(t, srv)
	_, err := c.fetch(testCtx(t), jid.JID{}, history.Query{ID: "q"})
	require.NoError(t, err)
	rs := c.resultsFor("q")
	require.Len(t, rs, 5)
	assert.Equal(t, []string{sent, received}, ids(rs[3:]))
	assert.Equal(t, rs[3].OriginID, rs[4].OriginID)
	assert.Equal(t, rs[3].Body, rs[4].Body)
}

func TestConcurrentQueries(t *testing.T) {
	srv := newServer(t)
	const rooms, perRoom = 20, 130
	want := make(map[string][]string)
	for i := range rooms {
		r := jid.MustParse(fmt.Sprintf("room%d@conference.example.net", i))
		want[r.String()] = seed(srv.Archive(r), perRoom, t0)
	}
	c := connect(t, srv)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for name := range want {
		wg.Go(func() {
			r := jid.MustParse(name)
			after := ""
			for page := 0; ; page++ {
				qid := fmt.Sprintf("%s-%d", name, page)
				res, err := c.fetch(ctx, r, history.Query{ID: qid, Limit: 50, PageID: after})
				if !assert.NoError(t, err) {
					return
				}
				after = res.Set.Last
				if res.Complete {
					return
				}
			}
		})
	}
	wg.Wait()
	for name, w := range want {
		var got []string
		for page := range 3 {
			got = append(got, ids(c.resultsFor(fmt.Sprintf("%s-%d", name, page)))...)
		}
		assert.Equal(t, w, got, name)
	}
	assert.Equal(t, rooms*perRoom, srv.Stats().Results)
	assert.Equal(t, rooms*3, srv.Stats().Queries)
}

func TestMUCJoinAndGroupchat(t *testing.T) {
	srv := newServer(t)
	// muc.Client is not used: its Join races with its presence handler in
	// mellium v0.22.0 (muc/room.go:251 against muc/muc.go:203).
	selfPresence := make(chan stanza.Presence, 2)
	onSelf := func(p stanza.Presence, r xmlstream.TokenReadEncoder) error {
		d := xml.NewTokenDecoder(r)
		for {
			tok, err := d.Token()
			if err != nil {
				return err
			}
			start, ok := tok.(xml.StartElement)
			if !ok || start.Name.Local != "x" {
				continue
			}
			var x struct {
				Status []struct {
					Code string `xml:"code,attr"`
				} `xml:"status"`
			}
			if err := d.DecodeElement(&x, &start); err != nil {
				return err
			}
			if len(x.Status) == 1 && x.Status[0].Code == "110" {
				selfPresence <- p
			}
			return nil
		}
	}
	mucUser := xml.Name{Space: "http://jabber.org/protocol/muc#user", Local: "x"}
	c := connect(t, srv, mux.PresenceFunc(stanza.AvailablePresence, mucUser, onSelf), mux.PresenceFunc(stanza.UnavailablePresence, mucUser, onSelf))
	ctx := testCtx(t)
	occupant := jid.MustParse("newroom@conference.example.net/juliet")
	require.NoError(t, c.sess.Send(ctx, stanza.Presence{To: occupant}.Wrap(xmlTokens(`<x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x>`))))
	p := waitPresence(t, selfPresence)
	assert.Equal(t, occupant.String(), p.From.String())
	assert.Equal(t, stanza.AvailablePresence, p.Type)
	assert.True(t, srv.Archive(occupant.Bare()).IsRoom(), "joining creates the room")

	// A groupchat message is archived and reflected with its stanza-id.
	require.NoError(t, c.sess.Send(ctx, stanza.Message{To: occupant.Bare(), Type: stanza.GroupChatMessage}.Wrap(xmlTokens(`<body>hello room</body>`))))
	require.NoError(t, c.waitFor(ctx, func() bool { return len(c.liveMessages()) == 1 }))
	live := c.liveMessages()[0]
	assert.Equal(t, occupant.String(), live.From)
	msgs := srv.Archive(occupant.Bare()).Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, live.ID, msgs[0].ID)
	assert.Equal(t, "hello room", msgs[0].Body)

	// A chat message is archived in the user archive; one to the account
	// itself twice.
	require.NoError(t, c.sess.Send(ctx, stanza.Message{To: jid.MustParse("romeo@example.com"), Type: stanza.ChatMessage}.Wrap(xmlTokens(`<body>hi romeo</body>`))))
	require.NoError(t, c.sess.Send(ctx, stanza.Message{To: account, Type: stanza.ChatMessage}.Wrap(xmlTokens(`<body>note</body><origin-id xmlns='urn:xmpp:sid:0' id='o-self'/>`))))
	require.NoError(t, c.sess.Send(ctx, stanza.Presence{To: occupant, Type: stanza.UnavailablePresence}.Wrap(nil)))
	p = waitPresence(t, selfPresence)
	assert.Equal(t, stanza.UnavailablePresence, p.Type)
	// The leave round trip orders the chat messages before this check.
	msgs = srv.Archive(account).Messages()
	require.Len(t, msgs, 3)
	assert.Equal(t, "hi romeo", msgs[0].Body)
	assert.Equal(t, "o-self", msgs[1].OriginID)
	assert.Equal(t, "o-self", msgs[2].OriginID)
	assert.NotEqual(t, msgs[1].ID, msgs[2].ID)
}

func waitPresence(t *testing.T, c <-chan stanza.Presence) stanza.Presence {
	t.Helper()
	select {
	case p := <-c:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no self-presence")
		return stanza.Presence{}
	}
}

func TestOddInputDoesNotBreakTheServer(t *testing.T) {
	srv := newServer(t)
	seed(srv.Archive(account), 3, t0)
	c := connect(t, srv)
	ctx := testCtx(t)
	for _, payload := range []string{
		`<query xmlns='urn:xmpp:mam:2' queryid='m'><set xmlns='http://jabber.org/protocol/rsm'><max>-3</max></set></query>`,
		`<query xmlns='urn:xmpp:mam:2' queryid='m'><set xmlns='http://jabber.org/protocol/rsm'><max>lots</max></set></query>`,
		`<query xmlns='urn:xmpp:mam:2' queryid='m'><set xmlns='http://jabber.org/protocol/rsm'><after/></set></query>`,
		`<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:1</value></field></x></query>`,
		`<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='with'><value>@@@</value></field></x></query>`,
	} {
		raw, err := c.rawIQ(ctx, stanza.IQ{Type: stanza.SetIQ}, xmlTokens(payload))
		require.NoError(t, err)
		assert.Equal(t, "bad-request", parseIQ(t, raw).condition(), payload)
	}
	// An IQ with an invalid to, and stanzas the server ignores.
	raw, err := c.rawIQ(ctx, stanza.IQ{Type: stanza.GetIQ, To: jid.MustParse("example.net")}, xmlTokens(`<query xmlns='http://jabber.org/protocol/disco#info'/>`))
	require.NoError(t, err)
	assert.Contains(t, raw, `category="server"`)
	require.NoError(t, c.sess.Send(ctx, xmlTokens(`<message xmlns='jabber:client'><body>no to</body></message>`)))
	require.NoError(t, c.sess.Send(ctx, xmlTokens(`<presence xmlns='jabber:client' to='@bad'/>`)))
	require.NoError(t, c.sess.Send(ctx, xmlTokens(`<iq xmlns='jabber:client' type='bogus' id='x1'/>`)))
	require.NoError(t, c.sess.Send(ctx, xmlTokens(`<iq xmlns='jabber:client' type='result' id='nobody-asked'/>`)))
	// The session still works.
	_, err = c.fetch(ctx, jid.JID{}, history.Query{ID: "after-odd"})
	require.NoError(t, err)
	assert.Len(t, c.resultsFor("after-odd"), 3)
	assert.Equal(t, 0, srv.Stats().Disconnects)

	// Bodies with characters XML cannot carry do not corrupt the stream.
	srv.Archive(account).Append(fakeserver.Message{Body: "ctl\x00\x01 & <tag> 'q' \"dq\" \xff end"})
	_, err = c.fetch(ctx, jid.JID{}, history.Query{ID: "odd-body", PageID: srv.Archive(account).IDs()[2]})
	require.NoError(t, err)
	rs := c.resultsFor("odd-body")
	require.Len(t, rs, 1)
	assert.Equal(t, "ctl\uFFFD\uFFFD & <tag> 'q' \"dq\" \uFFFD end", rs[0].Body)
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	baseline := goleak.IgnoreCurrent()
	srv := fakeserver.New()
	seed(srv.Archive(room), 30, t0)
	c := connect(t, srv)
	srv.Script(func(q fakeserver.Query) fakeserver.Fault {
		switch q.QueryID {
		case "silent":
			return fakeserver.Fault{Silence: true}
		case "slow":
			return fakeserver.Fault{ResultInterval: time.Hour}
		case "late":
			return fakeserver.Fault{Stragglers: 3, StragglerDelay: time.Hour}
		}
		return fakeserver.Fault{}
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, qid := range []string{"silent", "slow"} {
		wg.Go(func() { _, _ = c.fetch(ctx, room, history.Query{ID: qid}) })
	}
	_, err := c.fetch(testCtx(t), room, history.Query{ID: "late"})
	require.NoError(t, err)
	require.NoError(t, srv.WaitQueries(testCtx(t), 3))
	assert.Equal(t, 3, srv.Stats().InFlight)

	require.NoError(t, srv.Close())
	require.NoError(t, srv.Close(), "Close is idempotent")
	assert.Equal(t, 0, srv.Stats().InFlight)
	cancel()
	wg.Wait()
	require.Error(t, c.waitServed(t))
	goleak.VerifyNone(t, baseline)

	_, err = srv.Connect(testCtx(t))
	require.ErrorIs(t, err, fakeserver.ErrClosed)
	_, err = srv.SendLive(testCtx(t), room, fakeserver.Message{Body: "x"})
	require.ErrorIs(t, err, fakeserver.ErrClosed)
	assert.Equal(t, 30, srv.Archive(room).Len(), "archives stay readable")
}
