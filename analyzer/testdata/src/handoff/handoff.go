// Package handoff holds fixtures where the key is handed off to code that
// releases it later.
package handoff

import (
	"context"
	"errors"
	"sync"
	"time"
)

type call struct {
	id     string
	cancel func()
}

type Client struct {
	mu       sync.Mutex
	pending  map[string]*call
	expired  chan string
	timeouts chan *timeout
	closed   bool
	done     chan struct{}
}

type timeout struct{ id string }

func (c *Client) write(id string) error { return nil }

func (c *Client) remove(id string) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// expire releases the entry when the context ends.
func (c *Client) expire(ctx context.Context, id string) {
	<-ctx.Done()
	c.remove(id)
}

// clean: a goroutine started on the path releases the entry later.
func (c *Client) startGoroutine(ctx context.Context, id string) error {
	c.pending[id] = &call{id: id}
	go c.expire(ctx, id)
	return c.write(id)
}

// clean: a goroutine closure releases the entry later.
func (c *Client) startClosure(ctx context.Context, id string) error {
	c.pending[id] = &call{id: id}
	go func() {
		<-ctx.Done()
		c.remove(id)
	}()
	return c.write(id)
}

// clean: time.AfterFunc releases the entry later.
func (c *Client) startTimer(id string, d time.Duration) error {
	c.pending[id] = &call{id: id}
	time.AfterFunc(d, func() { c.remove(id) })
	return c.write(id)
}

// clean: the closure that releases the entry is stored for later.
func (c *Client) startStored(id string) error {
	cl := &call{id: id}
	c.pending[id] = cl
	cl.cancel = func() { c.remove(id) }
	return c.write(id)
}

// clean: the key is sent to the package's expiry loop, which deletes it.
func (c *Client) startChannel(id string) error {
	c.pending[id] = &call{id: id}
	if err := c.write(id); err != nil {
		c.expired <- id
		return err
	}
	return nil
}

// clean: a struct carrying the key is sent to the loop that reads it back.
func (c *Client) startStruct(id string) error {
	c.pending[id] = &call{id: id}
	if err := c.write(id); err != nil {
		c.timeouts <- &timeout{id: id}
		return err
	}
	return nil
}

// expiryLoop is the release code reading keys back from channels.
func (c *Client) expiryLoop() {
	for {
		select {
		case id := <-c.expired:
			c.remove(id)
		case t := <-c.timeouts:
			c.remove(t.id)
		}
	}
}

// A goroutine that does not release does not help.
func (c *Client) startUnrelated(ctx context.Context, id string) error {
	c.pending[id] = &call{id: id} // want `pending\[id\] is not deleted when returning at handoff.go:110 \(error path\)`
	go func() { <-ctx.Done() }()
	return c.write(id)
}

// close empties the map and marks the client closed.
func (c *Client) close() {
	c.mu.Lock()
	c.closed = true
	for id := range c.pending {
		delete(c.pending, id)
	}
	close(c.done)
	c.mu.Unlock()
}

// clean: once closed, close() has emptied the map.
func (c *Client) startClosed(id string) error {
	c.mu.Lock()
	c.pending[id] = &call{id: id}
	c.mu.Unlock()
	err := c.write(id)
	if err != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed {
			return err
		}
		delete(c.pending, id)
		return err
	}
	return nil
}

// clean: the done channel is closed by close(), which empties the map.
func (c *Client) wait(id string, ch chan string) (string, error) {
	c.pending[id] = &call{id: id}
	if err := c.write(id); err != nil {
		c.remove(id)
		return "", err
	}
	select {
	case <-c.done:
		return "", context.Canceled
	case r := <-ch:
		return r, nil
	}
}

type stream struct {
	id   string
	sess *Session
}

type Session struct {
	mu       sync.Mutex
	streams  map[string]*stream
	acceptCh chan *stream
}

func newStream(s *Session, id string) *stream { return &stream{id: id, sess: s} }

// Close is the stream's release: it removes its entry by its id.
func (st *stream) Close() { // want Close:`mapleak\(releases p0.sess.streams\[p0.id\]{must}\)`
	st.sess.mu.Lock()
	delete(st.sess.streams, st.id)
	st.sess.mu.Unlock()
}

// incoming registers a stream and hands it to the acceptor, which owns
// it from then on.
// clean: the stream (which carries its key) is handed off.
func (s *Session) incoming(id string) error {
	st := newStream(s, id)
	s.mu.Lock()
	s.streams[id] = st
	s.mu.Unlock()
	s.acceptCh <- st
	return nil
}

// clean: the entry incoming made was handed off; a later protocol error
// is not its leak.
func (s *Session) handleFrame(id string, data []byte) error {
	if err := s.incoming(id); err != nil {
		return err
	}
	if len(data) == 0 {
		return errEmpty
	}
	return nil
}

var errEmpty = errors.New("empty frame")

// setProbe registers a handler and its reaper: the reaper is armed before
// the insert.
// clean: time.AfterFunc releases the entry later.
func (c *Client) setProbe(id string, d time.Duration) {
	t := time.AfterFunc(d, func() { c.remove(id) })
	c.mu.Lock()
	c.pending[id] = &call{id: id, cancel: func() { t.Stop() }}
	c.mu.Unlock()
}

// clean: the entry setProbe registered has a reaper.
func (c *Client) probe(id string) error {
	c.setProbe(id, time.Second)
	if err := c.write(id); err != nil {
		return err
	}
	return nil
}

type Request struct{ id string }

// ID is a getter: request.ID() computed twice is the same key.
func (r *Request) ID() string { return r.id }

// cancelHandler wraps a handler; the reply callback forgets the request.
// clean: the reply closure that deletes the entry is passed on.
func cancelHandler(handler func(req *Request, reply func() error) error) func(req *Request) error {
	var mu sync.Mutex
	handling := make(map[string]func())
	return func(req *Request) error {
		mu.Lock()
		handling[req.ID()] = func() {}
		mu.Unlock()
		reply := func() error {
			mu.Lock()
			delete(handling, req.ID())
			mu.Unlock()
			return nil
		}
		return handler(req, reply)
	}
}

type Replier func() error

// replyHandler wraps the reply only for calls (reply changes on one
// branch, so the closure reaches the handler through a phi).
// clean: the wrapped reply that deletes the entry is passed on.
func replyHandler(handler func(req *Request, reply Replier) error) func(req *Request, reply Replier, isCall bool) error {
	var mu sync.Mutex
	handling := make(map[string]func())
	return func(req *Request, reply Replier, isCall bool) error {
		if isCall {
			mu.Lock()
			handling[req.ID()] = func() {}
			mu.Unlock()
			inner := reply
			reply = func() error {
				mu.Lock()
				delete(handling, req.ID())
				mu.Unlock()
				return inner()
			}
		}
		return handler(req, reply)
	}
}
