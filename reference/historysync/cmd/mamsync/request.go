package main

import (
	"context"
	"fmt"
	"time"
)

// requestTimeout bounds each request mamsync makes on the session itself
// (disco#info, joining a room); the Syncer bounds its own queries.
const requestTimeout = 30 * time.Second

// requestContext returns the context for one request on the session: it
// ends when ctx ends or after d (with a cause saying so), until release is
// called; after release it never ends.
//
// Call release as soon as the request returned, instead of cancelling:
// mellium (v0.22.0) watches the context of every write from a goroutine that,
// if the context ends after the write returned but before that goroutine ran,
// may still set a past write deadline on the connection for a moment and fail
// a concurrent write, such as one of the Syncer's queries (see historysync's
// package documentation, "Sessions").
func requestContext(ctx context.Context, d time.Duration) (req context.Context, release func()) {
	req, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	timer := time.AfterFunc(d, func() { cancel(fmt.Errorf("no answer within %v", d)) })
	stop := context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
	return req, func() {
		timer.Stop()
		stop()
	}
}
