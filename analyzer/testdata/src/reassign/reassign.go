// Package reassign holds fixtures where the whole map is dropped or
// cleared.
package reassign

type Stream struct{}

type Mux struct {
	streams map[uint32]*Stream
}

func (m *Mux) open(id uint32) error { return nil }

// clean: the failing path replaces the map.
func (m *Mux) start(id uint32) error {
	m.streams[id] = &Stream{}
	if err := m.open(id); err != nil {
		m.streams = make(map[uint32]*Stream)
		return err
	}
	return nil
}

// clean: the failing path clears the map.
func (m *Mux) startClear(id uint32) error {
	m.streams[id] = &Stream{}
	if err := m.open(id); err != nil {
		clear(m.streams)
		return err
	}
	return nil
}

// clean: range-and-delete empties the map.
func (m *Mux) startReset(id uint32) error {
	m.streams[id] = &Stream{}
	if err := m.open(id); err != nil {
		for k := range m.streams {
			delete(m.streams, k)
		}
		return err
	}
	return nil
}

// The failing path leaves the entry; the reassignment on the other path
// does not help it.
func (m *Mux) startLeak(id uint32) error {
	m.streams[id] = &Stream{} // want `streams\[id\] is not deleted when returning at reassign.go:50 \(error path\)`
	if err := m.open(id); err != nil {
		return err
	}
	m.streams = nil
	return nil
}

func (m *Mux) closeStream(id uint32) { delete(m.streams, id) }
