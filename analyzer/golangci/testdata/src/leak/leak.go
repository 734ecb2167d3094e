// Package leak is the classic request-ID leak: a pending call registered
// under its sequence number is left behind when the write fails.
package leak

import "errors"

var errClosed = errors.New("connection closed")

type conn struct{ closed bool }

func (c *conn) write(seq uint64, payload []byte) error {
	if c.closed {
		return errClosed
	}
	return nil
}

// Client sends requests and matches replies by sequence number.
type Client struct {
	conn    *conn
	nextID  uint64
	pending map[uint64]chan []byte
}

// Call forgets pending[id] when the write fails.
func (c *Client) Call(payload []byte) ([]byte, error) {
	id := c.nextID
	c.nextID++
	ch := make(chan []byte, 1)
	c.pending[id] = ch // want `pending\[id\].*leak\.go:32`
	if err := c.conn.write(id, payload); err != nil {
		return nil, err
	}
	reply := <-ch
	delete(c.pending, id)
	return reply, nil
}

// CallFixed releases the entry on every path.
func (c *Client) CallFixed(payload []byte) ([]byte, error) {
	id := c.nextID
	c.nextID++
	ch := make(chan []byte, 1)
	c.pending[id] = ch
	defer delete(c.pending, id)
	if err := c.conn.write(id, payload); err != nil {
		return nil, err
	}
	return <-ch, nil
}
