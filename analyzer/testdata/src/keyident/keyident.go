// Package keyident holds fixtures for key identity (semantics note 6).
package keyident

type Request struct {
	ID   uint64
	Path string
}

type QueryID string

type Client struct {
	pending map[uint64]*Request
	byKey   map[string]*Request
	queries map[QueryID]int
}

func send(r *Request) error { return nil }

// clean: req.ID loaded twice is the same key.
func (c *Client) reloaded(req *Request) error {
	c.pending[req.ID] = req
	if err := send(req); err != nil {
		delete(c.pending, req.ID)
		return err
	}
	return nil
}

// clean: string(b) converted twice from the same b is the same key.
func (c *Client) converted(b []byte, req *Request) error {
	c.byKey[string(b)] = req
	if err := send(req); err != nil {
		delete(c.byKey, string(b))
		return err
	}
	return nil
}

// clean: a conversion to a named type is the same key.
func (c *Client) named(id string) error {
	c.queries[QueryID(id)] = 1
	if err := send(nil); err != nil {
		delete(c.queries, QueryID(id))
		return err
	}
	return nil
}

// clean: a range variable and its copy are the same key.
func (c *Client) rangeCopy(reqs []*Request) error {
	for _, r := range reqs {
		id := r.ID
		c.pending[id] = r
		key := id
		if err := send(r); err != nil {
			delete(c.pending, key)
			return err
		}
	}
	return nil
}

// id+1 is another key.
func (c *Client) otherKey(req *Request) error {
	c.pending[req.ID] = req // want `pending\[req.ID\] is not deleted when returning at keyident.go:68 \(error path\)`
	if err := send(req); err != nil {
		delete(c.pending, req.ID+1)
		return err
	}
	return nil
}

// A delete keyed by a field that is never set is another key.
func (c *Client) wrongField(req *Request, other *Request) error {
	c.pending[req.ID] = req // want `pending\[req.ID\] is not deleted when returning at keyident.go:78 \(error path\)`
	if err := send(req); err != nil {
		delete(c.pending, other.ID)
		return err
	}
	return nil
}

func (c *Client) nextID() uint64 { return uint64(len(c.pending)) + 1 }

// register stores a request under a key it generates and returns.
// clean: a successful return keeps the entry for the reply handler.
func (c *Client) register(r *Request) uint64 {
	id := c.nextID()
	c.pending[id] = r
	return id
}

// The key comes back as register's result: the failing return leaks it.
func (c *Client) useRegister(r *Request) error {
	id := c.register(r) // want `the pending entry added by c.register\(r\) is not deleted when returning at keyident.go:97 \(error path\)`
	if err := send(r); err != nil {
		return err
	}
	_ = id
	return nil
}

// clean: the returned key is deleted on the failing path.
func (c *Client) useRegisterFixed(r *Request) error {
	id := c.register(r)
	if err := send(r); err != nil {
		delete(c.pending, id)
		return err
	}
	return nil
}
