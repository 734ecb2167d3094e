package fakeserver_test

import (
	"encoding/xml"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"mellium.im/xmlstream"
	"mellium.im/xmpp/history"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync/internal/fakeserver"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var (
	account = jid.MustParse(fakeserver.DefaultAccount)
	room    = jid.MustParse("room@conference.example.net")
	t0      = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
)

// newServer returns a server closed at the end of the test.
func newServer(t *testing.T, opts ...fakeserver.Option) *fakeserver.Server {
	t.Helper()
	srv := fakeserver.New(opts...)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	return srv
}

func TestForwardPagingToCompletion(t *testing.T) {
	srv := newServer(t)
	want := seed(srv.Archive(account), 45, t0)
	c := connect(t, srv)
	ctx := testCtx(t)

	var got []string
	after := ""
	for page := 0; ; page++ {
		qid := "fwd-" + strconv.Itoa(page)
		res, err := c.fetch(ctx, jid.JID{}, history.Query{ID: qid, Limit: 20, PageID: after})
		require.NoError(t, err)
		rs := c.resultsFor(qid)
		require.NotEmpty(t, rs)
		assert.Equal(t, rs[0].ID, res.Set.First.ID)
		assert.Equal(t, rs[len(rs)-1].ID, res.Set.Last)
		require.NotNil(t, res.Set.First.Index)
		assert.EqualValues(t, len(got), *res.Set.First.Index)
		require.NotNil(t, res.Set.Count)
		assert.EqualValues(t, 45, *res.Set.Count)
		for _, r := range rs {
			assert.Empty(t, r.From, "user archive results carry no from")
			assert.Equal(t, r.ID, r.StanzaID)
			assert.Equal(t, account.String(), r.StanzaBy)
			assert.Equal(t, "chat", r.MsgType)
		}
		got = append(got, ids(rs)...)
		after = res.Set.Last
		if res.Complete {
			assert.Equal(t, 2, page, "complete only on the last page")
			assert.Len(t, rs, 5)
			break
		}
		assert.Len(t, rs, 20)
		require.Less(t, page, 3, "paging did not complete")
	}
	assert.Equal(t, want, got)

	// Contents of the first result.
	r := c.resultsFor("fwd-0")[0]
	msg, ok := srv.Archive(account).Get(r.ID)
	require.True(t, ok)
	assert.Equal(t, msg.Body, r.Body)
	assert.Equal(t, "origin-0", r.OriginID)
	assert.Equal(t, "2024-03-01T12:00:00Z", r.Stamp)
	assert.Equal(t, "romeo@example.com/orchard", r.MsgFrom)

	// A forward query after the last id is an empty, complete page.
	res, err := c.fetch(ctx, jid.JID{}, history.Query{ID: "past-end", Limit: 20, PageID: after})
	require.NoError(t, err)
	assert.True(t, res.Complete)
	assert.Empty(t, c.resultsFor("past-end"))
	raw, err := c.rawQuery(ctx, jid.JID{}, history.Query{ID: "past-end-raw", Limit: 20, PageID: after})
	require.NoError(t, err)
	fin := parseIQ(t, raw).Fin
	require.NotNil(t, fin)
	assert.Nil(t, fin.Set.First, "empty page has no first")
	assert.Nil(t, fin.Set.Last, "empty page has no last")
	assert.Equal(t, "45", fin.Set.Count)
	assert.Equal(t, "past-end-raw", fin.QueryID)
}

func TestBackwardPagingToCompletion(t *testing.T) {
	srv := newServer(t)
	want := seed(srv.Archive(room), 45, t0)
	c := connect(t, srv)
	ctx := testCtx(t)

	var pages [][]string
	before := ""
	for page := 0; ; page++ {
		qid := "back-" + strconv.Itoa(page)
		// Last with an empty PageID sends an empty <before/>: the newest page.
		res, err := c.fetch(ctx, room, history.Query{ID: qid, Limit: 20, Last: true, PageID: before})
		require.NoError(t, err)
		rs := c.resultsFor(qid)
		require.NotEmpty(t, rs)
		assert.Equal(t, rs[0].ID, res.Set.First.ID, "first is the oldest of the page")
		assert.Equal(t, rs[len(rs)-1].ID, res.Set.Last)
		for _, r := range rs {
			assert.Equal(t, room.String(), r.From, "room results come from the room")
			assert.Equal(t, "groupchat", r.MsgType)
			assert.Equal(t, room.String(), r.StanzaBy)
		}
		pages = append(pages, ids(rs))
		before = res.Set.First.ID
		if res.Complete {
			assert.Equal(t, 2, page)
			break
		}
		require.Less(t, page, 3)
	}
	assert.Equal(t, want[25:], pages[0], "the newest page, in chronological order")
	assert.Equal(t, want[5:25], pages[1])
	assert.Equal(t, want[:5], pages[2])

	// The first index of the newest page is its position in the archive.
	raw, err := c.rawQuery(ctx, room, history.Query{ID: "idx", Limit: 10, Last: true})
	require.NoError(t, err)
	iq := parseIQ(t, raw)
	require.NotNil(t, iq.Fin)
	assert.Equal(t, "35", iq.Fin.Set.First.Index)
	assert.Empty(t, iq.Fin.Complete, "complete is omitted, not false")
	assert.Equal(t, room.String(), iq.From)
}

func TestPageSizeClampAndDefault(t *testing.T) {
	srv := newServer(t)
	seed(srv.Archive(account), 120, t0)
	c := connect(t, srv)
	ctx := testCtx(t)

	_, err := c.fetch(ctx, jid.JID{}, history.Query{ID: "default"})
	require.NoError(t, err)
	assert.Len(t, c.resultsFor("default"), fakeserver.DefaultPageSize)

	_, err = c.fetch(ctx, jid.JID{}, history.Query{ID: "clamped", Limit: 1000})
	require.NoError(t, err)
	assert.Len(t, c.resultsFor("clamped"), fakeserver.DefaultMaxPageSize)

	// <max>0</max> asks for the count only.
	raw, err := c.rawIQ(ctx, stanza.IQ{Type: stanza.SetIQ}, xmlstream.Wrap(
		xmlstream.Wrap(xmlstream.Wrap(xmlstream.Token(xml.CharData("0")), xml.StartElement{Name: xml.Name{Local: "max"}}),
			xml.StartElement{Name: xml.Name{Space: "http://jabber.org/protocol/rsm", Local: "set"}}),
		xml.StartElement{Name: xml.Name{Space: history.NS, Local: "query"}, Attr: []xml.Attr{{Name: xml.Name{Local: "queryid"}, Value: "zero"}}},
	))
	require.NoError(t, err)
	iq := parseIQ(t, raw)
	require.NotNil(t, iq.Fin, raw)
	assert.Equal(t, "120", iq.Fin.Set.Count)
	assert.Empty(t, iq.Fin.Complete)
	assert.Empty(t, c.resultsFor("zero"))

	small := newServer(t, fakeserver.WithMaxPageSize(7), fakeserver.WithDefaultPageSize(5))
	seed(small.Archive(account), 30, t0)
	c2 := connect(t, small)
	_, err = c2.fetch(ctx, jid.JID{}, history.Query{ID: "d"})
	require.NoError(t, err)
	assert.Len(t, c2.resultsFor("d"), 5)
	_, err = c2.fetch(ctx, jid.JID{}, history.Query{ID: "m", Limit: 50})
	require.NoError(t, err)
	assert.Len(t, c2.resultsFor("m"), 7)
}

func TestFilters(t *testing.T) {
	srv := newServer(t)
	a := srv.Archive(account)
	all := seed(a, 30, t0)
	nurse := jid.MustParse("nurse@example.com/kitchen")
	nurseIDs := a.Append(
		fakeserver.Message{From: nurse, To: account, Body: "from the nurse", Stamp: t0.Add(31 * time.Minute)},
		fakeserver.Message{From: account, To: nurse.Bare(), Body: "to the nurse", Stamp: t0.Add(32 * time.Minute)},
	)
	c := connect(t, srv)
	ctx := testCtx(t)

	t.Run("start and end", func(t *testing.T) {
		res, err := c.fetch(ctx, jid.JID{}, history.Query{ID: "range", Start: t0.Add(10 * time.Minute), End: t0.Add(14 * time.Minute), Limit: 50})
		require.NoError(t, err)
		assert.Equal(t, all[10:15], ids(c.resultsFor("range")))
		assert.True(t, res.Complete)
		assert.EqualValues(t, 5, *res.Set.Count)
	})
	t.Run("with", func(t *testing.T) {
		_, err := c.fetch(ctx, jid.JID{}, history.Query{ID: "with", With: nurse.Bare(), Limit: 50})
		require.NoError(t, err)
		assert.Equal(t, nurseIDs, ids(c.resultsFor("with")))
	})
	t.Run("start with rsm after", func(t *testing.T) {
		res, err := c.fetch(ctx, jid.JID{}, history.Query{ID: "start-after", Start: t0.Add(20 * time.Minute), PageID: all[24], Limit: 3})
		require.NoError(t, err)
		assert.Equal(t, all[25:28], ids(c.resultsFor("start-after")))
		assert.False(t, res.Complete)
		assert.EqualValues(t, 12, *res.Set.Count, "count ignores the RSM bound")
		assert.EqualValues(t, 5, *res.Set.First.Index)
	})
	t.Run("extended after-id before-id", func(t *testing.T) {
		res, err := c.fetch(ctx, jid.JID{}, history.Query{ID: "ext", AfterID: all[3], BeforeID: all[9], Limit: 50})
		require.NoError(t, err)
		assert.Equal(t, all[4:9], ids(c.resultsFor("ext")))
		assert.True(t, res.Complete)
	})
	t.Run("extended ids", func(t *testing.T) {
		_, err := c.fetch(ctx, jid.JID{}, history.Query{ID: "ids", IDs: []string{all[7], all[2]}, Limit: 50})
		require.NoError(t, err)
		assert.Equal(t, []string{all[2], all[7]}, ids(c.resultsFor("ids")))
	})
	t.Run("flip-page", func(t *testing.T) {
		res, err := c.fetch(ctx, jid.JID{}, history.Query{ID: "flip", Limit: 3, Reverse: true})
		require.NoError(t, err)
		assert.Equal(t, []string{all[2], all[1], all[0]}, ids(c.resultsFor("flip")))
		assert.Equal(t, all[0], res.Set.First.ID)
	})
	t.Run("invalid start", func(t *testing.T) {
		raw, err := c.rawIQ(ctx, stanza.IQ{Type: stanza.SetIQ}, xmlTokens(
			`<query xmlns='urn:xmpp:mam:2' queryid='bad'><x xmlns='jabber:x:data' type='submit'><field var='start'><value>yesterday</value></field></x></query>`))
		require.NoError(t, err)
		assert.Equal(t, "bad-request", parseIQ(t, raw).condition())
	})
}
