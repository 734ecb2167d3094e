// Package errpath holds rule 1 fixtures: a failure return after an insert.
package errpath

import (
	"errors"
	"fmt"
	"log"
	"sync"
)

type Call struct{ err error }

type Client struct {
	mu      sync.Mutex
	pending map[uint64]*Call
	seq     uint64
}

func (c *Client) write(seq uint64) error { return nil }

// The write error path returns with the entry still present.
func (c *Client) send() error {
	c.mu.Lock()
	seq := c.seq
	c.seq++
	c.pending[seq] = &Call{} // want `^pending\[seq\] is not deleted when returning at errpath.go:29 \(error path\)$`
	c.mu.Unlock()
	if err := c.write(seq); err != nil {
		return err
	}
	return nil
}

// clean: the error path deletes under the lock.
func (c *Client) sendFixed() error {
	c.mu.Lock()
	seq := c.seq
	c.seq++
	c.pending[seq] = &Call{}
	c.mu.Unlock()
	if err := c.write(seq); err != nil {
		c.mu.Lock()
		delete(c.pending, seq)
		c.mu.Unlock()
		return err
	}
	return nil
}

// return f(): the call may fail.
func (c *Client) sendTail(seq uint64) error {
	c.pending[seq] = &Call{} // want `pending\[seq\] is not deleted when returning at errpath.go:53 \(error path\)`
	return c.write(seq)
}

// A wrapped error is an error.
func (c *Client) sendWrapped(seq uint64) error {
	c.pending[seq] = &Call{} // want `pending\[seq\] is not deleted when returning at errpath.go:60 \(error path\)`
	if err := c.write(seq); err != nil {
		return fmt.Errorf("send %d: %w", seq, err)
	}
	return nil
}

// Two leaking returns are both named.
func (c *Client) sendTwice(seq uint64) error {
	c.pending[seq] = &Call{} // want `pending\[seq\] is not deleted when returning at errpath.go:69 \(error path\) and errpath.go:72 \(error path\)`
	if err := c.write(seq); err != nil {
		return err
	}
	if err := c.write(seq); err != nil {
		return errBusy
	}
	return nil
}

// clean: err is known to be nil at the last return.
func (c *Client) sendKnownNil(seq uint64) error {
	c.pending[seq] = &Call{}
	err := c.write(seq)
	if err != nil {
		delete(c.pending, seq)
		return err
	}
	return err
}

// clean: the phi of err is non-nil only on the edge that deleted.
func (c *Client) sendPhi(seq uint64, retry bool) error {
	c.pending[seq] = &Call{}
	var err error
	if retry {
		err = c.write(seq)
	}
	if err != nil {
		delete(c.pending, seq)
	}
	return err
}

// clean: the error is swallowed; the function reports success and the
// reply handler owns the entry.
func (c *Client) sendSwallow(seq uint64) error {
	c.pending[seq] = &Call{}
	if err := c.write(seq); err != nil {
		log.Printf("send %d: %v", seq, err)
		return nil
	}
	return nil
}

// A named result set on the failing path and returned bare.
func (c *Client) sendNamed(seq uint64) (err error) {
	c.pending[seq] = &Call{} // want `pending\[seq\] is not deleted when returning at errpath.go:116 \(error path\)`
	if err = c.write(seq); err != nil {
		return
	}
	return nil
}

// A function without an error result that leaves through an err != nil
// branch fails too (the error goes into call.err).
func (c *Client) sendAsync(call *Call) {
	seq := c.seq
	c.seq++
	c.pending[seq] = call // want `pending\[seq\] is not deleted when returning at errpath.go:129 \(error path\)`
	if err := c.write(seq); err != nil {
		call.err = err
		return
	}
}

// clean: a function without an error result that deletes on its error
// branch.
func (c *Client) sendAsyncFixed(call *Call) {
	seq := c.seq
	c.seq++
	c.pending[seq] = call
	if err := c.write(seq); err != nil {
		delete(c.pending, seq)
		call.err = err
		return
	}
}

var errBusy = errors.New("busy")

var errSkip = errors.New("skip")

// clean: nothing that can fail runs between the insert and the return:
// the function records the entry and reports a result on purpose.
func (c *Client) record(seq uint64) error {
	c.pending[seq] = &Call{}
	return errSkip
}

// register inserts and fails without leaving the entry behind.
// clean: the failing path deletes.
func (c *Client) register(seq uint64) error {
	c.pending[seq] = &Call{}
	if err := c.write(seq); err != nil {
		delete(c.pending, seq)
		return err
	}
	return nil
}

// clean: register failed, so it left nothing in the map.
func (c *Client) useRegister(seq uint64) error {
	if err := c.register(seq); err != nil {
		return err
	}
	return nil
}

// A table filled by key and never deleted from entry by entry is bounded
// by design: failing paths do not leak from it.
type Tables struct {
	typeIDs map[uint64]string
}

// clean: typeIDs is a table (no single-entry delete anywhere).
func (t *Tables) learn(id uint64, name string) error {
	t.typeIDs[id] = name
	if name == "" {
		return errBusy
	}
	return nil
}
