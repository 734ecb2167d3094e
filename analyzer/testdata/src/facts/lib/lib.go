// Package lib exports helpers that insert and release entries of a
// pending map; their summaries reach other packages as facts.
package lib

import "sync"

// Registry tracks waiters by request ID.
type Registry struct {
	mu      sync.Mutex
	pending map[uint64]chan []byte
}

// Add registers a waiter for id.
func (r *Registry) Add(id uint64) chan []byte { // want Add:`mapleak\(inserts p0.pending\[p1\]\)`
	ch := make(chan []byte, 1)
	r.mu.Lock()
	r.pending[id] = ch
	r.mu.Unlock()
	return ch
}

// Remove forgets the waiter for id.
func (r *Registry) Remove(id uint64) { // want Remove:`mapleak\(releases p0.pending\[p1\]{must}\)`
	r.mu.Lock()
	delete(r.pending, id)
	r.mu.Unlock()
}

// Deliver hands a reply to the waiter for id and forgets it.
func (r *Registry) Deliver(id uint64, reply []byte) { // want Deliver:`mapleak\(releases p0.pending\[p1\]{must}\)`
	r.mu.Lock()
	ch, ok := r.pending[id]
	delete(r.pending, id)
	r.mu.Unlock()
	if ok {
		ch <- reply
	}
}
