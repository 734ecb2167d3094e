// Package stale is analyzed with -report-stale-ignores.
package stale

type call struct{}

type Client struct {
	pending map[string]*call
}

func send(id string) error { return nil }

func (c *Client) done(id string) { delete(c.pending, id) }

// clean: the directive suppresses the finding, so it is not stale.
func (c *Client) used(id string) error {
	c.pending[id] = &call{} //mapleak:ignore the connection's reader reaps entries
	return send(id)
}

// The directive suppresses nothing.
func (c *Client) unused(id string) error {
	c.pending[id] = &call{} //mapleak:ignore nothing to suppress here // want `//mapleak:ignore suppresses nothing; remove it`
	defer c.done(id)
	return send(id)
}
