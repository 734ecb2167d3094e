package historysync

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// isDone reports whether ctx's Done channel is closed.
func isDone(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

// TestSendContextEndsWithQuery checks that a send context ends with its
// query's context while attached: a page timeout or cancellation during the
// write or the wait for the reply still reaches mellium.
func TestSendContextEndsWithQuery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errCause := errors.New("page timeout")
		qctx, cancel := context.WithCancelCause(context.Background())
		sendCtx, _ := newSendContext(qctx)
		require.False(t, isDone(sendCtx))
		require.NoError(t, sendCtx.Err())

		cancel(errCause)
		synctest.Wait() // the AfterFunc has run
		assert.True(t, isDone(sendCtx), "Done must close when the query's context ends")
		require.ErrorIs(t, sendCtx.Err(), context.Canceled)
		assert.ErrorIs(t, context.Cause(sendCtx), errCause)
	})
}

// TestSendContextDetached is the property runQuery relies on to keep
// mellium's write watcher from firing late: once detached (after SendIQ
// returned), the send context never ends, whatever happens to the query's
// context, so a watcher that runs only after the write ended and the query's
// context was cancelled (the worst scheduling) sees only the write's end.
func TestSendContextDetached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		qctx, cancel := context.WithCancel(context.Background())
		sendCtx, detach := newSendContext(qctx)
		require.True(t, detach(), "detach of a live send context")

		writeDone, endWrite := context.WithCancel(context.Background())
		endWrite()
		cancel() // runQuery's deferred cancel, right after the reply
		synctest.Wait()

		// mellium's watcher, scheduled late: both cases are examined at once.
		fired := make(chan bool, 1)
		go func() {
			select {
			case <-sendCtx.Done():
				fired <- true // would set a write deadline in the past
			case <-writeDone.Done():
				fired <- false
			}
		}()
		assert.False(t, <-fired, "the watcher saw the send context end after the write")
		assert.False(t, isDone(sendCtx))
		require.NoError(t, sendCtx.Err())
		assert.False(t, detach(), "a second detach reports the context already detached")
	})
}
