// Package caches holds fixtures for maps that are not per-request state.
package caches

import "errors"

type template struct{}

type Renderer struct {
	byName map[string]*template
	//mapleak:track
	known map[string]bool
	items map[string]int
}

func parse(name string) (*template, error) { return nil, nil }

// clean: a cache keyed by a name is not tracked.
func (r *Renderer) load(name string) (*template, error) {
	t, err := parse(name)
	r.byName[name] = t
	if err != nil {
		return nil, err
	}
	return t, nil
}

// clean: a memoizing cache fill keeps its entry on purpose.
func (r *Renderer) memo(id string) (int, error) {
	if v, ok := r.items[id]; ok {
		return v, nil
	}
	r.items[id] = 1
	if _, err := parse(id); err != nil {
		return 0, err
	}
	return 1, nil
}

// A map declared with //mapleak:track is tracked whatever its name and key.
func (r *Renderer) mark(name string) error {
	r.known[name] = true // want `known\[name\] is not deleted when returning at caches.go:43 \(error path\)`
	if _, err := parse(name); err != nil {
		return err
	}
	return nil
}

func (r *Renderer) forget(name string) {
	delete(r.known, name)
	delete(r.items, name)
}

// clean: a key whose type cannot be an ID (a pointer) is not tracked by
// its name.
type node struct{}

type Index struct{ ids map[*node]int }

func (x *Index) add(id *node) error {
	x.ids[id] = 1
	if _, err := parse(""); err != nil {
		return err
	}
	delete(x.ids, id)
	return errors.New("unused")
}

// Names is a map type that Registry embeds.
type Names map[string]bool

type Registry struct {
	//mapleak:track
	Names
}

// An embedded map field declared with //mapleak:track is tracked too.
func (r *Registry) add(name string) error {
	r.Names[name] = true // want `Names\[name\] is not deleted when returning at caches.go:80 \(error path\)`
	if _, err := parse(name); err != nil {
		return err
	}
	return nil
}

func (r *Registry) drop(name string) { delete(r.Names, name) }
