// Package iface holds fixtures for a map behind a small interface with a
// single implementation, in the style of etcd's wait.Wait.
package iface

import "sync"

type registry interface {
	Register(id uint64) <-chan any
	Trigger(id uint64, x any)
}

type list struct {
	mu      sync.Mutex
	waiters map[uint64]chan any
}

func newList() registry { return &list{waiters: make(map[uint64]chan any)} }

// Register adds a waiter for id.
func (l *list) Register(id uint64) <-chan any { // want Register:`mapleak\(inserts p0.waiters\[p1\]\)`
	ch := make(chan any, 1)
	l.mu.Lock()
	l.waiters[id] = ch
	l.mu.Unlock()
	return ch
}

// Trigger completes the waiter for id.
func (l *list) Trigger(id uint64, x any) { // want Trigger:`mapleak\(releases p0.waiters\[p1\]{must}\)`
	l.mu.Lock()
	ch := l.waiters[id]
	delete(l.waiters, id)
	l.mu.Unlock()
	if ch != nil {
		ch <- x
	}
}

type Server struct {
	w registry
}

func (s *Server) propose(id uint64) error { return nil }

// The waiter registered through the interface stays when the proposal
// fails.
func (s *Server) read(id uint64) (any, error) {
	ch := s.w.Register(id) // want `the waiters entry added by s.w.Register\(id\) is not deleted when returning at iface.go:50 \(error path\)`
	if err := s.propose(id); err != nil {
		return nil, err
	}
	return <-ch, nil
}

// clean: the failing path triggers the waiter through the interface.
func (s *Server) readFixed(id uint64) (any, error) {
	ch := s.w.Register(id)
	if err := s.propose(id); err != nil {
		s.w.Trigger(id, nil)
		return nil, err
	}
	return <-ch, nil
}

// store has two implementations: a release by any of them counts (mapleak
// cannot tell which one runs), an insert only when they share it.
type store interface {
	Put(id uint64) error
	Drop(id uint64)
}

type memStore struct {
	pending map[uint64]bool
}

// Put inserts.
func (m *memStore) Put(id uint64) error { // want Put:`mapleak\(inserts p0.pending\[p1\]\)`
	m.pending[id] = true
	return nil
}

// Drop releases.
func (m *memStore) Drop(id uint64) { delete(m.pending, id) } // want Drop:`mapleak\(releases p0.pending\[p1\]{must}\)`

type nopStore struct{}

func (nopStore) Put(id uint64) error { return nil }
func (nopStore) Drop(id uint64)      {}

// clean: Drop through the interface may release.
func useStore(s store, id uint64) error {
	if err := s.Put(id); err != nil {
		return err
	}
	if err := send(id); err != nil {
		s.Drop(id)
		return err
	}
	return nil
}

// clean: with two implementations, the insert is not attributed.
func useStoreLeaky(s store, id uint64) error {
	if err := s.Put(id); err != nil {
		return err
	}
	return send(id)
}

func send(id uint64) error { return nil }
