// Package syncmap holds fixtures for sync.Map.
package syncmap

import (
	"errors"
	"sync"
)

type Server struct {
	calls sync.Map // request ID -> chan
}

var inflight sync.Map

var pendingPtr = new(sync.Map)

func send(id int64) error { return nil }

// Store then a failing return without Delete.
func (s *Server) call(id int64) error {
	s.calls.Store(id, make(chan []byte, 1)) // want `calls\[id\] is not deleted when returning at syncmap.go:23 \(error path\)`
	if err := send(id); err != nil {
		return err
	}
	return nil
}

// clean: Delete on the failing path.
func (s *Server) callFixed(id int64) error {
	s.calls.Store(id, make(chan []byte, 1))
	if err := send(id); err != nil {
		s.calls.Delete(id)
		return err
	}
	return nil
}

// clean: LoadAndDelete on the failing path.
func (s *Server) callLoadAndDelete(id int64) error {
	s.calls.Store(id, make(chan []byte, 1))
	if err := send(id); err != nil {
		s.calls.LoadAndDelete(id)
		return err
	}
	return nil
}

// clean: CompareAndDelete on the failing path.
func (s *Server) callCompareAndDelete(id int64) error {
	ch := make(chan []byte, 1)
	s.calls.Store(id, ch)
	if err := send(id); err != nil {
		s.calls.CompareAndDelete(id, ch)
		return err
	}
	return nil
}

// A package-level sync.Map with LoadOrStore.
func register(id int64) error {
	if _, loaded := inflight.LoadOrStore(id, struct{}{}); loaded { // want `inflight\[id\] is not deleted when returning at syncmap.go:65 \(error path\)`
		return errors.New("duplicate")
	}
	if err := send(id); err != nil {
		return err
	}
	return nil
}

func unregister(id int64) { inflight.Delete(id) }

// clean: Clear empties the whole map on the failing path.
func (s *Server) callClear(id int64) error {
	s.calls.Store(id, 1)
	if err := send(id); err != nil {
		s.calls.Clear()
		return err
	}
	return nil
}

// A sync.Map behind a package-level pointer, with Swap.
func swapIn(id int64) error {
	pendingPtr.Swap(id, 1) // want `pendingPtr\[id\] is not deleted when returning at syncmap.go:86 \(error path\)`
	if err := send(id); err != nil {
		return err
	}
	pendingPtr.Delete(id)
	return nil
}
