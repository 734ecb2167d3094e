// Package defers holds fixtures for deferred releases: delete, closures,
// methods, method values, and conditional cleanup on a named result.
package defers

import (
	"errors"
	"sync"
)

type Call struct{}

type Client struct {
	mu       sync.Mutex
	inflight map[string]*Call
}

func (c *Client) write(id string) error { return nil }

func (c *Client) remove(id string) {
	c.mu.Lock()
	delete(c.inflight, id)
	c.mu.Unlock()
}

func logf(string, ...any) {}

// clean: defer delete after the insert.
func (c *Client) deferDelete(id string) error {
	c.inflight[id] = &Call{}
	defer delete(c.inflight, id)
	return c.write(id)
}

// clean: a defer registered before the insert runs at every return too.
func (c *Client) deferBefore(id string) error {
	defer delete(c.inflight, id)
	c.inflight[id] = &Call{}
	return c.write(id)
}

// clean: a deferred closure deletes.
func (c *Client) deferClosure(id string) error {
	c.inflight[id] = &Call{}
	defer func() {
		c.mu.Lock()
		delete(c.inflight, id)
		c.mu.Unlock()
	}()
	return c.write(id)
}

// clean: a deferred method call deletes.
func (c *Client) deferMethod(id string) error {
	c.inflight[id] = &Call{}
	defer c.remove(id)
	return c.write(id)
}

// clean: a deferred method value deletes.
func (c *Client) deferMethodValue(id string) error {
	c.inflight[id] = &Call{}
	rm := c.remove
	defer rm(id)
	return c.write(id)
}

// clean: the deferred closure deletes when the named error is non-nil,
// which it is on every failing path.
func (c *Client) deferOnError(id string) (err error) {
	c.inflight[id] = &Call{}
	defer func() {
		if err != nil {
			delete(c.inflight, id)
		}
	}()
	if err = c.write(id); err != nil {
		return err
	}
	return nil
}

// The deferred closure deletes only on success: the failing path leaks.
func (c *Client) deferOnSuccess(id string) (err error) {
	c.inflight[id] = &Call{} // want `inflight\[id\] is not deleted when returning at defers.go:90 \(error path\)`
	defer func() {
		if err == nil {
			delete(c.inflight, id)
		}
	}()
	return c.write(id)
}

// A deferred call of something else does not help.
func (c *Client) deferUnrelated(id string) error {
	c.inflight[id] = &Call{} // want `inflight\[id\] is not deleted when returning at defers.go:97 \(error path\)`
	defer logf("done %s", id)
	return c.write(id)
}

var errUnused = errors.New("unused")
