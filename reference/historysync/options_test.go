package historysync

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync/internal/fakeserver"
)

// logRecorder is a slog.Handler that keeps what is logged through it.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}

// logged reports whether a record with this level and message was logged
// with the attribute archive=a.
func (h *logRecorder) logged(level slog.Level, msg string, a Archive) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.records {
		if r.Level != level || r.Message != msg {
			continue
		}
		found := false
		r.Attrs(func(attr slog.Attr) bool {
			found = attr.Key == "archive" && attr.Value.String() == a.String()
			return !found
		})
		if found {
			return true
		}
	}
	return false
}

// TestOptionsReachTheWire: WithPageSize is the RSM <max/> of every query,
// WithOverlap moves the start of the newest-page query that looks for a
// newest stored id the archive forgot, and WithoutRawXML stores messages
// without their XML (the default keeps it).
func TestOptionsReachTheWire(t *testing.T) {
	const pageSize, overlap = 7, 90 * time.Second
	e := newEnv(t, nil, WithPageSize(pageSize), WithOverlap(overlap), WithoutRawXML())
	a := e.account()
	e.fill(a, 0, 20, stamps(base, 2))
	rep, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	e.requireInSync(a)
	assert.Equal(t, 3, rep.Pages, "20 messages in pages of %d", pageSize)
	for _, q := range e.srv.Queries() {
		assert.Equal(t, pageSize, q.Max, "RSM <max/> of query %d", q.Seq)
	}
	msgs, err := e.store.Messages(e.ctx, a, AllMessages())
	require.NoError(t, err)
	for _, m := range msgs {
		require.Nil(t, m.Raw, "WithoutRawXML")
		require.NotEmpty(t, m.Body)
	}

	ids := e.srv.Archive(a.JID).IDs()
	e.srv.Archive(a.JID).Forget(ids[len(ids)-1]) // the newest stored id
	e.fill(a, 20, 3, stamps(base, 2))
	_, err = e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	var newest []fakeserver.Query
	for _, q := range e.srv.Queries() {
		if q.HasBefore && q.Before == "" {
			newest = append(newest, q)
		}
	}
	require.Len(t, newest, 2, "the first sync's newest page, and the one after the cursor reset")
	assert.Equal(t, stamps(base, 2)(19).Add(-overlap), newest[1].Start, "newest-page start with WithOverlap")

	// The default keeps the XML of each message.
	d := newEnv(t, nil)
	b := d.account()
	d.fill(b, 0, 3, stamps(base, 2))
	_, err = d.syncer.CatchUp(d.ctx, b)
	require.NoError(t, err)
	msgs, err = d.store.Messages(d.ctx, b, AllMessages())
	require.NoError(t, err)
	require.Len(t, msgs, 3)
	for _, m := range msgs {
		assert.Contains(t, string(m.Raw), m.Body)
	}
}

// TestLoggerAndSyncFinished: WithLogger receives the pages (debug) and the
// retries and failures (warn), and every run ends with an EventSyncFinished
// that carries its message count and error.
func TestLoggerAndSyncFinished(t *testing.T) {
	logs := &logRecorder{}
	e := newEnv(t, nil, WithLogger(slog.New(logs)), fastRetry(2))
	a := e.account()
	e.fill(a, 0, 12, stamps(base, 2))
	_, err := e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	e.waitEvents(EventSyncFinished, 1)

	e.fill(a, 12, 5, stamps(base, 2))
	e.faultAlways(fakeserver.Fault{ErrorCondition: stanza.InternalServerError})
	_, err = e.syncer.CatchUp(e.ctx, a)
	require.Error(t, err)
	e.waitEvents(EventSyncFinished, 2)

	finished := e.events.ofKind(EventSyncFinished)
	require.Len(t, finished, 2)
	assert.Equal(t, a, finished[0].Archive)
	assert.Equal(t, 12, finished[0].Messages)
	assert.Equal(t, 12, finished[0].Inserted)
	require.NoError(t, finished[0].Err)
	assert.Zero(t, finished[1].Messages)
	var se stanza.Error
	require.ErrorAs(t, finished[1].Err, &se)
	assert.Equal(t, stanza.InternalServerError, se.Condition)

	assert.True(t, logs.logged(slog.LevelDebug, "historysync: page", a), "pages at debug level")
	assert.True(t, logs.logged(slog.LevelWarn, "historysync: page failed, retrying", a), "retries at warn level")
	assert.True(t, logs.logged(slog.LevelWarn, "historysync: page failed", a), "failures at warn level")
}

// TestOptionValidation: one rule for every option: a zero value keeps the
// default, a value out of range makes New fail with an error naming the
// option; nothing panics and nothing is ignored silently.
func TestOptionValidation(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		opt  Option
		name string // in the error; empty: valid
	}{
		{WithPageSize(-1), "WithPageSize"},
		{WithPageTimeout(-time.Second), "WithPageTimeout"},
		{WithPingTimeout(-time.Second), "WithPingTimeout"},
		{WithConcurrency(-2), "WithConcurrency"},
		{WithOverlap(-time.Minute), "WithOverlap"},
		{WithRetry(RetryPolicy{MaxAttempts: -1}), "WithRetry: MaxAttempts"},
		{WithRetry(RetryPolicy{BaseDelay: time.Minute, MaxDelay: time.Second}), "WithRetry"},
		{WithBufferLimits(BufferLimits{TotalBytes: -1}), "WithBufferLimits: TotalBytes"},
		{WithEvents(func(Event) {}, -1), "WithEvents"},
		{WithPolicy(Kind(9), Policy{}), "WithPolicy"},
		{WithPolicy(RoomArchive, Policy{MaxMessages: -5}), "WithPolicy(room)"},
		{WithPolicy(RoomArchive, Policy{FirstSync: FirstSync(7)}), "WithPolicy(room)"},
		{WithPolicy(AccountArchive, Policy{FirstSync: FirstSyncSince}), "WithPolicy(account)"},
		{WithPolicy(AccountArchive, Policy{LiveExtend: Switch(3)}), "WithPolicy(account)"},
		{WithPageSize(0), ""},
		{WithPageTimeout(0), ""},
		{WithConcurrency(0), ""},
		{WithRetry(RetryPolicy{}), ""},
		{WithBufferLimits(BufferLimits{}), ""},
		{WithPolicy(RoomArchive, Policy{}), ""},
		{WithPolicy(AccountArchive, Policy{MaxMessages: Unlimited}), ""},
		{WithLogger(nil), ""},
		{WithClock(nil), ""},
		{WithEvents(nil, 0), ""},
	} {
		s, err := New(e.sess, NewMemStore(), tc.opt)
		if tc.name == "" {
			require.NoError(t, err)
			assert.Equal(t, defaultConfig().pageSize, s.cfg.pageSize)
			assert.Equal(t, defaultConfig().policies, s.cfg.policies)
			assert.Equal(t, defaultConfig().retry, s.cfg.retry)
			assert.Equal(t, defaultConfig().limits, s.cfg.limits)
			require.NoError(t, s.Close())
			continue
		}
		require.Error(t, err, tc.name)
		assert.Nil(t, s)
		assert.True(t, strings.HasPrefix(err.Error(), "historysync: New: "+tc.name+": "), "%q names %s", err, tc.name)
	}
	_, err := New(nil, nil, WithPageSize(-1))
	require.Error(t, err)
	for _, want := range []string{"no session", "no store", "WithPageSize"} {
		assert.Contains(t, err.Error(), want, "every problem is reported")
	}
}

// TestPolicyFieldsMerge: WithPolicy changes the fields that are set and
// keeps the kind's defaults for the others (setting FirstSync alone keeps a
// room's live extension and per-run cap).
func TestPolicyFieldsMerge(t *testing.T) {
	e := newEnv(t, nil,
		WithPolicy(RoomArchive, Policy{FirstSync: FirstSyncSince, Since: 5 * 24 * time.Hour}),
		WithPolicy(RoomArchive, Policy{MaxMessages: 300}),
		WithPolicy(AccountArchive, Policy{LiveExtend: On}))
	assert.Equal(t, Policy{FirstSync: FirstSyncSince, Since: 5 * 24 * time.Hour, MaxMessages: 300, LiveExtend: On}, e.syncer.cfg.policies[RoomArchive])
	assert.Equal(t, Policy{FirstSync: FirstSyncAll, MaxMessages: Unlimited, LiveExtend: On}, e.syncer.cfg.policies[AccountArchive])

	// The room's live extension is still on: a live message extends the
	// stored range after a catch-up.
	r := room("merged")
	e.fill(r, 0, 3, func(int) time.Time { return time.Now() })
	_, err := e.syncer.CatchUp(e.ctx, r)
	require.NoError(t, err)
	occupant, err := r.JID.WithResource("romeo")
	require.NoError(t, err)
	_, err = e.srv.SendLive(e.ctx, r.JID, fakeserver.Message{From: occupant, Body: "live"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return e.syncer.Stats().Live == 1 }, testTimeout, time.Millisecond)
	e.requireInSync(r)
}
