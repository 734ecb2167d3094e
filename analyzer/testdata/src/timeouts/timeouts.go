// Package timeouts holds rule 1 fixtures: timeout and cancellation
// branches.
package timeouts

import (
	"context"
	"errors"
	"time"
)

type Reply struct{}

type Conn struct {
	waiters map[string]chan *Reply
}

func (c *Conn) publish(token string) error { return nil }

var ErrTimeout = errors.New("timeout")

// The ctx.Done() case leaves the waiter behind.
func (c *Conn) request(ctx context.Context, token string) (*Reply, error) {
	ch := make(chan *Reply, 1)
	c.waiters[token] = ch // want `waiters\[token\] is not deleted when returning at timeouts.go:31 \(cancellation\)`
	if err := c.publish(token); err != nil {
		delete(c.waiters, token)
		return nil, err
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		return r, nil
	}
}

// The time.After case leaves the waiter behind.
func (c *Conn) requestTimeout(token string, d time.Duration) (*Reply, error) {
	ch := make(chan *Reply, 1)
	c.waiters[token] = ch // want `waiters\[token\] is not deleted when returning at timeouts.go:47 \(timeout\)`
	if err := c.publish(token); err != nil {
		delete(c.waiters, token)
		return nil, err
	}
	select {
	case <-time.After(d):
		return nil, ErrTimeout
	case r := <-ch:
		return r, nil
	}
}

// A timer's channel is a timeout too, even when the function has no error
// result.
func (c *Conn) requestTimer(token string, d time.Duration) *Reply {
	ch := make(chan *Reply, 1)
	c.waiters[token] = ch // want `waiters\[token\] is not deleted when returning at timeouts.go:62 \(timeout\)`
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case r := <-ch:
		return r
	}
}

// clean: both the error and the cancellation paths delete; the success
// path was completed by the reply handler.
func (c *Conn) requestFixed(ctx context.Context, token string) (*Reply, error) {
	ch := make(chan *Reply, 1)
	c.waiters[token] = ch
	if err := c.publish(token); err != nil {
		delete(c.waiters, token)
		return nil, err
	}
	select {
	case <-ctx.Done():
		delete(c.waiters, token)
		return nil, ctx.Err()
	case r := <-ch:
		return r, nil
	}
}

// A ctx.Err() check is a cancellation branch.
func (c *Conn) subscribe(ctx context.Context, token string) {
	c.waiters[token] = make(chan *Reply, 1) // want `waiters\[token\] is not deleted when returning at timeouts.go:90 \(cancellation\)`
	if ctx.Err() != nil {
		return
	}
	_ = c.publish(token)
}

// clean: the waiter is never abandoned; a successful return keeps the
// entry for the reply handler.
func (c *Conn) fireAndForget(token string) *Reply {
	ch := make(chan *Reply, 1)
	c.waiters[token] = ch
	return <-ch
}

// errors.Is(err, context.DeadlineExceeded) is a timeout branch.
func (c *Conn) awaitDeadline(ctx context.Context, token string) {
	c.waiters[token] = make(chan *Reply, 1) // want `waiters\[token\] is not deleted when returning at timeouts.go:108 \(timeout\)`
	err := c.wait(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return
	}
	delete(c.waiters, token)
}

func (c *Conn) wait(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }

var errClosed = errors.New("connection closed")

// clean: once the reply channel delivers (or is closed), the code that
// completed the entry has removed it.
func (c *Conn) requestClosed(ctx context.Context, token string) (*Reply, error) {
	ch := make(chan *Reply, 1)
	c.waiters[token] = ch
	if err := c.publish(token); err != nil {
		delete(c.waiters, token)
		return nil, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, errClosed
		}
		return r, nil
	case <-ctx.Done():
		delete(c.waiters, token)
		return nil, ctx.Err()
	}
}
