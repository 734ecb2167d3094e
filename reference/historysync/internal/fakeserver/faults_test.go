package fakeserver_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mellium.im/xmpp/history"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync/internal/fakeserver"
)

// faultOn scripts f for the query with queryid qid only.
func faultOn(srv *fakeserver.Server, qid string, f fakeserver.Fault) {
	srv.Script(func(q fakeserver.Query) fakeserver.Fault {
		if q.QueryID == qid {
			return f
		}
		return fakeserver.Fault{}
	})
}

// faultSetup returns a server whose room archive holds 30 messages, and a
// connected client.
func faultSetup(t *testing.T) (*fakeserver.Server, *client, []string) {
	t.Helper()
	srv := newServer(t)
	all := seed(srv.Archive(room), 30, t0)
	return srv, connect(t, srv), all
}

func shortCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	t.Cleanup(cancel)
	return ctx
}

func TestFaultStanzaErrors(t *testing.T) {
	for _, tc := range []struct {
		cond stanza.Condition
		typ  stanza.ErrorType
	}{
		{stanza.ItemNotFound, stanza.Cancel},
		{stanza.ResourceConstraint, stanza.Wait},
		{stanza.PolicyViolation, stanza.Wait},
		{stanza.InternalServerError, stanza.Wait},
		{stanza.ServiceUnavailable, stanza.Cancel},
		{stanza.FeatureNotImplemented, stanza.Cancel},
	} {
		t.Run(string(tc.cond), func(t *testing.T) {
			srv, c, _ := faultSetup(t)
			faultOn(srv, "q", fakeserver.Fault{ErrorCondition: tc.cond, ErrorText: "scripted"})
			_, err := c.fetch(testCtx(t), room, history.Query{ID: "q", Limit: 10})
			var se stanza.Error
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.cond, se.Condition)
			assert.Equal(t, tc.typ, se.Type)
			assert.Equal(t, "scripted", se.Text[""])
			assert.Empty(t, c.resultsFor("q"), "no results before a plain error")
			st := srv.Stats()
			assert.Equal(t, 1, st.Errors)
			assert.Equal(t, 0, st.Results)
		})
	}
	t.Run("explicit type and results first", func(t *testing.T) {
		srv, c, all := faultSetup(t)
		faultOn(srv, "q", fakeserver.Fault{ErrorCondition: stanza.PolicyViolation, ErrorType: stanza.Modify, ErrorAfterResults: true})
		_, err := c.fetch(testCtx(t), room, history.Query{ID: "q", Limit: 10})
		var se stanza.Error
		require.ErrorAs(t, err, &se)
		assert.Equal(t, stanza.Modify, se.Type)
		assert.Equal(t, all[:10], ids(c.resultsFor("q")))
	})
}

func TestFaultMalformedReplies(t *testing.T) {
	t.Run("no fin", func(t *testing.T) {
		srv, c, _ := faultSetup(t)
		faultOn(srv, "q", fakeserver.Fault{NoFin: true})
		raw, err := c.rawQuery(testCtx(t), room, history.Query{ID: "q", Limit: 10})
		require.NoError(t, err)
		iq := parseIQ(t, raw)
		assert.Equal(t, "result", iq.Type)
		assert.Empty(t, iq.Children, raw)
		assert.Len(t, c.resultsFor("q"), 10, "the results are still sent")
	})
	t.Run("wrong payload", func(t *testing.T) {
		srv, c, _ := faultSetup(t)
		faultOn(srv, "q", fakeserver.Fault{WrongPayload: true})
		raw, err := c.rawQuery(testCtx(t), room, history.Query{ID: "q", Limit: 10})
		require.NoError(t, err)
		iq := parseIQ(t, raw)
		assert.Nil(t, iq.Fin, raw)
		require.NotNil(t, iq.Query, raw)
		assert.Contains(t, raw, "<first", "the wrong element mimics a page")
	})
	t.Run("raw payload", func(t *testing.T) {
		srv, c, _ := faultSetup(t)
		faultOn(srv, "q", fakeserver.Fault{RawPayload: `<fin xmlns='urn:xmpp:mam:1' complete='true'/>`})
		raw, err := c.rawQuery(testCtx(t), room, history.Query{ID: "q", Limit: 10})
		require.NoError(t, err)
		assert.Nil(t, parseIQ(t, raw).Fin)
		assert.Contains(t, raw, "urn:xmpp:mam:1")
	})
	t.Run("unbalanced fin", func(t *testing.T) {
		srv, c, _ := faultSetup(t)
		faultOn(srv, "q", fakeserver.Fault{UnbalancedFin: true})
		raw, err := c.rawQuery(testCtx(t), room, history.Query{ID: "q", Limit: 10})
		require.NoError(t, err)
		fin := parseIQ(t, raw).Fin
		require.NotNil(t, fin, raw)
		assert.NotNil(t, fin.Set.First)
		assert.Nil(t, fin.Set.Last, "first without last")
	})
	t.Run("unbalanced fin on empty page", func(t *testing.T) {
		srv := newServer(t)
		srv.Archive(room)
		c := connect(t, srv)
		faultOn(srv, "q", fakeserver.Fault{UnbalancedFin: true})
		raw, err := c.rawQuery(testCtx(t), room, history.Query{ID: "q", Limit: 10})
		require.NoError(t, err)
		fin := parseIQ(t, raw).Fin
		require.NotNil(t, fin, raw)
		assert.NotNil(t, fin.Set.First)
		assert.Nil(t, fin.Set.Last)
	})
	t.Run("mismatched fin", func(t *testing.T) {
		srv, c, _ := faultSetup(t)
		faultOn(srv, "q", fakeserver.Fault{MismatchedFin: true})
		raw, err := c.rawQuery(testCtx(t), room, history.Query{ID: "q", Limit: 10})
		require.NoError(t, err)
		fin := parseIQ(t, raw).Fin
		require.NotNil(t, fin, raw)
		require.NotNil(t, fin.Set.First)
		require.NotNil(t, fin.Set.Last)
		got := ids(c.resultsFor("q"))
		assert.Len(t, got, 10)
		assert.NotContains(t, got, fin.Set.First.ID)
		assert.NotContains(t, got, *fin.Set.Last)
	})
	t.Run("whitespace", func(t *testing.T) {
		srv, c, all := faultSetup(t)
		faultOn(srv, "q", fakeserver.Fault{Whitespace: true, Stragglers: 1})
		ctx := testCtx(t)
		raw, err := c.rawQuery(ctx, room, history.Query{ID: "q", Limit: 10})
		require.NoError(t, err)
		// The re-encoded reply keeps the whitespace before the payload.
		require.True(t, strings.HasPrefix(raw[strings.Index(raw, ">")+1:], "\n"), raw)
		fin := parseIQ(t, raw).Fin
		require.NotNil(t, fin, raw)
		assert.Equal(t, all[0], strings.TrimSpace(fin.Set.First.ID))
		c.waitResults(t, 11)
		rs := c.resultsFor("q")
		assert.Equal(t, all[:10], ids(rs[:10]))
		for _, r := range rs {
			assert.True(t, r.LeadingWS, "whitespace before <result/>")
			assert.Contains(t, r.Body, "message", "bodies are not altered")
		}
	})
}

func TestFaultExtraResults(t *testing.T) {
	t.Run("stragglers after fin", func(t *testing.T) {
		srv, c, all := faultSetup(t)
		faultOn(srv, "q", fakeserver.Fault{Stragglers: 12, StragglerDelay: 10 * time.Millisecond})
		res, err := c.fetch(testCtx(t), room, history.Query{ID: "q", Limit: 10})
		require.NoError(t, err)
		assert.Equal(t, all[9], res.Set.Last)
		c.waitResults(t, 22)
		rs := c.resultsFor("q")
		assert.Len(t, rs, 22)
		assert.Equal(t, append(append(all[:10:10], all[:10]...), all[:2]...), ids(rs), "page re-sent cyclically after the fin")
		require.NoError(t, srv.WaitIdle(testCtx(t)))
		assert.Equal(t, 22, srv.Stats().Results)
	})
	t.Run("stragglers after error", func(t *testing.T) {
		srv, c, _ := faultSetup(t)
		faultOn(srv, "q", fakeserver.Fault{ErrorCondition: stanza.InternalServerError, Stragglers: 3})
		_, err := c.fetch(testCtx(t), room, history.Query{ID: "q", Limit: 10})
		require.Error(t, err)
		c.waitResults(t, 3)
		assert.Len(t, c.resultsFor("q"), 3, "invented stragglers for an empty page")
	})
	t.Run("unknown query id", func(t *testing.T) {
		srv, c, _ := faultSetup(t)
		faultOn(srv, "q", fakeserver.Fault{UnknownQueryIDResults: 4})
		_, err := c.fetch(testCtx(t), room, history.Query{ID: "q", Limit: 10})
		require.NoError(t, err)
		all := c.allResults()
		assert.Len(t, all, 14)
		unknown := slices.DeleteFunc(all, func(r gotResult) bool { return r.QueryID == "q" })
		assert.Len(t, unknown, 4)
		for _, r := range unknown {
			assert.True(t, strings.HasPrefix(r.QueryID, "unknown-"), r.QueryID)
		}
	})
	t.Run("spoofed from", func(t *testing.T) {
		srv, c, _ := faultSetup(t)
		faultOn(srv, "q", fakeserver.Fault{SpoofedResults: 2})
		_, err := c.fetch(testCtx(t), room, history.Query{ID: "q", Limit: 10})
		require.NoError(t, err)
		spoofed := slices.DeleteFunc(c.resultsFor("q"), func(r gotResult) bool { return r.From == room.String() })
		require.Len(t, spoofed, 2)
		assert.Equal(t, "mallory@evil.example", spoofed[0].From)

		faultOn(srv, "q2", fakeserver.Fault{SpoofedResults: 1, SpoofFrom: jid.MustParse("other@conference.example.net")})
		_, err = c.fetch(testCtx(t), room, history.Query{ID: "q2", Limit: 10})
		require.NoError(t, err)
		assert.Contains(t, slicesMap(c.resultsFor("q2"), func(r gotResult) string { return r.From }), "other@conference.example.net")
	})
	t.Run("flood with oversized bodies", func(t *testing.T) {
		srv, c, _ := faultSetup(t)
		faultOn(srv, "q", fakeserver.Fault{Flood: 40, BodySize: 5000})
		res, err := c.fetch(testCtx(t), room, history.Query{ID: "q", Limit: 10})
		require.NoError(t, err)
		rs := c.resultsFor("q")
		assert.Len(t, rs, 50)
		for _, r := range rs {
			assert.Len(t, r.Body, 5000)
		}
		assert.EqualValues(t, 30, *res.Set.Count, "the fin still describes the real page")
	})
}

func slicesMap[T, U any](in []T, f func(T) U) []U {
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

func TestFaultSilenceAndSlowness(t *testing.T) {
	t.Run("silence", func(t *testing.T) {
		srv, c, _ := faultSetup(t)
		faultOn(srv, "q", fakeserver.Fault{Silence: true})
		_, err := c.fetch(shortCtx(t), room, history.Query{ID: "q", Limit: 10})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		st := srv.Stats()
		assert.Equal(t, 1, st.InFlight, "the query is held")
		assert.Equal(t, 0, st.Results)
		assert.Equal(t, 0, st.Fins)
		srv.Disconnect()
		require.NoError(t, srv.WaitIdle(testCtx(t)))
		require.Error(t, c.waitServed(t))
	})
	t.Run("drop reply", func(t *testing.T) {
		srv, c, _ := faultSetup(t)
		faultOn(srv, "q", fakeserver.Fault{DropReply: true})
		_, err := c.fetch(shortCtx(t), room, history.Query{ID: "q", Limit: 10})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Len(t, c.resultsFor("q"), 10, "results arrived, the reply never did")
		assert.Equal(t, 1, srv.Stats().InFlight)
	})
	t.Run("delay then late answer", func(t *testing.T) {
		srv, c, _ := faultSetup(t)
		faultOn(srv, "q", fakeserver.Fault{Delay: 300 * time.Millisecond})
		_, err := c.fetch(shortCtx(t), room, history.Query{ID: "q", Limit: 10})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		// The late results still arrive: a timed-out query gets stragglers.
		c.waitResults(t, 10)
		require.NoError(t, srv.WaitIdle(testCtx(t)))
		assert.Equal(t, 1, srv.Stats().Fins)
	})
	t.Run("interval between results", func(t *testing.T) {
		srv, c, _ := faultSetup(t)
		faultOn(srv, "q", fakeserver.Fault{ResultInterval: time.Hour})
		_, err := c.fetch(shortCtx(t), room, history.Query{ID: "q", Limit: 10})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		c.waitResults(t, 1)
		st := srv.Stats()
		assert.Equal(t, 1, st.Results, "the second result waits for the interval")
		assert.Equal(t, 1, st.InFlight)
	})
	t.Run("fin delay", func(t *testing.T) {
		srv, c, _ := faultSetup(t)
		faultOn(srv, "q", fakeserver.Fault{FinDelay: time.Hour})
		_, err := c.fetch(shortCtx(t), room, history.Query{ID: "q", Limit: 10})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		c.waitResults(t, 10)
		assert.Equal(t, 0, srv.Stats().Fins)
	})
}

// TestFaultSpoofedReply: the reply comes from another address with the
// right IQ id; mellium matches replies by id only and delivers it.
func TestFaultSpoofedReply(t *testing.T) {
	for name, tc := range map[string]struct {
		f    fakeserver.Fault
		from string
	}{
		"fin":   {fakeserver.Fault{SpoofReply: true}, "mallory@evil.example"},
		"error": {fakeserver.Fault{SpoofReply: true, ErrorCondition: stanza.ItemNotFound, SpoofFrom: jid.MustParse("other@conference.example.net")}, "other@conference.example.net"},
	} {
		t.Run(name, func(t *testing.T) {
			srv, c, _ := faultSetup(t)
			faultOn(srv, "q", tc.f)
			raw, err := c.rawQuery(testCtx(t), room, history.Query{ID: "q", Limit: 10})
			require.NoError(t, err)
			assert.Equal(t, tc.from, parseIQ(t, raw).From, raw)
			for _, r := range c.resultsFor("q") {
				assert.Equal(t, room.String(), r.From, "only the reply is spoofed")
			}
		})
	}
}

// TestStallReads: after StallReads the server reads the stanza it was waiting
// for, then nothing: the client's next write blocks until its deadline.
func TestStallReads(t *testing.T) {
	srv, c, all := faultSetup(t)
	require.NoError(t, srv.StallReads())
	_, err := c.fetch(testCtx(t), room, history.Query{ID: "q1", Limit: 10})
	require.NoError(t, err, "the stanza being waited for is still read and answered")
	assert.Equal(t, all[:10], ids(c.resultsFor("q1")))
	_, err = c.fetch(shortCtx(t), room, history.Query{ID: "q2", Limit: 10})
	require.Error(t, err, "the write cannot complete")
	assert.Equal(t, 1, srv.Stats().Queries)
	srv.Disconnect()
	require.Error(t, c.waitServed(t))
	require.ErrorIs(t, srv.StallReads(), fakeserver.ErrNotConnected)
}

func TestFreeze(t *testing.T) {
	srv, c, all := faultSetup(t)
	_, err := c.fetch(testCtx(t), room, history.Query{ID: "q1", Limit: 10})
	require.NoError(t, err)
	require.NoError(t, srv.Freeze())
	_, err = c.fetch(shortCtx(t), room, history.Query{ID: "q2", Limit: 10})
	require.ErrorIs(t, err, context.DeadlineExceeded, "the query is read but not answered")
	_, err = c.rawIQ(shortCtx(t), stanza.IQ{Type: stanza.GetIQ, To: account.Domain()}, xmlTokens(`<ping xmlns='urn:xmpp:ping'/>`))
	require.ErrorIs(t, err, context.DeadlineExceeded, "nor is a ping")
	assert.Empty(t, c.resultsFor("q2"))
	assert.Equal(t, all[:10], ids(c.resultsFor("q1")))
	srv.Disconnect()
	require.Error(t, c.waitServed(t))
	require.ErrorIs(t, srv.Freeze(), fakeserver.ErrNotConnected)
}

func TestFaultDisconnectMidPage(t *testing.T) {
	srv, c, all := faultSetup(t)
	faultOn(srv, "q", fakeserver.Fault{Disconnect: true, DisconnectAfter: 4})
	_, err := c.fetch(shortCtx(t), room, history.Query{ID: "q", Limit: 10})
	require.Error(t, err, "mellium does not fail a pending IQ when the stream ends; only the deadline does")
	require.Error(t, c.waitServed(t), "the client's stream failed")
	assert.Equal(t, all[:4], ids(c.resultsFor("q")))
	require.NoError(t, srv.WaitIdle(testCtx(t)))
	st := srv.Stats()
	assert.Equal(t, 1, st.Disconnects)
	assert.Equal(t, 4, st.Results)
	assert.Equal(t, 0, st.Fins)
}

func TestScriptSeesQuery(t *testing.T) {
	srv, c, all := faultSetup(t)
	seen := make(chan fakeserver.Query, 1)
	srv.Script(func(q fakeserver.Query) fakeserver.Fault {
		seen <- q
		return fakeserver.Fault{}
	})
	start := t0.Add(time.Minute)
	_, err := c.fetch(testCtx(t), room, history.Query{ID: "q", Limit: 7, Last: true, PageID: all[20], Start: start, With: jid.MustParse("room@conference.example.net/romeo")})
	require.NoError(t, err)
	q := <-seen
	assert.Equal(t, room, q.Archive)
	assert.Equal(t, room, q.To)
	assert.Equal(t, "q", q.QueryID)
	assert.NotEmpty(t, q.IQID)
	assert.True(t, q.HasMax)
	assert.Equal(t, 7, q.Max)
	assert.True(t, q.HasBefore)
	assert.Equal(t, all[20], q.Before)
	assert.True(t, q.Start.Equal(start))
	assert.Equal(t, "room@conference.example.net/romeo", q.With.String())
	assert.Equal(t, 1, q.Seq)
	assert.Equal(t, 1, q.Conn)
	assert.Equal(t, all[13:20], ids(c.resultsFor("q")))

	// An empty <before/> is distinguishable from no <before/>.
	_, err = c.fetch(testCtx(t), jid.JID{}, history.Query{ID: "last", Last: true})
	require.NoError(t, err)
	q = <-seen
	assert.True(t, q.HasBefore)
	assert.Empty(t, q.Before)
	assert.False(t, q.HasMax)
	assert.Equal(t, account, q.Archive)
	assert.True(t, q.To.Equal(jid.JID{}))

	srv.Script(nil)
	got := srv.Queries()
	require.Len(t, got, 2)
	assert.Equal(t, "q", got[0].QueryID)
	assert.Equal(t, "last", got[1].QueryID)
}

func TestQueryLogIsBounded(t *testing.T) {
	srv := newServer(t, fakeserver.WithQueryLog(3))
	seed(srv.Archive(account), 2, t0)
	c := connect(t, srv)
	for i := range 7 {
		_, err := c.fetch(testCtx(t), jid.JID{}, history.Query{ID: "q" + string(rune('0'+i))})
		require.NoError(t, err)
	}
	got := srv.Queries()
	assert.Equal(t, []string{"q4", "q5", "q6"}, slicesMap(got, func(q fakeserver.Query) string { return q.QueryID }))
	require.NoError(t, srv.WaitQueries(testCtx(t), 7))
	assert.Equal(t, 7, srv.Stats().Queries)
}

func TestWaitQueriesBlocksUntilArrival(t *testing.T) {
	srv, c, _ := faultSetup(t)
	faultOn(srv, "held", fakeserver.Fault{Silence: true})
	errc := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_, err := c.fetch(ctx, room, history.Query{ID: "held"})
		errc <- err
	}()
	require.NoError(t, srv.WaitQueries(testCtx(t), 1))
	assert.Equal(t, "held", srv.Queries()[0].QueryID)
	ctxShort, cancelShort := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancelShort()
	require.ErrorIs(t, srv.WaitQueries(ctxShort, 2), context.DeadlineExceeded)
	cancel()
	assert.ErrorIs(t, <-errc, context.Canceled)
}
