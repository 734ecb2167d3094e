// Package directives holds fixtures for //mapleak:ignore.
package directives

type call struct{}

func send(id string) error { return nil }

type Client struct {
	pending map[string]*call
	//mapleak:ignore entries expire with the connection
	waiters map[string]*call
}

func (c *Client) release(id string) {
	delete(c.pending, id)
	delete(c.waiters, id)
}

// clean: suppressed on the reported line.
func (c *Client) onLine(id string) error {
	c.pending[id] = &call{} //mapleak:ignore the reader goroutine reaps entries after a timeout
	return send(id)
}

// clean: suppressed by a directive on the line above.
func (c *Client) lineAbove(id string) error {
	//mapleak:ignore the reader goroutine reaps entries after a timeout
	c.pending[id] = &call{}
	return send(id)
}

// clean: suppressed on the map's declaration.
func (c *Client) onDecl(id string) error {
	c.waiters[id] = &call{}
	return send(id)
}

// clean: suppressed on the function.
//
//mapleak:ignore reconnect() drops every pending call
func (c *Client) onFunc(id string) error {
	c.pending[id] = &call{}
	return send(id)
}

// A directive without a reason is reported and suppresses nothing.
func (c *Client) noReason(id string) error {
	// want +1 `//mapleak:ignore needs a reason`
	//mapleak:ignore
	c.pending[id] = &call{} // want `pending\[id\] is not deleted when returning at directives.go:51 \(error path\)`
	return send(id)
}

// An unknown directive is reported.
func (c *Client) unknown(id string) error {
	//mapleak:ingore typo // want `unknown directive //mapleak:ingore`
	c.pending[id] = &call{} // want `pending\[id\] is not deleted when returning at directives.go:58 \(error path\)`
	return send(id)
}
