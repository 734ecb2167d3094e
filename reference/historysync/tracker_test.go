package historysync

import (
	"context"
	"encoding/xml"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestQuery(id string) *query {
	return &query{id: id, maxResults: 1000, maxBytes: 1 << 30}
}

// TestAdmissionControl: a query is let out only when its page, at the
// running size estimate, fits the global caps beside the pages in flight;
// otherwise it waits for one to end. Alone, a page larger than the caps is
// let out smaller.
func TestAdmissionControl(t *testing.T) {
	ctx := context.Background()
	tr := newTracker(BufferLimits{TotalResults: 1000, TotalBytes: 10 * initialEstimate})
	q1, q2, q3 := newTestQuery("1"), newTestQuery("2"), newTestQuery("3")
	for _, q := range []*query{q1, q2} {
		n, err := tr.begin(ctx, ctx, q, 5)
		require.NoError(t, err)
		require.Equal(t, 5, n)
	}

	// The caps are reserved: the third page waits (here until its context
	// ends, which proves it waited)...
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err := tr.begin(short, ctx, q3, 5)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.EqualValues(t, 2, tr.gauges().tracked, "the waiting query is not tracked")

	// ... until a query in flight ends.
	admitted := make(chan int, 1)
	go func() {
		n, err := tr.begin(ctx, ctx, q3, 5)
		assert.NoError(t, err)
		admitted <- n
	}()
	tr.end(q1, nil)
	select {
	case n := <-admitted:
		assert.Equal(t, 5, n)
	case <-time.After(testTimeout):
		t.Fatal("the waiting query was not admitted when another ended")
	}
	// The Syncer's context ends the wait too.
	done, stop := context.WithCancel(ctx)
	stop()
	_, err = tr.begin(ctx, done, newTestQuery("4"), 5)
	require.ErrorIs(t, err, context.Canceled)
	tr.end(q2, nil)
	tr.end(q3, nil)

	// Alone, a page that does not fit is admitted smaller.
	q5 := newTestQuery("5")
	n, err := tr.begin(ctx, ctx, q5, 50)
	require.NoError(t, err)
	assert.Equal(t, 10, n, "TotalBytes / estimate")
	tr.end(q5, nil)
	g := tr.gauges()
	assert.Zero(t, g.tracked+g.results+g.bytes, "released: %+v", g)

	// The same with a results cap.
	tr = newTracker(BufferLimits{TotalResults: 8, TotalBytes: 1 << 30})
	q6 := newTestQuery("6")
	n, err = tr.begin(ctx, ctx, q6, 5)
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	short, cancel = context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = tr.begin(short, ctx, newTestQuery("7"), 5)
	require.ErrorIs(t, err, context.DeadlineExceeded, "5 + 5 results exceed the cap of 8")
	tr.end(q6, nil)
	n, err = tr.begin(ctx, ctx, newTestQuery("8"), 50)
	require.NoError(t, err)
	assert.Equal(t, 8, n)

	// A query id is tracked once.
	_, err = tr.begin(ctx, ctx, newTestQuery("8"), 1)
	require.ErrorContains(t, err, "already tracked")
}

// TestHardCaps: beyond the admission estimate, the caps are hard: a result
// that would exceed the query's byte cap or the global caps is dropped as
// overflow; more results than asked for are a flood.
func TestHardCaps(t *testing.T) {
	ctx := context.Background()
	toks := []xml.Token{xml.StartElement{Name: nameResult}, xml.EndElement{Name: nameResult}}
	t.Run("global results", func(t *testing.T) {
		tr := newTracker(BufferLimits{TotalResults: 3, TotalBytes: 1 << 30})
		q := newTestQuery("q")
		_, err := tr.begin(ctx, ctx, q, 3)
		require.NoError(t, err)
		for i := range 3 {
			require.Zero(t, tr.add(q, capture{archiveID: "a"}, toks, 100), "result %d", i)
		}
		assert.Equal(t, DropOverflow, tr.add(q, capture{archiveID: "b"}, toks, 100))
		assert.True(t, q.overflow)
		assert.EqualValues(t, 3, tr.gauges().results)
		tr.end(q, nil)
		assert.Zero(t, tr.gauges().results)
	})
	t.Run("global bytes", func(t *testing.T) {
		tr := newTracker(BufferLimits{TotalResults: 100, TotalBytes: 1000})
		q := newTestQuery("q")
		_, err := tr.begin(ctx, ctx, q, 3)
		require.NoError(t, err)
		require.Zero(t, tr.add(q, capture{archiveID: "a"}, toks, 600))
		assert.Equal(t, DropOverflow, tr.add(q, capture{archiveID: "b"}, toks, 600))
		assert.EqualValues(t, 600, tr.gauges().peakBytes)
		tr.end(q, nil)
	})
	t.Run("query bytes", func(t *testing.T) {
		tr := newTracker(DefaultBufferLimits())
		q := newTestQuery("q")
		q.maxBytes = 1000
		_, err := tr.begin(ctx, ctx, q, 3)
		require.NoError(t, err)
		require.Zero(t, tr.add(q, capture{archiveID: "a"}, toks, 600))
		assert.Equal(t, DropOverflow, tr.add(q, capture{archiveID: "b"}, toks, 600))
		assert.False(t, q.flooded)
		tr.end(q, nil)
	})
	t.Run("flood", func(t *testing.T) {
		tr := newTracker(DefaultBufferLimits())
		q := newTestQuery("q")
		q.maxResults = 2
		_, err := tr.begin(ctx, ctx, q, 2)
		require.NoError(t, err)
		require.Zero(t, tr.add(q, capture{archiveID: "a"}, toks, 10))
		require.Zero(t, tr.add(q, capture{archiveID: "b"}, toks, 10))
		assert.Equal(t, DropFlood, tr.add(q, capture{archiveID: "c"}, toks, 10))
		assert.True(t, q.flooded)
		tr.end(q, nil)
	})
	t.Run("late", func(t *testing.T) {
		tr := newTracker(DefaultBufferLimits())
		q := newTestQuery("q")
		_, err := tr.begin(ctx, ctx, q, 2)
		require.NoError(t, err)
		tr.finish(q)
		got, reason := tr.lookup("q")
		assert.Nil(t, got)
		assert.Equal(t, DropLate, reason, "after the reply, before the release")
		assert.Equal(t, DropLate, tr.add(q, capture{archiveID: "a"}, toks, 10))
		tr.end(q, nil)
		_, reason = tr.lookup("q")
		assert.Equal(t, DropLate, reason, "a recently ended query")
		_, reason = tr.lookup("never")
		assert.Equal(t, DropUnknown, reason)
	})
}

// TestCheckPage: the buffered results must be exactly the page the <fin/>
// describes.
func TestCheckPage(t *testing.T) {
	page := func(ids ...string) []Message {
		msgs := make([]Message, len(ids))
		for i, id := range ids {
			msgs[i].ArchiveID = id
		}
		return msgs
	}
	for _, tc := range []struct {
		name string
		q    query
		fin  Fin
		msgs []Message
		want error
	}{
		{"page", query{}, Fin{First: "a", Last: "c"}, page("a", "b", "c"), nil},
		{"empty page", query{}, Fin{Complete: true}, nil, nil},
		{"one result", query{}, Fin{First: "a", Last: "a"}, page("a"), nil},
		{"flooded", query{flooded: true}, Fin{First: "a", Last: "a"}, page("a"), ErrFlood},
		{"overflow", query{overflow: true}, Fin{First: "a", Last: "a"}, page("a"), ErrBufferFull},
		{"unidentified results", query{malformed: 1}, Fin{First: "a", Last: "a"}, page("a"), ErrMalformed},
		{"results missing", query{}, Fin{First: "a", Last: "b"}, nil, ErrPageMismatch},
		{"first differs", query{}, Fin{First: "x", Last: "c"}, page("a", "b", "c"), ErrPageMismatch},
		{"last differs", query{}, Fin{First: "a", Last: "x"}, page("a", "b", "c"), ErrPageMismatch},
		{"results without first/last", query{}, Fin{}, page("a"), ErrPageMismatch},
		{"id twice", query{}, Fin{First: "a", Last: "c"}, page("a", "b", "b", "c"), ErrPageMismatch},
		{"first id again", query{}, Fin{First: "a", Last: "a"}, page("a", "a"), ErrPageMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkPage(&tc.q, tc.fin, tc.msgs)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
			if errors.Is(tc.want, ErrPageMismatch) || errors.Is(tc.want, ErrFlood) {
				return
			}
			assert.NotErrorIs(t, err, ErrPageMismatch)
		})
	}
}
