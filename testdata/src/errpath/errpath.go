// Package errpath: rule 1 on error returns.
package errpath

import (
	"errors"
	"sync"
)

type Call struct{ done chan error }

type Client struct {
	mu      sync.Mutex
	pending map[uint64]*Call
	seq     uint64
}

func (c *Client) write(seq uint64) error { return nil }

// Leak: the write error path returns with the entry still present.
func (c *Client) send() error {
	c.mu.Lock()
	seq := c.seq
	c.seq++
	c.pending[seq] = &Call{} // want `pending\[seq\] is not deleted when returning at errpath.go:27 \(error path\)`
	c.mu.Unlock()
	if err := c.write(seq); err != nil {
		return err
	}
	return nil
}

// clean: the error path deletes under the lock.
func (c *Client) sendFixed() error {
	c.mu.Lock()
	seq := c.seq
	c.seq++
	c.pending[seq] = &Call{}
	c.mu.Unlock()
	if err := c.write(seq); err != nil {
		c.mu.Lock()
		delete(c.pending, seq)
		c.mu.Unlock()
		return err
	}
	return nil
}

var errBusy = errors.New("busy")
