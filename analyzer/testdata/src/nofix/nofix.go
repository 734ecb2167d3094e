// Package nofix holds findings for which no fix can be offered safely.
package nofix

import "sync"

type call struct{}

type Plain struct {
	inflight map[string]*call
}

func write(id uint64) error { return nil }

func (p *Plain) done(id string) { delete(p.inflight, id) }

// The key variable changes before the return: no fix is offered.
func (p *Plain) reassigned(id string) error {
	p.inflight[id] = &call{} // want `inflight\[id\] is not deleted when returning at nofix.go:23 \(error path\)`
	err := write(3)
	id = "other"
	_ = id
	if err != nil {
		return err
	}
	return nil
}

type Guarded struct {
	mu      sync.Mutex
	pending map[uint64]*call
}

func (g *Guarded) finish(seq uint64) {
	g.mu.Lock()
	delete(g.pending, seq)
	g.mu.Unlock()
}

// The map is guarded by g.mu elsewhere, and whether the caller holds it
// here is unknown: no fix.
func (g *Guarded) unknownLock(seq uint64) error {
	g.pending[seq] = &call{} // want `pending\[seq\] is not deleted when returning at nofix.go:44 \(error path\)`
	if err := write(seq); err != nil {
		return err
	}
	return nil
}

// A read lock does not protect a write: no fix.
type RW struct {
	mu      sync.RWMutex
	pending map[uint64]*call
}

func (r *RW) finish(seq uint64) {
	r.mu.Lock()
	delete(r.pending, seq)
	r.mu.Unlock()
}

func (r *RW) readLocked(seq uint64) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	r.pending[seq] = &call{} // want `pending\[seq\] is not deleted when returning at nofix.go:66 \(error path\)`
	if err := write(seq); err != nil {
		return err
	}
	return nil
}
