// Package loops holds rule 1 fixtures: retry loops, continue, break,
// labels and goto.
package loops

import "errors"

type Call struct{}

type Client struct {
	pending map[uint64]*Call
	seq     uint64
}

func (c *Client) write(id uint64) error { return nil }

var errGaveUp = errors.New("gave up")

// A retry loop that gives up without deleting.
func (c *Client) retry(id uint64) error {
	for attempt := 0; attempt < 3; attempt++ {
		c.pending[id] = &Call{} // want `pending\[id\] is not deleted when returning at loops.go:27 \(error path\)`
		if err := c.write(id); err != nil {
			continue
		}
		return nil
	}
	return errGaveUp
}

// clean: every failed attempt deletes before trying again.
func (c *Client) retryFixed(id uint64) error {
	for attempt := 0; attempt < 3; attempt++ {
		c.pending[id] = &Call{}
		if err := c.write(id); err != nil {
			delete(c.pending, id)
			continue
		}
		return nil
	}
	return errGaveUp
}

// Breaking out of the loop reaches a failing return.
func (c *Client) breakOut(ids []uint64) error {
	var failed error
	for _, id := range ids {
		c.pending[id] = &Call{} // want `pending\[id\] is not deleted when returning at loops.go:53 \(error path\)`
		if err := c.write(id); err != nil {
			failed = err
			break
		}
	}
	return failed
}

// Labeled continue to an outer loop, then a failing return.
func (c *Client) labeled(groups [][]uint64) error {
	var last error
outer:
	for _, g := range groups {
		for _, id := range g {
			c.pending[id] = &Call{} // want `pending\[id\] is not deleted when returning at loops.go:69 \(error path\)`
			if err := c.write(id); err != nil {
				last = err
				continue outer
			}
		}
	}
	return last
}

// clean: goto a cleanup label that deletes.
func (c *Client) gotoCleanup(id uint64) error {
	c.pending[id] = &Call{}
	err := c.write(id)
	if err != nil {
		goto fail
	}
	return nil
fail:
	delete(c.pending, id)
	return err
}

// clean: a fresh key per iteration, deleted on the error path of its own
// iteration.
func (c *Client) fresh(n int) error {
	for i := 0; i < n; i++ {
		seq := c.seq
		c.seq++
		c.pending[seq] = &Call{}
		if err := c.write(seq); err != nil {
			delete(c.pending, seq)
			return err
		}
	}
	return nil
}

// clean: a deferred delete inside the insert loop releases each key.
func (c *Client) deferInLoop(ids []uint64) error {
	for _, id := range ids {
		c.pending[id] = &Call{}
		defer delete(c.pending, id)
	}
	for _, id := range ids {
		if err := c.write(id); err != nil {
			return err
		}
	}
	return nil
}

type frame struct {
	id  uint64
	err error
}

func (c *Client) readFrame() (frame, error) { return frame{}, nil }

// clean: an owner loop registers one entry per iteration; a later failing
// return concerns another frame, and the entry of a finished iteration is
// the reply handler's.
func (c *Client) recvLoop() {
	for {
		f, err := c.readFrame()
		if err != nil {
			return
		}
		id := f.id
		c.pending[id] = &Call{}
	}
}
