package completer

import "errors"

// A connection state set to a constant by the function that empties the
// map is a closing marker, like a bool closed flag: a path that sees the
// state may leave the entry (the map is, or is being, emptied).

type connState int

const (
	stateConnected connState = iota
	stateReconnecting
	stateClosed
)

var (
	errConnClosed   = errors.New("connection closed")
	errReconnecting = errors.New("reconnecting")
	errNotConnected = errors.New("not connected")
)

type Sub struct{ sid int64 }

type Conn struct {
	state connState
	subs  map[int64]*Sub
}

func (nc *Conn) isClosed() bool { return nc.state == stateClosed }

func (nc *Conn) isReconnecting() bool { return nc.state == stateReconnecting }

func (nc *Conn) removeSub(s *Sub) { delete(nc.subs, s.sid) }

func (nc *Conn) send(sid int64) error { return nil }

// close empties the map and sets the closed state.
func (nc *Conn) close() {
	nc.state = stateClosed
	nc.subs = nil
}

// reconnect empties the map between two states: neither is a closing
// marker (reconnecting does not last, connected comes after the emptying).
func (nc *Conn) reconnect() {
	nc.state = stateReconnecting
	clear(nc.subs)
	nc.state = stateConnected
}

// clean: a closed connection has no subscriptions left (close emptied the
// map); the state is read through a predicate method.
func (nc *Conn) unsubscribe(sub *Sub) error {
	if nc.isClosed() {
		return errConnClosed
	}
	s := nc.subs[sub.sid]
	if s == nil {
		return nil
	}
	nc.removeSub(s)
	return nil
}

// clean: the same with the state compared in place, negated.
func (nc *Conn) unsubscribeInline(sub *Sub) error {
	if nc.state != stateClosed {
		nc.removeSub(sub)
		return nil
	}
	return errConnClosed
}

// A state the emptying code does not set is no closing marker.
func (nc *Conn) unsubscribeReconnecting(sub *Sub) error {
	if nc.isReconnecting() {
		return errReconnecting // want `subs\[sub\.sid\] is not deleted when returning here \(error path\); on other paths it is released by removeSub at closed\.go:\d+`
	}
	nc.removeSub(sub)
	return nil
}

// clean (rule 1): after the insert, the closed state means close() has
// emptied the map or is emptying it.
func (nc *Conn) subscribe(sub *Sub) error {
	nc.subs[sub.sid] = sub
	if nc.isClosed() {
		return errConnClosed
	}
	if err := nc.send(sub.sid); err != nil {
		nc.removeSub(sub)
		return err
	}
	return nil
}

// A state set after the emptying is no closing marker either.
func (nc *Conn) subscribeConnected(sub *Sub) error {
	nc.subs[sub.sid] = sub // want `subs\[sub\.sid\] is not deleted when returning at closed\.go:\d+ \(error path\)`
	if nc.state == stateConnected {
		if err := nc.send(sub.sid); err != nil {
			return err
		}
	}
	return nil
}

// connect starts a session with a fresh map: the state it sets is the one
// new requests run in, no closing marker.
func (nc *Conn) connect() {
	nc.state = stateConnected
	nc.subs = make(map[int64]*Sub)
}

// The connected check passes on the path that then fails.
func (nc *Conn) subscribeChecked(sub *Sub) error {
	nc.subs[sub.sid] = sub // want `subs\[sub\.sid\] is not deleted when returning at closed\.go:\d+ \(error path\)`
	if nc.state != stateConnected {
		delete(nc.subs, sub.sid)
		return errNotConnected
	}
	return nc.send(sub.sid)
}
