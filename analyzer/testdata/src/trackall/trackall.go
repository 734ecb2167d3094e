// Package trackall is analyzed with -track-all: every write into a
// long-lived map is tracked, whatever its name and key.
package trackall

type template struct{}

type Renderer struct {
	byName map[string]*template
	seen   map[string]bool
}

func parse(name string) error { return nil }

// With -track-all the name-keyed cache is tracked.
func (r *Renderer) load(name string) error {
	r.byName[name] = &template{} // want `byName\[name\] is not deleted when returning at trackall.go:18 \(error path\)`
	if err := parse(name); err != nil {
		return err
	}
	return nil
}

func (r *Renderer) evict(name string) { delete(r.byName, name) }

// With -track-all, rule 3 applies to any unexported map too.
func (r *Renderer) mark(name string) {
	r.seen[name] = true // want `entries of seen are never deleted; it grows with every request`
}
