// Package fixes holds findings with suggested fixes; fixes.go.golden is
// the source after applying all of them.
package fixes

import (
	"context"
	"sync"
)

type call struct{}

type Client struct {
	mu      sync.Mutex
	pending map[uint64]*call
	waiters sync.Map
}

type Plain struct {
	inflight map[string]*call
}

func write(id uint64) error { return nil }

func (p *Plain) done(id string) { delete(p.inflight, id) }

// No lock anywhere: a plain delete.
func (p *Plain) plain(id string) error {
	p.inflight[id] = &call{} // want `inflight\[id\] is not deleted when returning at fixes.go:30 \(error path\)`
	if err := write(0); err != nil {
		return err
	}
	return nil
}

// Two leaking returns: one fix, two edits.
func (p *Plain) twice(id string) error {
	p.inflight[id] = &call{} // want `inflight\[id\] is not deleted when returning at fixes.go:39 \(error path\) and fixes.go:42 \(error path\)`
	if err := write(1); err != nil {
		return err
	}
	if err := write(2); err != nil {
		return err
	}
	return nil
}

// The insert runs under c.mu, released before the return: the fix takes
// the lock.
func (c *Client) locked(seq uint64) error {
	c.mu.Lock()
	c.pending[seq] = &call{} // want `pending\[seq\] is not deleted when returning at fixes.go:54 \(error path\)`
	c.mu.Unlock()
	if err := write(seq); err != nil {
		return err
	}
	return nil
}

// The lock is held until the function returns (deferred unlock): a plain
// delete.
func (c *Client) held(seq uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending[seq] = &call{} // want `pending\[seq\] is not deleted when returning at fixes.go:66 \(error path\)`
	if err := write(seq); err != nil {
		return err
	}
	return nil
}

// sync.Map: Delete.
func (c *Client) syncMap(ctx context.Context, id uint64) error {
	c.waiters.Store(id, make(chan struct{})) // want `waiters\[id\] is not deleted when returning at fixes.go:80 \(cancellation\)`
	if err := write(id); err != nil {
		c.waiters.Delete(id)
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	default:
		return nil
	}
}

// Rule 2: the fix repeats the delete of the other path.
func (c *Client) complete(seq uint64, body []byte) error {
	if len(body) == 0 {
		return errEmpty // want `pending\[seq\] is not deleted when returning here \(error path\); on other paths it is deleted at fixes.go:92`
	}
	c.mu.Lock()
	delete(c.pending, seq)
	c.mu.Unlock()
	return nil
}

type emptyError struct{}

func (emptyError) Error() string { return "empty body" }

var errEmpty error = emptyError{}
