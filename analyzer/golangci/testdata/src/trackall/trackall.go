// Package trackall holds a cache keyed by name: neither the key nor the map
// name says "request ID", so only -track-all tracks it.
package trackall

import "errors"

var errEmpty = errors.New("empty value")

// Registry remembers values by name.
type Registry struct {
	byName map[string][]byte
}

// Put leaves byName[name] behind when the value is empty.
func (r *Registry) Put(name string, value []byte) error {
	r.byName[name] = value // want `byName\[name\].*trackall\.go:18`
	if len(value) == 0 {
		return errEmpty
	}
	return nil
}

// Drop removes an entry, so the map is not "never removed".
func (r *Registry) Drop(name string) {
	delete(r.byName, name)
}
