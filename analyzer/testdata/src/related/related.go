// Package related holds a finding whose Related positions the test
// checks.
package related

import "sync"

type call struct{}

type Client struct {
	mu      sync.Mutex
	pending map[uint64]*call
}

func (c *Client) write(seq uint64) error { return nil }

func (c *Client) call(seq uint64) error {
	c.mu.Lock()
	c.pending[seq] = &call{} // want `pending\[seq\] is not deleted when returning at related.go:21 \(error path\)`
	c.mu.Unlock()
	if err := c.write(seq); err != nil {
		return err
	}
	if err := c.write(seq); err != nil {
		c.mu.Lock()
		delete(c.pending, seq)
		c.mu.Unlock()
		return err
	}
	return nil
}
