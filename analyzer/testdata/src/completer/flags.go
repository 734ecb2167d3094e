package completer

import "errors"

// A bool flag is a closing marker when the function that empties the map
// sets it (closed = true; m = nil): a path that sees that value may leave
// the entry. The value set together with a fresh map (connected = true;
// m = make(...)) is the one new requests run in, no closing marker,
// whichever polarity the flag has.

var (
	errLinkClosed    = errors.New("link closed")
	errLinkOpen      = errors.New("link still open")
	errSessionBusy   = errors.New("session busy")
	errSessionOnline = errors.New("session online")
	errSessionDown   = errors.New("session down")
)

// Link has the classic flag: closed = true where the map is dropped, and
// closed = false where a fresh map is made (the inverted polarity of
// Session.connected).
type Link struct {
	closed bool
	calls  map[uint64]chan []byte
}

func (l *Link) transmit(id uint64) error { return nil }

// shutdown drops the map and marks the link closed.
func (l *Link) shutdown() {
	l.closed = true
	l.calls = nil
}

// open starts over with a fresh map: closed = false is the open value.
func (l *Link) open() {
	l.closed = false
	l.calls = make(map[uint64]chan []byte)
}

// clean: once closed, shutdown has dropped the map with the entry.
func (l *Link) call(id uint64, ch chan []byte) error {
	l.calls[id] = ch
	if err := l.transmit(id); err != nil {
		if l.closed {
			return err
		}
		delete(l.calls, id)
		return err
	}
	return nil
}

// clean (rule 2): the completer's return on a closed link leaves nothing
// behind.
func (l *Link) complete(id uint64, reply []byte) error {
	if l.closed {
		return errLinkClosed
	}
	ch := l.calls[id]
	delete(l.calls, id)
	ch <- reply
	return nil
}

// closed = false comes with a fresh map: an open link still holds the
// entry when the failing return leaves it.
func (l *Link) callOpen(id uint64, ch chan []byte) error {
	l.calls[id] = ch // want `calls\[id\] is not deleted when returning at flags\.go:\d+ \(error path\)`
	if err := l.transmit(id); err != nil {
		if !l.closed {
			return err
		}
		delete(l.calls, id)
		return err
	}
	return nil
}

// The same in a completer (rule 2).
func (l *Link) completeOpen(id uint64, reply []byte) error {
	if !l.closed {
		return errLinkOpen // want `calls\[id\] is not deleted when returning here \(error path\); on other paths it is deleted at flags\.go:\d+`
	}
	ch := l.calls[id]
	delete(l.calls, id)
	ch <- reply
	return nil
}

// Session has the flag the other way round: connected = true is set with
// a fresh map, connected = false where the map is dropped.
type Session struct {
	connected bool
	pending   map[uint64]chan []byte
}

func (s *Session) send(id uint64) error { return nil }

// connect starts a session with a fresh map: connected = true is the open
// value, no closing marker.
func (s *Session) connect() {
	s.connected = true
	s.pending = make(map[uint64]chan []byte)
}

// disconnect marks the session down and drops the map: connected = false
// is the closing value.
func (s *Session) disconnect() {
	s.connected = false
	s.pending = nil
}

// A connected session still holds the entry: the return leaks it.
func (s *Session) request(id uint64, ch chan []byte) error {
	s.pending[id] = ch // want `pending\[id\] is not deleted when returning at flags\.go:\d+ \(error path\)`
	if err := s.send(id); err != nil {
		if s.connected {
			return err
		}
		delete(s.pending, id)
		return err
	}
	return nil
}

// The same in a completer (rule 2).
func (s *Session) abort(id uint64) error {
	if s.connected {
		return errSessionBusy // want `pending\[id\] is not deleted when returning here \(error path\); on other paths it is deleted at flags\.go:\d+`
	}
	delete(s.pending, id)
	return nil
}

// The connected check, negated, guards the path that deletes; the return
// on a connected session leaks.
func (s *Session) abortNegated(id uint64) error {
	if !s.connected {
		delete(s.pending, id)
		return nil
	}
	return errSessionOnline // want `pending\[id\] is not deleted when returning here \(error path\); on other paths it is deleted at flags\.go:\d+`
}

// clean: a session that is not connected was disconnected, which dropped
// the map with the entry.
func (s *Session) requestDown(id uint64, ch chan []byte) error {
	s.pending[id] = ch
	if err := s.send(id); err != nil {
		if !s.connected {
			return errSessionDown
		}
		delete(s.pending, id)
		return err
	}
	return nil
}

// Channel has only the open side: connected = true with a fresh map, and
// no function that empties the map in place. Nothing marks it closed.
type Channel struct {
	connected bool
	waiters   map[uint64]chan []byte
}

func (c *Channel) send(id uint64) error { return nil }

func (c *Channel) dial() {
	c.connected = true
	c.waiters = make(map[uint64]chan []byte)
}

func (c *Channel) wait(id uint64, ch chan []byte) error {
	c.waiters[id] = ch // want `waiters\[id\] is not deleted when returning at flags\.go:\d+ \(error path\)`
	if err := c.send(id); err != nil {
		if c.connected {
			return err
		}
		delete(c.waiters, id)
		return err
	}
	return nil
}

// Pool fails its pending calls on close and then gives the map a fresh
// one instead of nil. The fresh map makes closed = true look like the
// open value: it marks nothing, and the guarded return is reported (the
// boundary of the rule; a close that sets the map to nil or clears it
// marks, as Link.shutdown does).
type Pool struct {
	closed  bool
	pending map[uint64]chan []byte
}

func (p *Pool) send(id uint64) error { return nil }

func (p *Pool) close() {
	p.closed = true
	for _, ch := range p.pending {
		close(ch)
	}
	p.pending = make(map[uint64]chan []byte)
}

func (p *Pool) call(id uint64, ch chan []byte) error {
	p.pending[id] = ch // want `pending\[id\] is not deleted when returning at flags\.go:\d+ \(error path\)`
	if err := p.send(id); err != nil {
		if p.closed {
			return err
		}
		delete(p.pending, id)
		return err
	}
	return nil
}
