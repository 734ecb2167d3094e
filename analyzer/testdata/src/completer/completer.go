// Package completer holds rule 2 fixtures: a function that releases an
// entry on some paths and fails on another without releasing it.
package completer

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
)

type call struct {
	ch    chan []byte
	parts int
}

type Response struct {
	ID      uint64
	Partial bool
	Body    []byte
}

type Client struct {
	mu      sync.Mutex
	pending map[uint64]*call
}

var errBadBody = errors.New("bad body")

func check(b []byte) error { return nil }

// The success path delivers and deletes; the invalid-body path returns
// with the entry still there.
func (c *Client) handle(resp *Response) error {
	if err := check(resp.Body); err != nil {
		return err // want `pending\[resp.ID\] is not deleted when returning here \(error path\); on other paths it is deleted at completer.go:40`
	}
	c.mu.Lock()
	cl := c.pending[resp.ID]
	delete(c.pending, resp.ID)
	c.mu.Unlock()
	if cl != nil {
		cl.ch <- resp.Body
	}
	return nil
}

// clean: a streaming handler keeps the entry while it forwards partial
// responses.
func (c *Client) handleStream(resp *Response) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.pending[resp.ID]
	if !ok {
		return errors.New("unknown id")
	}
	if resp.Partial {
		cl.parts++
		if err := check(resp.Body); err != nil {
			return err
		}
		cl.ch <- resp.Body
		return nil
	}
	delete(c.pending, resp.ID)
	close(cl.ch)
	return nil
}

// clean: the entry was found absent (comma-ok).
func (c *Client) handleUnknown(resp *Response) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.pending[resp.ID]
	if !ok {
		return errors.New("unknown id")
	}
	delete(c.pending, resp.ID)
	cl.ch <- resp.Body
	return nil
}

// clean: the path decided on the key itself.
func (c *Client) handleZero(resp *Response) error {
	if resp.ID == 0 {
		return errors.New("response without id")
	}
	c.mu.Lock()
	delete(c.pending, resp.ID)
	c.mu.Unlock()
	return nil
}

// clean: a waiter that deletes only when it gives up is not a completer;
// on success the reply handler has deleted the entry already.
func (c *Client) await(ctx context.Context, id uint64, ch chan []byte) ([]byte, error) {
	select {
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return nil, ctx.Err()
	case b := <-ch:
		if err := check(b); err != nil {
			return nil, err
		}
		return b, nil
	}
}

// clean: a dispatcher that releases the entry for one kind of message
// only is not its completer.
func (c *Client) dispatch(kind int, resp *Response) error {
	switch kind {
	case 1:
		delete(c.pending, resp.ID)
		return nil
	case 2:
		return nil
	default:
		return errors.New("unknown kind")
	}
}

// The key is decoded from the message: only paths that know it count, and
// the decode error returns before it is known. The invalid-body path after
// it leaks.
func (c *Client) handleRaw(data []byte) error {
	var resp Response
	if err := json.Unmarshal(data, &resp); err != nil {
		return err
	}
	id := resp.ID
	if err := check(resp.Body); err != nil {
		return err // want `pending\[id\] is not deleted when returning here \(error path\); on other paths it is deleted at completer.go:138`
	}
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
	return nil
}

func (c *Client) write(id uint64) error { return nil }

// clean (semantics note 2): on the failing path the function inserted the
// entry itself and deleted it again; on the success path it keeps the
// entry it inserted for the reply handler. Neither is incomplete cleanup.
func (c *Client) startOrFinish(id uint64, finished bool) error {
	if finished {
		delete(c.pending, id)
		return nil
	}
	c.pending[id] = &call{}
	if err := c.write(id); err != nil {
		delete(c.pending, id)
		return err
	}
	return nil
}

type Subscription struct {
	conn *Client
	id   uint64
}

func (c *Client) unsubscribe(s *Subscription) error {
	c.mu.Lock()
	delete(c.pending, s.id)
	c.mu.Unlock()
	return nil
}

var errBadSubscription = errors.New("bad subscription")

// clean: the nil checks decide on the values the entry is reached through.
func (s *Subscription) drain() error {
	if s == nil {
		return errBadSubscription
	}
	conn := s.conn
	if conn == nil {
		return errBadSubscription
	}
	return conn.unsubscribe(s)
}

func (c *Client) work(id uint64) error { return nil }

func (c *Client) untrack(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// clean: the function owns the entry (it inserts it) and a deferred
// closure releases it; the early return before the insert found the entry
// present and belonging to someone else, so it made no entry to release.
func (c *Client) trackOnce(id uint64) error {
	c.mu.Lock()
	if _, dup := c.pending[id]; dup {
		c.mu.Unlock()
		return errors.New("duplicate")
	}
	c.pending[id] = &call{}
	c.mu.Unlock()
	defer func() { c.mu.Lock(); delete(c.pending, id); c.mu.Unlock() }()
	return c.work(id)
}

// clean: the same with a deferred releasing helper, and the entry found
// present with a nil check.
func (c *Client) trackOnceHelper(id uint64) error {
	c.mu.Lock()
	if c.pending[id] != nil {
		c.mu.Unlock()
		return errors.New("duplicate")
	}
	c.pending[id] = &call{parts: 1}
	c.mu.Unlock()
	defer c.untrack(id)
	return c.work(id)
}

// clean: the same with a deferred closure and no mutex, and an early
// return before the insert that does not look at the map at all.
func (c *Client) trackValid(id uint64) error {
	if id == 0 {
		return errors.New("zero id")
	}
	if _, dup := c.pending[id]; dup {
		return errors.New("duplicate")
	}
	c.pending[id] = &call{}
	defer func() { delete(c.pending, id) }()
	return c.work(id)
}
