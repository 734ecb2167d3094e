package prosodytest

import (
	"context"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/disco"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/muc"
	"mellium.im/xmpp/ping"
	"mellium.im/xmpp/stanza"
)

// DialOption configures Server.Dial and Server.Connect.
type DialOption func(*dialConfig)

type dialConfig struct {
	available  bool
	mechanisms []sasl.Mechanism
}

// Mechanisms sets the SASL mechanisms to offer, strongest first (default
// SCRAM-SHA-256, SCRAM-SHA-1, PLAIN).
func Mechanisms(m ...sasl.Mechanism) DialOption {
	return func(c *dialConfig) { c.mechanisms = m }
}

// Available sends initial presence once the session is negotiated, so that
// Prosody delivers messages sent to the bare JID live (with the archive's
// stanza-id) instead of only archiving them. Without it the session is not
// available: chats to its bare JID are archived but not delivered.
func Available() DialOption {
	return func(c *dialConfig) { c.available = true }
}

// Dial connects to the server as j and negotiates a client session: SASL over
// plaintext loopback (Prosody is configured to allow it; the session starts in
// the xmpp.Secure state so that mellium offers PLAIN and SCRAM without TLS) and
// resource binding. Prosody 0.12 offers SCRAM-SHA-1 and PLAIN. The server
// picks the resource: mellium v0.22.0 sends an empty <resource/> even when j
// has a resourcepart. No initial presence is sent unless Available is given.
//
// The caller owns the session: it must run sess.Serve with its own handler
// (the helpers of this package, such as CreateRoom and ArchiveCount, wait for
// IQ replies that are only delivered while Serve runs), and when done call
// sess.Close, wait for Serve to return and close sess.Conn(). Connect does all
// of that for a test.
func (s *Server) Dial(ctx context.Context, j jid.JID, password string, opts ...DialOption) (*xmpp.Session, error) {
	cfg := dialConfig{mechanisms: []sasl.Mechanism{sasl.ScramSha256, sasl.ScramSha1, sasl.Plain}}
	for _, o := range opts {
		o(&cfg)
	}
	addr := s.Addr()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s as %s: %w", addr, j, err)
	}
	// mellium blocks in reads during negotiation; bound them by ctx.
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stopWatch := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	// Not ctx itself: mellium ties the connection's deadlines to the
	// negotiation context through a goroutine that may still see it end after
	// the negotiation returned (the caller's deferred cancel) and then sets a
	// deadline in the past for a moment, failing a write made in that moment.
	// The deadline and watch above bound the negotiation instead.
	sess, err := xmpp.NewSession(context.WithoutCancel(ctx), j.Domain(), j, conn, xmpp.Secure, xmpp.NewNegotiator(
		func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{
				Features: []xmpp.StreamFeature{
					xmpp.SASL("", password, cfg.mechanisms...),
					xmpp.BindResource(),
				},
			}
		}))
	if !stopWatch() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("log in to %s as %s: %w", addr, j, err)
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("log in to %s as %s: %w", addr, j, err)
	}
	if cfg.available {
		if err := sess.Send(context.WithoutCancel(ctx), stanza.Presence{}.Wrap(nil)); err != nil { // see NewSession above
			conn.Close()
			return nil, fmt.Errorf("log in to %s as %s: initial presence: %w", addr, j, err)
		}
	}
	return sess, nil
}

// Connect dials like Dial, serves the session with h (nil handles nothing) in
// a goroutine, and registers a cleanup that closes the session, waits for
// Serve to return and closes the connection. It fails the test when the login
// fails.
func (s *Server) Connect(t testing.TB, j jid.JID, password string, h xmpp.Handler, opts ...DialOption) *xmpp.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.startTimeout)
	defer cancel()
	sess, err := s.Dial(ctx, j, password, opts...)
	if err != nil {
		t.Fatalf("prosodytest: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- sess.Serve(h) }()
	t.Cleanup(func() {
		_ = sess.Close()
		timer := time.NewTimer(s.cfg.stopTimeout)
		defer timer.Stop()
		var err error
		select {
		case err = <-served:
		case <-timer.C:
			// The server did not end its stream; closing the connection ends Serve.
			t.Logf("prosodytest: session %s: server did not close its stream within %v", sess.LocalAddr(), s.cfg.stopTimeout)
			_ = sess.Conn().Close()
			err = <-served
		}
		_ = sess.Conn().Close()
		if err != nil {
			// Expected after Restart; otherwise often a handler error.
			t.Logf("prosodytest: session %s ended: %v", sess.LocalAddr(), err)
		}
	})
	return sess
}

// Message is a message to seed. Empty ids are generated.
type Message struct {
	// Body is the text of the <body/>.
	Body string
	// OriginID is the XEP-0359 <origin-id/>; generated when empty.
	OriginID string
	// ID is the stanza's id attribute; OriginID when empty.
	ID string
}

// NewID returns a random id suitable for stanza and origin ids.
func NewID() string { return rand.Text() }

// Send sends msgs of type typ to to, each with a body and an XEP-0359
// origin-id, and returns them with their ids filled in. Sending is
// fire-and-forget: use WaitArchiveCount to know when they are archived. It
// stops at the first error, returning the messages sent so far.
func Send(ctx context.Context, sess *xmpp.Session, to jid.JID, typ stanza.MessageType, msgs ...Message) ([]Message, error) {
	sent := make([]Message, 0, len(msgs))
	for _, m := range msgs {
		if m.OriginID == "" {
			m.OriginID = NewID()
		}
		if m.ID == "" {
			m.ID = m.OriginID
		}
		payload := xmlstream.MultiReader(
			xmlstream.Wrap(xmlstream.Token(xml.CharData(m.Body)), xml.StartElement{Name: xml.Name{Local: "body"}}),
			stanza.OriginID{ID: m.OriginID}.TokenReader(),
		)
		err := sess.Send(ctx, stanza.Message{ID: m.ID, To: to, Type: typ}.Wrap(payload))
		if err != nil {
			return sent, fmt.Errorf("send %s message %s to %s: %w", typ, m.ID, to, err)
		}
		sent = append(sent, m)
	}
	return sent, nil
}

// SendChat sends one chat message per body to to, each with an origin-id. A
// one-to-one chat lands in both users' archives (Prosody archives it for the
// sender when it leaves and for the recipient when it arrives, even when the
// recipient is offline); a message to one's own bare JID is archived twice in
// that archive.
func SendChat(ctx context.Context, sess *xmpp.Session, to jid.JID, bodies ...string) error {
	_, err := Send(ctx, sess, to, stanza.ChatMessage, bodyMessages(bodies)...)
	return err
}

// SendGroupchat sends one groupchat message per body to room (the session must
// have joined it, see CreateRoom and JoinRoom), each with an origin-id. The
// room archives each once and echoes it to every occupant with a stanza-id.
func SendGroupchat(ctx context.Context, sess *xmpp.Session, room jid.JID, bodies ...string) error {
	_, err := Send(ctx, sess, room.Bare(), stanza.GroupChatMessage, bodyMessages(bodies)...)
	return err
}

func bodyMessages(bodies []string) []Message {
	msgs := make([]Message, len(bodies))
	for i, b := range bodies {
		msgs[i] = Message{Body: b}
	}
	return msgs
}

// RoomOption changes the configuration CreateRoom submits.
type RoomOption func(*roomConfig)

type roomConfig struct {
	fields []roomField
}

type roomField struct {
	name  string
	value any
}

// RoomField sets a field of the room configuration form (muc#roomconfig_*)
// to value, whose type must match the field: bool, string, []string, jid.JID.
func RoomField(name string, value any) RoomOption {
	return func(c *roomConfig) { c.fields = append(c.fields, roomField{name, value}) }
}

// MembersOnly makes the room members-only: a MAM query from a user that is not
// a member is answered with forbidden (type auth).
func MembersOnly() RoomOption { return RoomField("muc#roomconfig_membersonly", true) }

// WithoutArchive disables MAM logging for the room (Prosody still answers MAM
// queries to it, with an empty archive).
func WithoutArchive() RoomOption { return RoomField(fieldEnableArchiving, false) }

const (
	fieldPersistent      = "muc#roomconfig_persistentroom"
	fieldEnableArchiving = "muc#roomconfig_enablearchiving"
)

// CreateRoom joins room (a bare JID on the MUC service) as nick, which creates
// it with the session's user as owner, and submits its configuration:
// persistent, MAM logging on (Prosody's muc_mam field
// muc#roomconfig_enablearchiving), plus opts. It returns once Prosody has
// accepted the configuration, so the room exists and the session is an
// occupant. On an existing room owned by the user it rejoins and reconfigures;
// on a room owned by someone else it fails (forbidden).
//
// It uses mellium's muc package for the configuration, but does not need a
// muc.Client in the session's handler: Prosody handles a session's stanzas in
// order, so the configuration IQ is answered after the join was processed.
func CreateRoom(ctx context.Context, sess *xmpp.Session, room jid.JID, nick string, opts ...RoomOption) error {
	room = room.Bare()
	cfg := roomConfig{fields: []roomField{{fieldPersistent, true}, {fieldEnableArchiving, true}}}
	for _, o := range opts {
		o(&cfg)
	}
	if err := sendJoin(ctx, sess, room, nick); err != nil {
		return fmt.Errorf("create room %s: %w", room, err)
	}
	form, err := muc.GetConfig(ctx, room, sess)
	if err != nil {
		return fmt.Errorf("create room %s: get configuration form: %w", room, err)
	}
	for _, f := range cfg.fields {
		known, err := form.Set(f.name, f.value)
		if err != nil {
			return fmt.Errorf("create room %s: field %s: %w", room, f.name, err)
		}
		if !known {
			return fmt.Errorf("create room %s: the configuration form has no field %s", room, f.name)
		}
	}
	if err := muc.SetConfig(ctx, room, form, sess); err != nil {
		return fmt.Errorf("create room %s: submit configuration: %w", room, err)
	}
	return nil
}

// JoinRoom joins an existing room as nick (asking for no history: the archive
// is the history) and returns once the session is an occupant, which it checks
// with an XEP-0410 self-ping. It first asks the room for its disco#info so that
// it fails (item-not-found) instead of creating a room that does not exist:
// Prosody creates a room on the first join, locked and owned by the joiner.
func JoinRoom(ctx context.Context, sess *xmpp.Session, room jid.JID, nick string) error {
	room = room.Bare()
	if _, err := disco.GetInfo(ctx, "", room, sess); err != nil {
		return fmt.Errorf("join room %s: disco#info: %w", room, err)
	}
	if err := sendJoin(ctx, sess, room, nick); err != nil {
		return fmt.Errorf("join room %s: %w", room, err)
	}
	occupant, _ := room.WithResource(nick)
	if err := ping.Send(ctx, sess, occupant); err != nil {
		return fmt.Errorf("join room %s as %s: self-ping: %w", room, nick, err)
	}
	return nil
}

// sendJoin sends the MUC join presence asking for no history.
func sendJoin(ctx context.Context, sess *xmpp.Session, room jid.JID, nick string) error {
	occupant, err := room.WithResource(nick)
	if err != nil {
		return fmt.Errorf("nick %q: %w", nick, err)
	}
	history := xmlstream.Wrap(nil, xml.StartElement{
		Name: xml.Name{Local: "history"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "maxstanzas"}, Value: "0"}},
	})
	x := xmlstream.Wrap(history, xml.StartElement{Name: xml.Name{Space: muc.NS, Local: "x"}})
	if err := sess.Send(ctx, stanza.Presence{ID: NewID(), To: occupant}.Wrap(x)); err != nil {
		return fmt.Errorf("send join presence: %w", err)
	}
	return nil
}

// Fin is the parsed <fin/> of a MAM query: the end of one page.
type Fin struct {
	// Complete is true when the page reaches the end of the archive in the
	// paging direction.
	Complete bool
	// Stable is false when the server said stable='false'.
	Stable bool
	// First and Last are the archive ids of the first and last result of the
	// page (in archive order); empty for an empty page.
	First, Last string
	// Count is the RSM <count/>, or -1 when the server sent none.
	Count int
}

// Page selects one page of a MAM query. The zero value asks for the server's
// default page size from the start of the archive.
type Page struct {
	// QueryID is the queryid attribute; generated when empty.
	QueryID string
	// Max is the RSM <max/>: 0 leaves it out (Prosody then sends 20), a
	// negative value sends <max>0</max> (a count-only query).
	Max int
	// After pages forward from this archive id.
	After string
	// Before pages backward from this archive id; with Last and no Before the
	// query asks for the newest page (<before/>).
	Before string
	// Last asks for the newest page (an empty <before/>) when Before is empty.
	Last bool
	// With, Start and End are the MAM form filters; zero values are left out.
	With       jid.JID
	Start, End time.Time
}

// QueryPage sends one MAM query for page to archive (the account's own bare
// JID or a room's) and returns its <fin/>. The results arrive as messages to
// the session's handler; QueryPage does not read them (see ArchiveReader).
// An error reply is returned as a stanza.Error (use errors.As).
func QueryPage(ctx context.Context, sess *xmpp.Session, archive jid.JID, page Page) (Fin, error) {
	if page.QueryID == "" {
		page.QueryID = NewID()
	}
	iq := stanza.IQ{Type: stanza.SetIQ}
	if !archive.Equal(sess.LocalAddr().Bare()) {
		iq.To = archive
	}
	resp, err := sess.SendIQElement(ctx, queryPayload(page), iq)
	if err != nil {
		return Fin{}, fmt.Errorf("mam query %s to %s: %w", page.QueryID, archive, err)
	}
	defer resp.Close()
	fin, err := parseFinReply(resp)
	if err != nil {
		return Fin{}, fmt.Errorf("mam query %s to %s: %w", page.QueryID, archive, err)
	}
	return fin, nil
}

// ArchiveCount returns the number of messages in archive, from the RSM count
// of a query with <max>0</max>. The server sends no results for it.
func ArchiveCount(ctx context.Context, sess *xmpp.Session, archive jid.JID) (int, error) {
	fin, err := QueryPage(ctx, sess, archive, Page{Max: -1})
	if err != nil {
		return 0, err
	}
	if fin.Count < 0 {
		return 0, fmt.Errorf("mam count of %s: the reply has no RSM count", archive)
	}
	return fin.Count, nil
}

// WaitArchiveCount polls ArchiveCount until archive holds at least want
// messages, backing off from 2 ms to 100 ms between queries. It returns an
// error with the last count when ctx ends first. Seeding functions are
// fire-and-forget, so tests wait with this before they sync.
func WaitArchiveCount(ctx context.Context, sess *xmpp.Session, archive jid.JID, want int) error {
	backoff := 2 * time.Millisecond
	last := -1
	for {
		n, err := ArchiveCount(ctx, sess, archive)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("wait for %d messages in %s (last count %d): %w", want, archive, last, ctx.Err())
			}
			return err
		}
		last = n
		if n >= want {
			return nil
		}
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("wait for %d messages in %s (last count %d): %w", want, archive, last, ctx.Err())
		case <-timer.C:
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

const (
	nsMAM = "urn:xmpp:mam:2"
	nsRSM = "http://jabber.org/protocol/rsm"
)

// queryPayload renders <query xmlns='urn:xmpp:mam:2'> for page.
func queryPayload(page Page) xml.TokenReader {
	var inner []xml.TokenReader
	var fields []xml.TokenReader
	field := func(name, value string) {
		fields = append(fields, xmlstream.Wrap(
			xmlstream.Wrap(xmlstream.Token(xml.CharData(value)), xml.StartElement{Name: xml.Name{Local: "value"}}),
			xml.StartElement{Name: xml.Name{Local: "field"}, Attr: []xml.Attr{{Name: xml.Name{Local: "var"}, Value: name}}},
		))
	}
	if !page.With.Equal(jid.JID{}) {
		field("with", page.With.String())
	}
	if !page.Start.IsZero() {
		field("start", page.Start.UTC().Format(time.RFC3339Nano))
	}
	if !page.End.IsZero() {
		field("end", page.End.UTC().Format(time.RFC3339Nano))
	}
	if len(fields) > 0 {
		formType := xmlstream.Wrap(
			xmlstream.Wrap(xmlstream.Token(xml.CharData(nsMAM)), xml.StartElement{Name: xml.Name{Local: "value"}}),
			xml.StartElement{Name: xml.Name{Local: "field"}, Attr: []xml.Attr{
				{Name: xml.Name{Local: "var"}, Value: "FORM_TYPE"},
				{Name: xml.Name{Local: "type"}, Value: "hidden"},
			}},
		)
		inner = append(inner, xmlstream.Wrap(
			xmlstream.MultiReader(append([]xml.TokenReader{formType}, fields...)...),
			xml.StartElement{Name: xml.Name{Space: "jabber:x:data", Local: "x"}, Attr: []xml.Attr{{Name: xml.Name{Local: "type"}, Value: "submit"}}},
		))
	}
	var set []xml.TokenReader
	text := func(name, value string) xml.TokenReader {
		return xmlstream.Wrap(xmlstream.Token(xml.CharData(value)), xml.StartElement{Name: xml.Name{Local: name}})
	}
	switch {
	case page.Max < 0:
		set = append(set, text("max", "0"))
	case page.Max > 0:
		set = append(set, text("max", fmt.Sprint(page.Max)))
	}
	switch {
	case page.Before != "":
		set = append(set, text("before", page.Before))
	case page.Last:
		set = append(set, xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: "before"}}))
	case page.After != "":
		set = append(set, text("after", page.After))
	}
	if len(set) > 0 {
		inner = append(inner, xmlstream.Wrap(xmlstream.MultiReader(set...), xml.StartElement{Name: xml.Name{Space: nsRSM, Local: "set"}}))
	}
	return xmlstream.Wrap(xmlstream.MultiReader(inner...), xml.StartElement{
		Name: xml.Name{Space: nsMAM, Local: "query"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "queryid"}, Value: page.QueryID}},
	})
}

// finXML is <fin/> as Prosody sends it.
type finXML struct {
	Complete string `xml:"complete,attr"`
	Stable   string `xml:"stable,attr"`
	Set      struct {
		First string  `xml:"first"`
		Last  string  `xml:"last"`
		Count *string `xml:"count"`
	} `xml:"http://jabber.org/protocol/rsm set"`
}

// errNoFin is returned for a result IQ without <fin/>.
var errNoFin = errors.New("the reply has no <fin xmlns='urn:xmpp:mam:2'/>")

// parseFinReply reads an IQ reply: a stanza.Error for type error, else the
// <fin/> child, wherever it is among whitespace and other children.
func parseFinReply(r xml.TokenReader) (Fin, error) {
	d := xml.NewTokenDecoder(r)
	var iqStart xml.StartElement
	for {
		tok, err := d.Token()
		if err != nil {
			return Fin{}, fmt.Errorf("read reply: %w", err)
		}
		if start, ok := tok.(xml.StartElement); ok {
			iqStart = start
			break
		}
	}
	iq, err := stanza.NewIQ(iqStart)
	if err != nil {
		return Fin{}, fmt.Errorf("read reply: %w", err)
	}
	if iq.Type == stanza.ErrorIQ {
		var se stanza.Error
		for {
			tok, err := d.Token()
			if err != nil {
				return Fin{}, fmt.Errorf("read error reply: %w", err)
			}
			if start, ok := tok.(xml.StartElement); ok && start.Name.Local == "error" {
				if err := d.DecodeElement(&se, &start); err != nil {
					return Fin{}, fmt.Errorf("read error reply: %w", err)
				}
				return Fin{}, se
			}
		}
	}
	if iq.Type != stanza.ResultIQ {
		return Fin{}, fmt.Errorf("reply of type %q", iq.Type)
	}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return Fin{}, errNoFin
		}
		if err != nil {
			return Fin{}, fmt.Errorf("read reply: %w", err)
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if start.Name.Space != nsMAM || start.Name.Local != "fin" {
			if err := d.Skip(); err != nil {
				return Fin{}, fmt.Errorf("read reply: %w", err)
			}
			continue
		}
		var f finXML
		if err := d.DecodeElement(&f, &start); err != nil {
			return Fin{}, fmt.Errorf("read fin: %w", err)
		}
		fin := Fin{
			Complete: f.Complete == "true" || f.Complete == "1",
			Stable:   f.Stable != "false" && f.Stable != "0",
			First:    f.Set.First,
			Last:     f.Set.Last,
			Count:    -1,
		}
		if f.Set.Count != nil {
			if _, err := fmt.Sscan(*f.Set.Count, &fin.Count); err != nil || fin.Count < 0 {
				return Fin{}, fmt.Errorf("read fin: bad RSM count %q", *f.Set.Count)
			}
		}
		return fin, nil
	}
}
