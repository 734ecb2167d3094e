// Package helpers holds fixtures for cleanup and insertion through helper
// functions of the same package (summaries, to a fixpoint).
package helpers

import (
	"errors"
	"sync"
)

type waiter struct{ ch chan string }

type pendingSet struct {
	mu sync.Mutex
	m  map[string]*waiter
}

// add inserts m[id] for its parameter: an insert summary. It is not
// reported for leaving the entry behind on its own success return.
// clean: a successful return keeps the entry for the caller.
func (p *pendingSet) add(id string) *waiter {
	w := &waiter{ch: make(chan string, 1)}
	p.mu.Lock()
	p.m[id] = w
	p.mu.Unlock()
	return w
}

// clean: take is the releasing helper.
func (p *pendingSet) take(id string) *waiter {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.m[id]
	delete(p.m, id)
	return w
}

type Client struct {
	pend    pendingSet
	queries map[string]int
}

func (c *Client) send(id string) error { return nil }

// The entry added by the helper is not taken back on the error path:
// reported at the call of the inserting helper.
func (c *Client) call(id string) (string, error) {
	w := c.pend.add(id) // want `the m entry added by c.pend.add\(id\) is not deleted when returning at helpers.go:49 \(error path\)`
	if err := c.send(id); err != nil {
		return "", err
	}
	return <-w.ch, nil
}

// clean: the error path takes the entry back through the helper.
func (c *Client) callFixed(id string) (string, error) {
	w := c.pend.add(id)
	if err := c.send(id); err != nil {
		c.pend.take(id)
		return "", err
	}
	return <-w.ch, nil
}

func (c *Client) forget(id string) { delete(c.queries, id) }

// fail releases through forget: a helper of a helper.
func (c *Client) fail(id string, err error) error {
	c.forget(id)
	return err
}

// clean: the release goes through two helpers (fixpoint).
func (c *Client) query(id string) error {
	c.queries[id] = 0
	if err := c.send(id); err != nil {
		return c.fail(id, err)
	}
	return nil
}

// A helper deleting another key does not release this one.
func (c *Client) queryWrongKey(id string) error {
	c.queries[id] = 0 // want `queries\[id\] is not deleted when returning at helpers.go:86 \(error path\)`
	if err := c.send(id); err != nil {
		c.forget(id + "-old")
		return err
	}
	return nil
}

// even and odd call each other: the fixpoint terminates and finds the
// release.
func (c *Client) even(id string, n int) {
	if n == 0 {
		c.forget(id)
		return
	}
	c.odd(id, n-1)
}

func (c *Client) odd(id string, n int) {
	if n == 0 {
		return
	}
	c.even(id, n-1)
}

// clean: the release is found through mutual recursion.
func (c *Client) queryRecursive(id string) error {
	c.queries[id] = 0
	if err := c.send(id); err != nil {
		c.even(id, 2)
		return err
	}
	return nil
}

var errUnused = errors.New("unused")

func (c *Client) cleanup(id string, err error) {
	if err != nil {
		c.forget(id)
	}
}

// register leaves the entry behind when send fails, but its only caller
// always cleans up after it.
// clean: every caller releases the entry after the call.
func (c *Client) register(id string) error {
	c.queries[id] = 0
	return c.send(id)
}

// clean: the caller of register cleans up on every path.
func (c *Client) do(id string) {
	err := c.register(id)
	c.cleanup(id, err)
}

// registerLoose has a caller that does not clean up.
func (c *Client) registerLoose(id string) error {
	c.queries[id] = 0 // want `queries\[id\] is not deleted when returning at helpers.go:143 \(error path\)`
	return c.send(id)
}

// clean: the caller of registerLoose returns its error without cleaning up.
func (c *Client) doLoose(id string) error {
	return c.registerLoose(id)
}
