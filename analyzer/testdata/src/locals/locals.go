// Package locals holds fixtures for maps made in the function (semantics
// note 5): tracked only when they outlive the call.
package locals

type call struct{}

func send(id string) error { return nil }

type Server struct {
	pending map[string]*call
}

// clean: a map local to the call dies with it.
func localOnly(ids []string) error {
	pending := make(map[string]*call)
	for _, id := range ids {
		pending[id] = &call{}
		if err := send(id); err != nil {
			return err
		}
	}
	return nil
}

// A map that is returned outlives the call.
func returned(ids []string) (map[string]*call, error) {
	pending := make(map[string]*call)
	for _, id := range ids {
		pending[id] = &call{} // want `pending\[id\] is not deleted when returning at locals.go:31 \(error path\)`
		if err := send(id); err != nil {
			return pending, err
		}
	}
	return pending, nil
}

// A map stored into a field outlives the call.
func (s *Server) stored(id string) error {
	pending := make(map[string]*call)
	s.pending = pending
	pending[id] = &call{} // want `pending\[id\] is not deleted when returning at locals.go:43 \(error path\)`
	if err := send(id); err != nil {
		return err
	}
	delete(pending, id)
	return nil
}

// A map sent on a channel outlives the call.
func sent(out chan map[string]*call, id string) error {
	pending := make(map[string]*call)
	out <- pending
	pending[id] = &call{} // want `pending\[id\] is not deleted when returning at locals.go:55 \(error path\)`
	if err := send(id); err != nil {
		return err
	}
	delete(pending, id)
	return nil
}

// A map captured by a closure that is returned outlives the call.
func captured() func(id string) error {
	pending := make(map[string]*call)
	return func(id string) error {
		pending[id] = &call{} // want `pending\[id\] is not deleted when returning at locals.go:67 \(error path\)`
		if err := send(id); err != nil {
			return err
		}
		delete(pending, id)
		return nil
	}
}

// clean: a map shared only with goroutines the function starts dies with
// them.
func goroutinesOnly(ids []string) {
	pending := make(map[string]*call)
	done := make(chan string)
	go func() {
		for id := range done {
			delete(pending, id)
		}
	}()
	for _, id := range ids {
		pending[id] = &call{}
		if err := send(id); err != nil {
			return
		}
		done <- id
	}
}

// clean: the map is only returned, and the failing return returns nothing:
// the map dies with the call.
func returnedOnSuccess(ids []string) (map[string]*call, error) {
	pending := make(map[string]*call)
	for _, id := range ids {
		pending[id] = &call{}
		if err := send(id); err != nil {
			return nil, err
		}
	}
	return pending, nil
}

type pkg struct {
	imports map[string]*pkg
}

// clean: a struct made here and stored into another local map does not
// outlive the call.
func build(ids []string) error {
	all := make(map[string]*pkg)
	for _, id := range ids {
		p := &pkg{imports: make(map[string]*pkg)}
		all[id] = p
		p.imports[id] = p
		if err := send(id); err != nil {
			return err
		}
	}
	return nil
}
