// Package neverremoved holds rule 3 fixtures: maps nothing in the package
// ever removes from.
package neverremoved

type request struct{}

type Server struct {
	inflight map[uint64]*request
	// Pending is exported: importers may clean it.
	Pending map[uint64]*request
	waiters map[uint64]*request
	queries map[uint64]*request
	handed  map[uint64]*request
}

var requests = map[string]*request{}

type Peers struct {
	responses map[string]bool
}

// clean: a map named like per-request state but keyed by a node name is
// bounded by the cluster.
func (p *Peers) ack(from string) {
	p.responses[from] = true
}

func init() {
	requests["boot"] = &request{} // clean: inserts in init run once
}

func (s *Server) handle(id uint64) {
	s.inflight[id] = &request{} // want `entries of inflight are never deleted; it grows with every request`
}

func (s *Server) handleAgain(id uint64) {
	s.inflight[id+1] = &request{} // want `entries of inflight are never deleted; it grows with every request`
}

// clean: an exported map may be cleaned by its importers.
func (s *Server) handleExported(id uint64) {
	s.Pending[id] = &request{}
}

// clean: a helper removes from waiters.
func (s *Server) wait(id uint64) {
	s.waiters[id] = &request{}
}

func (s *Server) done(id uint64) { s.forget(id) }

func (s *Server) forget(id uint64) { delete(s.waiters, id) }

// clean: queries is reset wholesale.
func (s *Server) query(id uint64) {
	s.queries[id] = &request{}
}

func (s *Server) reset() { s.queries = make(map[uint64]*request) }

// clean: handed is passed to code mapleak cannot see.
func (s *Server) hand(id uint64) {
	s.handed[id] = &request{}
	sweep(s.handed)
}

var sweep = func(m map[uint64]*request) {}

func addRequest(reqID string) {
	requests[reqID] = &request{} // want `entries of requests are never deleted; it grows with every request`
}
