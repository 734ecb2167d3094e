package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRequestContextTimeout(t *testing.T) {
	req, release := requestContext(context.Background(), 10*time.Millisecond)
	defer release()
	select {
	case <-req.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the request context did not end after its timeout")
	}
	assert.EqualError(t, context.Cause(req), "no answer within 10ms")
}

func TestRequestContextParent(t *testing.T) {
	parent, cancel := context.WithCancelCause(context.Background())
	req, release := requestContext(parent, time.Hour)
	defer release()
	stop := context.Canceled
	cancel(stop)
	select {
	case <-req.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the request context did not end with its parent")
	}
	require.ErrorIs(t, context.Cause(req), stop)
}

// TestRequestContextReleased: once released, the context never ends, not
// with its parent and not after its timeout.
func TestRequestContextReleased(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	req, release := requestContext(parent, 10*time.Millisecond)
	release()
	cancel()
	select {
	case <-req.Done():
		t.Fatal("a released request context ended")
	case <-time.After(50 * time.Millisecond):
	}
	assert.NoError(t, req.Err())
}
