// Package user relies on lib's facts: the insert and the cleanup happen in
// another package.
package user

import (
	"context"

	"facts/lib"
)

type Conn struct {
	reg *lib.Registry
}

func (c *Conn) write(id uint64) error { return nil }

// The waiter added through lib.Registry.Add is not removed when the write
// fails.
func (c *Conn) roundTrip(ctx context.Context, id uint64) ([]byte, error) {
	ch := c.reg.Add(id) // want `the pending entry added by c.reg.Add\(id\) is not deleted when returning at user.go:22 \(error path\)`
	if err := c.write(id); err != nil {
		return nil, err
	}
	select {
	case b := <-ch:
		return b, nil
	case <-ctx.Done():
		c.reg.Remove(id)
		return nil, ctx.Err()
	}
}

// clean: lib.Registry.Remove releases the entry in another package.
func (c *Conn) roundTripFixed(ctx context.Context, id uint64) ([]byte, error) {
	ch := c.reg.Add(id)
	if err := c.write(id); err != nil {
		c.reg.Remove(id)
		return nil, err
	}
	select {
	case b := <-ch:
		return b, nil
	case <-ctx.Done():
		c.reg.Remove(id)
		return nil, ctx.Err()
	}
}
