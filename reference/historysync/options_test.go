package historysync

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync/internal/fakeserver"
)

// lockedBuffer is a bytes.Buffer safe for the Syncer's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
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
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newEnv(t, nil, WithLogger(logger), fastRetry(2))
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

	var finished []Event
	e.events.mu.Lock()
	for _, ev := range e.events.events {
		if ev.Kind == EventSyncFinished {
			finished = append(finished, ev)
		}
	}
	e.events.mu.Unlock()
	require.Len(t, finished, 2)
	assert.Equal(t, a, finished[0].Archive)
	assert.Equal(t, 12, finished[0].Messages)
	assert.Equal(t, 12, finished[0].Inserted)
	require.NoError(t, finished[0].Err)
	assert.Zero(t, finished[1].Messages)
	var se stanza.Error
	require.ErrorAs(t, finished[1].Err, &se)
	assert.Equal(t, stanza.InternalServerError, se.Condition)

	out := logs.String()
	assert.Contains(t, out, `level=DEBUG msg="historysync: page"`)
	assert.Contains(t, out, `level=WARN msg="historysync: page failed, retrying"`)
	assert.Contains(t, out, `level=WARN msg="historysync: page failed"`)
	assert.Contains(t, out, "archive="+a.String())
}
