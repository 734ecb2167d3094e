// Package switches holds rule 1 fixtures: switch and type switch.
package switches

import "errors"

type Query struct{}

type Engine struct {
	queries map[string]*Query
}

type TemporaryError struct{}

func (*TemporaryError) Error() string { return "temporary" }

func (e *Engine) run(id string) (int, error) { return 0, nil }

var errFatal = errors.New("fatal")

// One case of the switch forgets the entry.
func (e *Engine) start(id string) error {
	e.queries[id] = &Query{} // want `queries\[id\] is not deleted when returning at switches.go:31 \(error path\)`
	code, err := e.run(id)
	switch {
	case err != nil:
		delete(e.queries, id)
		return err
	case code == 1:
		return nil
	case code == 2:
		return errFatal
	}
	return nil
}

// A type switch case returns the error without deleting.
func (e *Engine) startTyped(id string) error {
	e.queries[id] = &Query{} // want `queries\[id\] is not deleted when returning at switches.go:42 \(error path\)`
	_, err := e.run(id)
	switch err.(type) {
	case *TemporaryError:
		return err
	case nil:
		return nil
	default:
		delete(e.queries, id)
		return err
	}
}

// clean: every failing case deletes.
func (e *Engine) startFixed(id string) error {
	e.queries[id] = &Query{}
	code, err := e.run(id)
	switch code {
	case 0:
		return nil
	case 1:
		delete(e.queries, id)
		return err
	default:
		delete(e.queries, id)
		return errFatal
	}
}
