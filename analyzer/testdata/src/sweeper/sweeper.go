// Package sweeper holds fixtures for maps reaped by a periodic sweeper:
// entries left on failing paths expire.
package sweeper

import (
	"sync"
	"time"
)

type entry struct{ deadline time.Time }

type Cache struct {
	mu      sync.Mutex
	pending map[string]*entry
}

type Conn struct {
	mu       sync.Mutex
	inflight map[string]*entry
}

func send(id string) error { return nil }

// sweep reaps expired entries every second.
func (c *Cache) sweep() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for now := range t.C {
		c.mu.Lock()
		for id, e := range c.pending {
			if now.After(e.deadline) {
				delete(c.pending, id)
			}
		}
		c.mu.Unlock()
	}
}

// clean: the sweeper reaps the entry after its deadline.
func (c *Cache) request(id string) error {
	c.mu.Lock()
	c.pending[id] = &entry{deadline: time.Now().Add(time.Minute)}
	c.mu.Unlock()
	return send(id)
}

// dropConn removes the entries of a connection when it goes away: not a
// sweeper (nothing expires), so failing paths still leak.
func (c *Conn) dropConn(prefix string) {
	for id := range c.inflight {
		if len(id) > len(prefix) && id[:len(prefix)] == prefix {
			delete(c.inflight, id)
		}
	}
}

func (c *Conn) request(id string) error {
	c.inflight[id] = &entry{} // want `inflight\[id\] is not deleted when returning at sweeper.go:59 \(error path\)`
	return send(id)
}

func (c *Conn) done(id string) { delete(c.inflight, id) }
