package fakeserver

import (
	"slices"
	"sort"
	"sync"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// Message is one archived message.
type Message struct {
	// ID is the archive id (the XEP-0359 stanza-id assigned by the archive).
	// Append generates one when it is empty.
	ID string
	// From and To are the addresses of the archived stanza. In a room archive
	// From is normally the occupant JID (room@service/nick).
	From, To jid.JID
	// Type is the archived stanza's type. Append defaults it to groupchat in
	// room archives and chat in the user archive.
	Type stanza.MessageType
	// Body is the message text.
	Body string
	// OriginID is the XEP-0359 origin-id set by the sending client, if any.
	OriginID string
	// MessageID is the stanza's id attribute, if any.
	MessageID string
	// Stamp is the time the archive stored the message (the XEP-0203 delay
	// stamp of results). Append sets it from the server clock when it is zero.
	Stamp time.Time
	// Payload is optional raw XML written verbatim inside the archived
	// <message/> after the body (for example chat markers). It must be
	// well-formed; it is the caller's responsibility.
	Payload string
}

// maxIDAttempts bounds the calls to a generator that returns used ids.
const maxIDAttempts = 100

// entry is an archived message with its pre-serialised <forwarded/> element,
// so that serving a page costs no marshalling.
type entry struct {
	msg Message
	fwd []byte
}

// Archive is the message archive of one bare JID: the account's own archive or
// a MUC room's. Its methods are safe for concurrent use, including while the
// server serves queries against it.
type Archive struct {
	srv  *Server
	jid  jid.JID
	room bool

	mu      sync.RWMutex
	entries []*entry
	index   map[string]int // archive id -> position in entries
}

func newArchive(srv *Server, j jid.JID, room bool) *Archive {
	return &Archive{srv: srv, jid: j, room: room, index: make(map[string]int)}
}

// JID returns the archive's bare JID.
func (a *Archive) JID() jid.JID { return a.jid }

// IsRoom reports whether this is a MUC room archive (any archive other than
// the account's own).
func (a *Archive) IsRoom() bool { return a.room }

// Append stores msgs at the end of the archive, in order, and returns the
// archive ids assigned. A preset Message.ID is kept, unless the archive already
// holds that id, in which case a fresh id is generated and a warning logged
// (archive ids are unique). A zero Stamp is set from the server clock and an
// empty Type defaults to groupchat (rooms) or chat (user archive).
func (a *Archive) Append(msgs ...Message) []string {
	ids := make([]string, 0, len(msgs))
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range msgs {
		ids = append(ids, a.appendLocked(m).msg.ID)
	}
	return ids
}

// AppendSelfArchived stores msg twice under two archive ids, as Prosody does
// for a message an account sends to itself (the sent and the received copy):
// same content, same origin-id, different archive ids. It returns both ids in
// archive order.
func (a *Archive) AppendSelfArchived(msg Message) (sentID, receivedID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	first := a.appendLocked(msg)
	second := first.msg
	second.ID = ""
	return first.msg.ID, a.appendLocked(second).msg.ID
}

// appendLocked normalises m, stores it and returns its entry. a.mu is held.
func (a *Archive) appendLocked(m Message) *entry {
	if m.ID != "" {
		if _, dup := a.index[m.ID]; dup {
			a.srv.logger.Warn("fakeserver: duplicate archive id replaced", "archive", a.jid.String(), "id", m.ID)
			m.ID = ""
		}
	}
	for try := 0; m.ID == ""; try++ {
		id := a.srv.newID()
		if try >= maxIDAttempts {
			a.srv.logger.Warn("fakeserver: id generator keeps returning used ids; using a random id", "archive", a.jid.String(), "id", id)
			id = randomID()
		}
		if _, dup := a.index[id]; !dup && id != "" {
			m.ID = id
		}
	}
	if m.Stamp.IsZero() {
		m.Stamp = a.srv.now()
	}
	if m.Type == "" {
		if a.room {
			m.Type = stanza.GroupChatMessage
		} else {
			m.Type = stanza.ChatMessage
		}
	}
	e := &entry{msg: m}
	w := xmlWriter{}
	a.writeForwarded(&w, &m, m.Body)
	e.fwd = w.buf
	a.index[m.ID] = len(a.entries)
	a.entries = append(a.entries, e)
	return e
}

// writeForwarded writes the <forwarded/> element of a result for m, with body
// as the message text.
func (a *Archive) writeForwarded(w *xmlWriter, m *Message, body string) {
	w.start("forwarded", "xmlns", nsForward)
	w.empty("delay", "xmlns", nsDelay, "stamp", formatStamp(m.Stamp))
	a.writeMessage(w, m, body, "", true)
	w.end("forwarded")
}

// writeMessage writes the archived stanza m. to overrides m.To when not empty
// (live delivery); withNS adds xmlns='jabber:client' (needed inside
// <forwarded/>).
func (a *Archive) writeMessage(w *xmlWriter, m *Message, body, to string, withNS bool) {
	ns := ""
	if withNS {
		ns = nsClient
	}
	if to == "" {
		to = m.To.String()
	}
	w.start("message", "xmlns", ns, "from", m.From.String(), "to", to, "type", string(m.Type), "id", m.MessageID)
	if body != "" {
		w.textElement("body", body)
	}
	if m.OriginID != "" {
		w.empty("origin-id", "xmlns", nsSID, "id", m.OriginID)
	}
	w.empty("stanza-id", "xmlns", nsSID, "by", a.jid.String(), "id", m.ID)
	if m.Payload != "" {
		w.raw([]byte(m.Payload))
	}
	w.end("message")
}

// formatStamp formats t like Prosody's util.datetime: UTC, seconds, and
// microseconds only when there is a fraction.
func formatStamp(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format("2006-01-02T15:04:05.999999Z07:00")
}

// Messages returns a copy of the archived messages in archive order.
func (a *Archive) Messages() []Message {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]Message, len(a.entries))
	for i, e := range a.entries {
		out[i] = e.msg
	}
	return out
}

// Get returns the message with archive id id.
func (a *Archive) Get(id string) (Message, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	i, ok := a.index[id]
	if !ok {
		return Message{}, false
	}
	return a.entries[i].msg, true
}

// IDs returns the archive ids in archive order.
func (a *Archive) IDs() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]string, len(a.entries))
	for i, e := range a.entries {
		out[i] = e.msg.ID
	}
	return out
}

// Len returns the number of archived messages.
func (a *Archive) Len() int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return len(a.entries)
}

// Forget removes the messages with the given archive ids (unknown ids are
// ignored), as a server's archive expiry does. A client cursor that pointed at
// a forgotten id becomes unknown: querying after or before it is answered with
// item-not-found.
func (a *Archive) Forget(ids ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	drop := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		if _, ok := a.index[id]; ok {
			drop[id] = struct{}{}
		}
	}
	if len(drop) == 0 {
		return
	}
	a.entries = slices.DeleteFunc(a.entries, func(e *entry) bool {
		_, ok := drop[e.msg.ID]
		return ok
	})
	clear(a.index)
	for i, e := range a.entries {
		a.index[e.msg.ID] = i
	}
}

// page is the answer to one query.
type page struct {
	items      []*entry
	count      int  // number of messages matching the filters (RSM <count/>)
	firstIndex int  // position of items[0] among those (RSM <first index/>)
	complete   bool // the page reaches the archive end in the query direction
}

// lookup returns the position of an archive id, or a stanza error
// item-not-found as Prosody does for an unknown RSM or extended id.
func (a *Archive) lookup(id string) (int, *stanzaError) {
	i, ok := a.index[id]
	if !ok {
		return 0, &stanzaError{typ: stanza.Cancel, cond: stanza.ItemNotFound, text: "Item " + id + " not found"}
	}
	return i, nil
}

// page computes the page answering q with at most limit items.
func (a *Archive) page(q *Query, limit int) (page, *stanzaError) {
	a.mu.RLock()
	defer a.mu.RUnlock()

	// Exclusive archive-position bounds from RSM <after/>/<before/> and the
	// extended after-id/before-id fields; the tightest wins.
	lo, hi := -1, len(a.entries)
	for _, id := range []string{q.After, q.AfterID} {
		if id == "" {
			continue
		}
		p, err := a.lookup(id)
		if err != nil {
			return page{}, err
		}
		lo = max(lo, p)
	}
	for _, id := range []string{q.Before, q.BeforeID} {
		if id == "" {
			continue
		}
		p, err := a.lookup(id)
		if err != nil {
			return page{}, err
		}
		hi = min(hi, p)
	}

	// matching lists the archive positions that pass the filters; nil means
	// every position (the fast path).
	var matching []int
	if q.hasFilter() {
		matching = a.filter(q)
	}
	count := len(a.entries)
	if matching != nil {
		count = len(matching)
	}
	// Translate the position bounds into a range [from, to) of the matching
	// sequence.
	var from, to int
	if matching == nil {
		from, to = lo+1, hi
	} else {
		from = sort.SearchInts(matching, lo+1)
		to = sort.SearchInts(matching, hi)
	}
	if to < from {
		to = from
	}
	n := to - from
	take := min(n, limit)
	var start int
	if q.HasBefore {
		start = to - take
	} else {
		start = from
	}
	items := make([]*entry, take)
	for i := range take {
		pos := start + i
		if matching != nil {
			pos = matching[pos]
		}
		items[i] = a.entries[pos]
	}
	return page{items: items, count: count, firstIndex: start, complete: n <= limit}, nil
}

// filter returns the positions of the messages matching q's form filters.
func (a *Archive) filter(q *Query) []int {
	var ids map[string]struct{}
	if len(q.IDs) > 0 {
		ids = make(map[string]struct{}, len(q.IDs))
		for _, id := range q.IDs {
			ids[id] = struct{}{}
		}
	}
	out := make([]int, 0, len(a.entries))
	for i, e := range a.entries {
		m := &e.msg
		if !q.Start.IsZero() && m.Stamp.Before(q.Start) {
			continue
		}
		if !q.End.IsZero() && m.Stamp.After(q.End) {
			continue
		}
		if ids != nil {
			if _, ok := ids[m.ID]; !ok {
				continue
			}
		}
		if !q.With.Equal(jid.JID{}) && !matchesWith(q.With, m) {
			continue
		}
		out = append(out, i)
	}
	return out
}

// matchesWith implements the "with" filter: a bare filter matches either
// address by bare JID, a full filter matches an address exactly.
func matchesWith(with jid.JID, m *Message) bool {
	if with.Resourcepart() == "" {
		return m.From.Bare().Equal(with) || m.To.Bare().Equal(with)
	}
	return m.From.Equal(with) || m.To.Equal(with)
}
