// Package generics holds fixtures with type parameters.
package generics

import "errors"

// Tracker tracks values by an ID of any comparable type.
type Tracker[ID comparable, V any] struct {
	pending map[ID]V
}

func transmit[ID comparable](id ID) error { return nil }

// A generic method that leaks on the failing path.
func (t *Tracker[ID, V]) Start(id ID, v V) error { // want Start:`mapleak\(inserts p0.pending\[p1\]\)`
	t.pending[id] = v // want `pending\[id\] is not deleted when returning at generics.go:17 \(error path\)`
	if err := transmit(id); err != nil {
		return err
	}
	return nil
}

// Finish releases the entry.
func (t *Tracker[ID, V]) Finish(id ID) { delete(t.pending, id) } // want Finish:`mapleak\(releases p0.pending\[p1\]{must}\)`

// clean: the generic helper releases through the instantiation.
func (t *Tracker[ID, V]) StartFixed(id ID, v V) error { // want StartFixed:`mapleak\(inserts p0.pending\[p1\]\)`
	t.pending[id] = v
	if err := transmit(id); err != nil {
		t.Finish(id)
		return err
	}
	return nil
}

// A generic function over a map it is given as a field.
type holder[K comparable] struct{ inflight map[K]struct{} }

func begin[K comparable](h *holder[K], key K) error {
	h.inflight[key] = struct{}{} // want `inflight\[key\] is not deleted when returning at generics.go:41 \(error path\)`
	if err := transmit(key); err != nil {
		return errors.Join(err, errFailed)
	}
	delete(h.inflight, key)
	return nil
}

// clean: an instantiated use with cleanup.
func useTracker(t *Tracker[string, int], id string) error {
	if err := t.Start(id, 1); err != nil {
		return err
	}
	t.Finish(id)
	return nil
}

var errFailed = errors.New("failed")
