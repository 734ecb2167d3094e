// Package closures holds fixtures for closures (semantics note 4).
package closures

import "errors"

type call struct{}

type Client struct {
	pending map[string]*call
}

func send(id string) error { return nil }

// clean: a closure called in place releases: it is part of the function.
func (c *Client) inPlace(id string) error {
	c.pending[id] = &call{}
	if err := send(id); err != nil {
		func() { delete(c.pending, id) }()
		return err
	}
	return nil
}

// A deferred closure is never a completer on its own: its conditional
// release belongs to the enclosing function, which is clean.
func (c *Client) deferredCond(id string) (err error) {
	c.pending[id] = &call{}
	defer func() {
		if err != nil {
			delete(c.pending, id)
		}
	}()
	return send(id)
}

// A goroutine body that inserts into a captured long-lived map and fails.
func (c *Client) spawn(ids []string) {
	for _, id := range ids {
		go func() error {
			c.pending[id] = &call{} // want `pending\[id\] is not deleted when returning at closures.go:42 \(error path\)`
			if err := send(id); err != nil {
				return err
			}
			return nil
		}()
	}
}

func (c *Client) done(id string) { delete(c.pending, id) }

var errUnused = errors.New("unused")
