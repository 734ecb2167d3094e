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
