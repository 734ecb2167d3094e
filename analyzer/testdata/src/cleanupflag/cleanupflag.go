// Package cleanupflag is analyzed with -cleanup='cleanupflag\.(reap|Pool\.Drop)$':
// functions mapleak cannot see into release their key argument.
package cleanupflag

type call struct{}

type Client struct {
	pending map[string]*call
}

func send(id string) error { return nil }

// reap is named by -cleanup: it releases its key argument somewhere
// mapleak cannot see.
var reap = func(id string) {}

func reapNamed(id string) {}

// Pool is a cleanup registry.
type Pool struct{}

// Drop is named by -cleanup.
func (Pool) Drop(id string) {}

// clean: Pool.Drop is a cleanup function per -cleanup.
func (c *Client) viaMethod(p Pool, id string) error {
	c.pending[id] = &call{}
	if err := send(id); err != nil {
		p.Drop(id)
		return err
	}
	return nil
}

// reapNamed is not named by -cleanup.
func (c *Client) notNamed(id string) error {
	c.pending[id] = &call{} // want `pending\[id\] is not deleted when returning at cleanupflag.go:40 \(error path\)`
	if err := send(id); err != nil {
		reapNamed(id)
		return err
	}
	return nil
}

func (c *Client) done(id string) { delete(c.pending, id) }
