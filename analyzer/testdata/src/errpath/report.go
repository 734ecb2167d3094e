package errpath

import (
	"errors"
	"fmt"
)

// A validator records every task it sees and reports what was wrong with
// the event: the error is a report, not a failure of the recording.

type problems struct{ errs []error }

func (p *problems) add(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf(format, args...))
}

// err only builds an error from what was collected.
func (p *problems) err() error { return errors.Join(p.errs...) }

type event struct {
	kind   int
	taskID uint64
	parent uint64
}

type Validator struct {
	tasks map[uint64]string
}

func (v *Validator) flush() error { return nil }

// clean: after the insert the function goes straight to the return, and
// the returned error is only built from problems found before.
func (v *Validator) check(ev event) error {
	p := new(problems)
	if ev.parent == ev.taskID {
		p.add("task %d is its own parent", ev.taskID)
	}
	switch ev.kind {
	case 1:
		v.tasks[ev.taskID] = "begin"
	case 2:
		if _, ok := v.tasks[ev.taskID]; ok {
			delete(v.tasks, ev.taskID)
		}
	}
	return p.err()
}

// A decision after the insert is a failure path even when the error is
// built from collected problems.
func (v *Validator) checkDecided(ev event) error {
	p := new(problems)
	v.tasks[ev.taskID] = "begin" // want `tasks\[ev\.taskID\] is not deleted when returning at report\.go:\d+ \(error path\)`
	if ev.parent == ev.taskID {
		p.add("task %d is its own parent", ev.taskID)
		return p.err()
	}
	return nil
}

// Work that can fail after the insert is a failure path.
func (v *Validator) checkFlushed(ev event) error {
	v.tasks[ev.taskID] = "begin" // want `tasks\[ev\.taskID\] is not deleted when returning at report\.go:\d+ \(error path\)`
	return v.flush()
}

func (v *Validator) end(id uint64) { delete(v.tasks, id) }
