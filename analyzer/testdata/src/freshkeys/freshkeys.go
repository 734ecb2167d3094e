// Package freshkeys holds fixtures for entries a helper registers under a
// key it makes itself (an RPC client's sequence number): the caller cannot
// name the key, and is responsible only when it stops waiting for the
// entry's reply.
package freshkeys

import (
	"context"
	"sync"
)

type Call struct {
	Done  chan *Call
	Error error
}

type Client struct {
	mu      sync.Mutex
	seq     uint64
	pending map[uint64]*Call
}

func (c *Client) write(seq uint64) error { return nil }

// send registers call under a fresh sequence number and hands the reply
// to the reader goroutine (input).
// clean: the write error path deletes; success keeps the entry.
func (c *Client) send(call *Call) {
	c.mu.Lock()
	seq := c.seq
	c.seq++
	c.pending[seq] = call
	c.mu.Unlock()
	if err := c.write(seq); err != nil {
		c.mu.Lock()
		delete(c.pending, seq)
		c.mu.Unlock()
		call.Error = err
		call.Done <- call
	}
}

// clean: a helper of the helper.
func (c *Client) start() *Call {
	call := &Call{Done: make(chan *Call, 1)}
	c.send(call)
	return call
}

// input delivers replies.
func (c *Client) input(seq uint64) {
	c.mu.Lock()
	call := c.pending[seq]
	delete(c.pending, seq)
	c.mu.Unlock()
	if call != nil {
		call.Done <- call
	}
}

// The cancellation case stops waiting for the call start registered.
func (c *Client) call(ctx context.Context) error {
	done := c.start().Done // want `the pending entry added by c.start\(\) is not deleted when returning at freshkeys.go:66 \(cancellation\)`
	select {
	case <-ctx.Done():
		return ctx.Err()
	case call := <-done:
		return call.Error
	}
}

// clean: the error comes from the completed call: the reader goroutine
// has deleted the entry already.
func (c *Client) callBlocking() error {
	call := <-c.start().Done
	return call.Error
}

// clean: the cancellation case does not wait on the entry's reply.
func (c *Client) callElsewhere(ctx context.Context, other chan int) error {
	c.start()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-other:
		return nil
	}
}
