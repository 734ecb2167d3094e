package historysync

import (
	"context"
	"log/slog"
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
// WithOverlap moves the start of the newest-page query, and WithoutRawXML
// stores messages without their XML (the default keeps it).
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

	e.fill(a, 20, 3, stamps(base, 2))
	_, err = e.syncer.CatchUp(e.ctx, a)
	require.NoError(t, err)
	q := e.srv.Queries()
	assert.Equal(t, stamps(base, 2)(19).Add(-overlap), q[len(q)-1].Start, "newest-page start with WithOverlap")

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
