package main

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"sync"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/muc"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"
)

// statusSelf is the MUC status code of the presence a room sends an occupant
// about itself: the join succeeded (XEP-0045, 7.2.2).
const statusSelf = 110

// roomJoins joins MUC rooms. Join sends the join presence and waits for the
// room's answer, which arrives as a presence on the session: the occupant's
// own presence (status 110) when the join succeeded, an error presence when
// it failed. Register Handle on the session's mux.
//
// (mellium's muc.Client does the same, but its handler blocks the session
// when the room later sends an unavailable presence that nobody waits for,
// for example when the occupant is kicked.)
type roomJoins struct {
	mu      sync.Mutex
	pending []pendingJoin
}

// pendingJoin is a join waiting for the room's answer.
type pendingJoin struct {
	room   jid.JID
	answer chan error // buffered: the handler never blocks
}

// Handle returns the mux option that routes the rooms' answers to Join.
func (j *roomJoins) Handle() mux.Option {
	return func(m *mux.ServeMux) {
		mux.Presence(stanza.AvailablePresence, xml.Name{Space: muc.NSUser, Local: "x"}, j)(m)
		mux.Presence(stanza.ErrorPresence, xml.Name{Local: "error"}, j)(m)
	}
}

// Join joins room as nick, asking for no history (the archive is the
// history), and returns once the room has accepted or refused.
func (j *roomJoins) Join(ctx context.Context, session *xmpp.Session, room jid.JID, nick string) error {
	occupant, err := room.WithResource(nick)
	if err != nil {
		return fmt.Errorf("join room %s: nick %q: %w", room, nick, err)
	}
	answer := j.expect(room)
	defer j.forget(answer)
	req, release := requestContext(ctx, requestTimeout)
	defer release()
	noHistory := xmlstream.Wrap(nil, xml.StartElement{
		Name: xml.Name{Local: "history"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "maxstanzas"}, Value: "0"}},
	})
	join := stanza.Presence{To: occupant}.Wrap(xmlstream.Wrap(noHistory, xml.StartElement{Name: xml.Name{Space: muc.NS, Local: "x"}}))
	if err := session.Send(req, join); err != nil {
		return fmt.Errorf("join room %s: %w", room, err)
	}
	select {
	case err := <-answer:
		if err != nil {
			return fmt.Errorf("join room %s as %s: %w%s", room, nick, err, joinHint(err))
		}
		return nil
	case <-req.Done():
		return fmt.Errorf("join room %s: %w", room, context.Cause(req))
	}
}

// joinHint explains the usual reasons a room refuses a join (XEP-0045,
// 7.2), or returns "".
func joinHint(err error) string {
	var se stanza.Error
	if !errors.As(err, &se) {
		return ""
	}
	switch se.Condition {
	case stanza.RegistrationRequired:
		return " (the room is members-only and the account is not a member)"
	case stanza.Forbidden:
		return " (the account is banned from the room)"
	case stanza.Conflict:
		return " (another occupant has that nick: choose one with -nick)"
	case stanza.NotAuthorized:
		return " (the room has a password)"
	case stanza.ServiceUnavailable:
		return " (the room is full)"
	}
	return ""
}

// expect registers a join of room waiting for its answer.
func (j *roomJoins) expect(room jid.JID) chan error {
	answer := make(chan error, 1)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.pending = append(j.pending, pendingJoin{room: room.Bare(), answer: answer})
	return answer
}

// forget removes the join waiting on answer, answered or not.
func (j *roomJoins) forget(answer chan error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.pending = slices.DeleteFunc(j.pending, func(p pendingJoin) bool { return p.answer == answer })
}

// roomPresence is the part of a presence from a room that answers a join.
type roomPresence struct {
	stanza.Presence
	Error stanza.Error `xml:"error"`
	X     struct {
		Status []mucStatus `xml:"status"`
	} `xml:"http://jabber.org/protocol/muc#user x"`
}

// mucStatus is a <status code='...'/> of a MUC presence.
type mucStatus struct {
	Code int `xml:"code,attr"`
}

// HandlePresence implements mux.PresenceHandler: it passes the occupant's own
// presence, or an error presence, from a room being joined to its Join. It
// runs on the session's Serve goroutine and never blocks.
func (j *roomJoins) HandlePresence(p stanza.Presence, r xmlstream.TokenReadEncoder) error {
	j.mu.Lock()
	i := slices.IndexFunc(j.pending, func(pj pendingJoin) bool { return pj.room.Equal(p.From.Bare()) })
	j.mu.Unlock()
	if i < 0 {
		return nil
	}
	var rp roomPresence
	if err := xml.NewTokenDecoder(r).Decode(&rp); err != nil {
		return fmt.Errorf("presence from room %s: %w", p.From.Bare(), err)
	}
	var answer error
	switch {
	case p.Type == stanza.ErrorPresence && rp.Error.Condition == "":
		answer = errors.New("the room refused without saying why")
	case p.Type == stanza.ErrorPresence:
		answer = rp.Error
	case slices.Contains(rp.X.Status, mucStatus{Code: statusSelf}):
		answer = nil
	default:
		return nil // another occupant's presence, sent before ours
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, pj := range j.pending {
		if pj.room.Equal(p.From.Bare()) {
			select {
			case pj.answer <- answer:
			default: // already answered
			}
		}
	}
	return nil
}
