package fakeserver

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// element is a generic XML element as decoded from the client.
type element struct {
	XMLName  xml.Name
	Attr     []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []element  `xml:",any"`
}

// attr returns the value of the un-namespaced attribute name.
func (e *element) attr(name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// child returns the first child element with the given name.
func (e *element) child(space, local string) *element {
	for i := range e.Children {
		if c := &e.Children[i]; c.XMLName.Space == space && c.XMLName.Local == local {
			return c
		}
	}
	return nil
}

// conn is the server side of one client connection.
type conn struct {
	srv  *Server
	num  int
	sess *xmpp.Session
	pipe net.Conn
	full jid.JID
	// fullStr is full.String(), used on every result.
	fullStr string

	ctx    context.Context // ends when the connection ends
	cancel context.CancelFunc
	// writeSem serialises writes (a one-slot semaphore, so that waiting for
	// it can honour a context).
	writeSem  chan struct{}
	closeOnce sync.Once
	// stalled stops the read loop after the stanza it is reading (StallReads).
	stalled atomic.Bool
	// frozen makes the read loop ignore what it reads (Freeze).
	frozen atomic.Bool

	mu    sync.Mutex
	nicks map[string]string // joined room (bare) -> nick
}

func newConn(srv *Server, num int, sess *xmpp.Session, pipe net.Conn, full jid.JID) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		srv:      srv,
		num:      num,
		sess:     sess,
		pipe:     pipe,
		full:     full,
		fullStr:  full.String(),
		ctx:      ctx,
		cancel:   cancel,
		writeSem: make(chan struct{}, 1),
		nicks:    make(map[string]string),
	}
}

// close ends the connection abruptly: every goroutine serving it stops and the
// client sees its stream fail. reason is logged.
func (c *conn) close(reason error) {
	c.closeOnce.Do(func() {
		c.cancel()
		_ = c.pipe.Close()
		c.srv.logger.Debug("fakeserver: connection closed", "conn", c.num, "reason", reason)
		c.srv.connEnded(c)
	})
}

// write writes b to the client, serialised with every other write. ctx
// bounds the wait for the write lock and the write itself; a write cut short
// by ctx, or failed, ends the connection since the stream is broken.
func (c *conn) write(ctx context.Context, b []byte) error {
	select {
	case c.writeSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.ctx.Done():
		return net.ErrClosed
	}
	defer func() { <-c.writeSem }()
	if c.ctx.Err() != nil {
		return net.ErrClosed
	}
	if ctx == c.ctx || ctx.Done() == nil {
		// Closing the connection unblocks the write.
		c.srv.logOutput(b)
		if _, err := c.pipe.Write(b); err != nil {
			c.close(fmt.Errorf("write: %w", err))
			return err
		}
		return nil
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		_ = c.pipe.SetWriteDeadline(time.Unix(1, 0))
	})
	c.srv.logOutput(b)
	_, err := c.pipe.Write(b)
	if !stop() {
		<-fired
		c.close(fmt.Errorf("write interrupted: %w", ctx.Err()))
		return ctx.Err()
	}
	if err != nil {
		c.close(fmt.Errorf("write: %w", err))
	}
	return err
}

// sleep waits d or until the connection ends; it reports whether the
// connection is still up.
func (c *conn) sleep(d time.Duration) bool {
	if d <= 0 {
		return c.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// goServe runs f in a goroutine tracked by the server.
func (c *conn) goServe(f func()) {
	c.srv.wg.Add(1)
	go func() {
		defer c.srv.wg.Done()
		f()
	}()
}

// readLoop reads the client's stanzas until the stream ends. It never writes
// itself (replies are written by other goroutines), so a client that writes
// from its own read loop cannot deadlock against it over the synchronous pipe.
func (c *conn) readLoop() {
	defer c.srv.wg.Done()
	tr := c.sess.TokenReader()
	defer tr.Close()
	d := xml.NewTokenDecoder(tr)
	for {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				// The client ended its stream: end ours and hang up.
				c.srv.logger.Debug("fakeserver: client closed the stream", "conn", c.num)
				_ = c.write(c.ctx, []byte("</stream:stream>"))
				c.close(errors.New("client closed the stream"))
				return
			}
			c.close(fmt.Errorf("read: %w", err))
			return
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue // whitespace keepalive
		}
		var el element
		if err := d.DecodeElement(&el, &start); err != nil {
			c.srv.logger.Warn("fakeserver: undecodable stanza", "conn", c.num, "err", err)
			c.close(fmt.Errorf("decode %s: %w", start.Name.Local, err))
			return
		}
		if c.frozen.Load() {
			c.srv.logger.Debug("fakeserver: frozen, not answering", "conn", c.num, "name", el.XMLName.Local)
			continue
		}
		c.dispatch(&el)
		if c.stalled.Load() {
			c.srv.logger.Debug("fakeserver: reads stalled", "conn", c.num)
			<-c.ctx.Done()
			return
		}
	}
}

// dispatch handles one top-level element from the client.
func (c *conn) dispatch(el *element) {
	if el.XMLName.Space != nsClient {
		c.srv.logger.Warn("fakeserver: ignoring element outside jabber:client", "conn", c.num, "name", el.XMLName)
		return
	}
	switch el.XMLName.Local {
	case "iq":
		c.handleIQ(el)
	case "presence":
		c.handlePresence(el)
	case "message":
		c.handleMessage(el)
	default:
		c.srv.logger.Warn("fakeserver: ignoring unknown element", "conn", c.num, "name", el.XMLName.Local)
	}
}

// reply writes b from a new goroutine (see readLoop).
func (c *conn) reply(b []byte) {
	c.goServe(func() { _ = c.write(c.ctx, b) })
}

// replyError sends a stanza error for the IQ id, from the JID it was sent to.
func (c *conn) replyError(id, from string, e *stanzaError) {
	w := xmlWriter{}
	c.writeErrorIQ(&w, id, from, e)
	c.srv.errs.Add(1)
	c.reply(w.buf)
}

func (c *conn) writeErrorIQ(w *xmlWriter, id, from string, e *stanzaError) {
	cond := string(e.cond)
	if !isSimpleName(cond) {
		cond = string(stanza.UndefinedCondition)
	}
	typ := e.typ
	if typ == "" {
		typ = defaultErrorType(e.cond)
	}
	w.start("iq", "type", "error", "id", id, "to", c.fullStr, "from", from)
	w.start("error", "type", string(typ))
	w.empty(cond, "xmlns", nsStanzas)
	if e.text != "" {
		w.textElement("text", e.text, "xmlns", nsStanzas)
	}
	w.end("error")
	w.end("iq")
}

// isSimpleName reports whether s can be written as an element name.
func isSimpleName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func (c *conn) handleIQ(el *element) {
	id, typ, toAttr := el.attr("id"), el.attr("type"), el.attr("to")
	switch typ {
	case "result", "error":
		return // the server sends no requests; nothing to match
	case "get", "set":
	default:
		c.srv.logger.Warn("fakeserver: IQ with invalid type", "conn", c.num, "type", typ)
		if id != "" {
			c.replyError(id, toAttr, badRequest("invalid IQ type "+typ))
		}
		return
	}
	var to jid.JID
	if toAttr != "" {
		var err error
		if to, err = jid.Parse(toAttr); err != nil {
			c.replyError(id, "", &stanzaError{typ: stanza.Modify, cond: stanza.JIDMalformed, text: err.Error()})
			return
		}
	}
	var payload *element
	if len(el.Children) > 0 {
		payload = &el.Children[0]
	}
	switch {
	case payload == nil:
		c.srv.otherIQs.Add(1)
		c.replyError(id, toAttr, badRequest("IQ without payload"))
	case payload.XMLName.Space == nsMAM && payload.XMLName.Local == "query" && typ == "set":
		c.handleMAM(payload, id, to)
	case payload.XMLName.Space == nsMAM && payload.XMLName.Local == "query" && typ == "get":
		c.srv.otherIQs.Add(1)
		c.replyMAMForm(id, to)
	case payload.XMLName.Space == nsDiscoInfo && payload.XMLName.Local == "query" && typ == "get":
		c.srv.otherIQs.Add(1)
		c.replyDiscoInfo(id, to, payload.attr("node"))
	case payload.XMLName.Space == nsDiscoItems && payload.XMLName.Local == "query" && typ == "get":
		c.srv.otherIQs.Add(1)
		c.replyDiscoItems(id, to)
	case payload.XMLName.Space == nsPing && payload.XMLName.Local == "ping" && typ == "get":
		c.srv.otherIQs.Add(1)
		w := xmlWriter{}
		w.empty("iq", "type", "result", "id", id, "to", c.fullStr, "from", toAttr)
		c.reply(w.buf)
	default:
		c.srv.otherIQs.Add(1)
		c.replyError(id, toAttr, &stanzaError{typ: stanza.Cancel, cond: stanza.ServiceUnavailable})
	}
}

// isAccount reports whether to addresses the account itself (no to, or its
// bare JID).
func (c *conn) isAccount(to jid.JID) bool {
	return to.Equal(jid.JID{}) || to.Equal(c.srv.account)
}

func (c *conn) replyDiscoInfo(id string, to jid.JID, node string) {
	var identity [2]string
	var features []string
	mam := []string{nsMAM}
	if c.srv.extended {
		mam = append(mam, nsMAMExt)
	}
	switch {
	case node != "":
		c.replyError(id, to.String(), &stanzaError{typ: stanza.Cancel, cond: stanza.ItemNotFound})
		return
	case c.isAccount(to):
		identity = [2]string{"account", "registered"}
		features = append([]string{nsDiscoInfo, nsSID}, mam...)
	case to.Equal(c.srv.account.Domain()):
		identity = [2]string{"server", "im"}
		features = []string{nsDiscoInfo, nsDiscoItems, nsPing}
	case to.Equal(c.srv.mucService):
		identity = [2]string{"conference", "text"}
		features = []string{nsDiscoInfo, nsDiscoItems, nsMUC}
	default:
		a, ok := c.srv.lookupArchive(to)
		if !ok || !a.room || to.Resourcepart() != "" {
			c.replyError(id, to.String(), &stanzaError{typ: stanza.Cancel, cond: stanza.ItemNotFound})
			return
		}
		identity = [2]string{"conference", "text"}
		features = append([]string{nsDiscoInfo, nsMUC, nsSID}, mam...)
	}
	w := xmlWriter{}
	w.start("iq", "type", "result", "id", id, "to", c.fullStr, "from", to.String())
	w.start("query", "xmlns", nsDiscoInfo)
	w.empty("identity", "category", identity[0], "type", identity[1])
	for _, f := range features {
		w.empty("feature", "var", f)
	}
	w.end("query")
	w.end("iq")
	c.reply(w.buf)
}

func (c *conn) replyDiscoItems(id string, to jid.JID) {
	w := xmlWriter{}
	w.start("iq", "type", "result", "id", id, "to", c.fullStr, "from", to.String())
	w.start("query", "xmlns", nsDiscoItems)
	if to.Equal(c.srv.mucService) {
		for _, r := range c.srv.rooms() {
			if r.Domain().Equal(c.srv.mucService) {
				w.empty("item", "jid", r.String())
			}
		}
	}
	w.end("query")
	w.end("iq")
	c.reply(w.buf)
}

// replyMAMForm answers a MAM form discovery (an IQ get with <query/>).
func (c *conn) replyMAMForm(id string, to jid.JID) {
	w := xmlWriter{}
	w.start("iq", "type", "result", "id", id, "to", c.fullStr, "from", to.String())
	w.start("query", "xmlns", nsMAM)
	w.start("x", "xmlns", nsDataForm, "type", "form")
	w.start("field", "type", "hidden", "var", "FORM_TYPE")
	w.textElement("value", nsMAM)
	w.end("field")
	w.empty("field", "type", "jid-single", "var", "with")
	w.empty("field", "type", "text-single", "var", "start")
	w.empty("field", "type", "text-single", "var", "end")
	if c.srv.extended {
		w.empty("field", "type", "text-single", "var", "after-id")
		w.empty("field", "type", "text-single", "var", "before-id")
		w.empty("field", "type", "list-multi", "var", "ids")
	}
	w.end("x")
	w.end("query")
	w.end("iq")
	c.reply(w.buf)
}

// handlePresence answers MUC joins and leaves (presence to room@service/nick)
// with the self-presence (status 110) that muc.Client waits for. Other
// presences are ignored.
func (c *conn) handlePresence(el *element) {
	toAttr := el.attr("to")
	if toAttr == "" {
		return
	}
	to, err := jid.Parse(toAttr)
	if err != nil || to.Resourcepart() == "" || to.Localpart() == "" {
		return
	}
	room := to.Bare()
	if !room.Domain().Equal(c.srv.mucService) {
		if a, ok := c.srv.lookupArchive(room); !ok || !a.room {
			return
		}
	}
	typ := el.attr("type")
	role, affiliation := "participant", "member"
	switch typ {
	case "":
		c.srv.Archive(room) // joining creates the room
		c.mu.Lock()
		c.nicks[room.String()] = to.Resourcepart()
		c.mu.Unlock()
	case "unavailable":
		c.mu.Lock()
		delete(c.nicks, room.String())
		c.mu.Unlock()
		role, affiliation = "none", "member"
	default:
		return
	}
	w := xmlWriter{}
	w.start("presence", "from", to.String(), "to", c.fullStr, "type", typ)
	w.start("x", "xmlns", nsMUCUser)
	w.empty("item", "affiliation", affiliation, "role", role, "jid", c.fullStr)
	w.empty("status", "code", "110")
	w.end("x")
	w.end("presence")
	c.reply(w.buf)
}

// handleMessage archives what the client sends, as Prosody does: a groupchat
// message to a joined room is archived in the room and reflected with its
// stanza-id; a chat message is archived in the user archive (twice when sent
// to the account itself, see Archive.AppendSelfArchived).
func (c *conn) handleMessage(el *element) {
	to, err := jid.Parse(el.attr("to"))
	if err != nil || to.Equal(jid.JID{}) {
		return
	}
	m := Message{MessageID: el.attr("id"), To: to, From: c.full}
	if b := el.child(nsClient, "body"); b != nil {
		m.Body = b.Text
	}
	if o := el.child(nsSID, "origin-id"); o != nil {
		m.OriginID = o.attr("id")
	}
	if m.Body == "" {
		return // chat states, receipts: not archived
	}
	switch el.attr("type") {
	case "groupchat":
		room := to.Bare()
		c.mu.Lock()
		nick, joined := c.nicks[room.String()]
		c.mu.Unlock()
		if !joined {
			return
		}
		m.From, _ = room.WithResource(nick)
		m.To = jid.JID{}
		m.Type = stanza.GroupChatMessage
		c.goServe(func() {
			// SendLive archives and reflects; it fails only when the
			// connection is gone.
			if _, err := c.srv.SendLive(c.ctx, room, m); err != nil {
				c.srv.logger.Debug("fakeserver: reflecting groupchat message", "err", err)
			}
		})
	case "", "chat", "normal":
		m.Type = stanza.ChatMessage
		a := c.srv.Archive(c.srv.account)
		if to.Bare().Equal(c.srv.account) {
			a.AppendSelfArchived(m)
		} else {
			a.Append(m)
		}
	}
}

// handleMAM starts answering a MAM query in its own goroutine.
func (c *conn) handleMAM(payload *element, id string, to jid.JID) {
	q := Query{Conn: c.num, IQID: id, To: to}
	var a *Archive
	var qerr *stanzaError
	switch {
	case c.isAccount(to):
		q.Archive = c.srv.account
		a = c.srv.Archive(c.srv.account)
	case to.Resourcepart() != "" || to.Localpart() == "" || to.Domain().Equal(c.srv.account.Domain()):
		// An occupant, a server, or another account of this server: like
		// Prosody, which answers service-unavailable for another user's
		// archive.
		q.Archive = to
		qerr = &stanzaError{typ: stanza.Cancel, cond: stanza.ServiceUnavailable}
	default:
		q.Archive = to.Bare()
		var ok bool
		if a, ok = c.srv.lookupArchive(to); !ok || !a.room {
			qerr = &stanzaError{typ: stanza.Cancel, cond: stanza.ItemNotFound, text: "no such room"}
		}
	}
	if err := parseQuery(payload, c.srv.extended, &q); err != nil && qerr == nil {
		qerr = err
	}
	script := c.srv.queryStarted(&q)
	c.goServe(func() {
		defer c.srv.queryDone()
		var f Fault
		if script != nil {
			f = script(q)
			c.srv.logger.Debug("fakeserver: scripted query", "query", q.QueryID, "fault", fmt.Sprintf("%+v", f))
		}
		(&answer{c: c, q: &q, a: a, qerr: qerr, f: &f}).run()
	})
}

// answer sends the reply to one MAM query.
type answer struct {
	c    *conn
	q    *Query
	a    *Archive
	qerr *stanzaError
	f    *Fault

	from    string // from attribute of results and reply
	out     xmlWriter
	pending int // results in out not yet written
	page    page
}

// flush writes what is buffered; it reports whether the connection is up.
func (r *answer) flush() bool {
	if len(r.out.buf) == 0 {
		return r.c.ctx.Err() == nil
	}
	err := r.c.write(r.c.ctx, r.out.buf)
	r.out.buf = r.out.buf[:0]
	if err != nil {
		r.pending = 0
		return false
	}
	r.c.srv.results.Add(int64(r.pending))
	r.pending = 0
	return true
}

func (r *answer) run() {
	c, q, f := r.c, r.q, r.f
	r.out.pretty = f.Whitespace
	if !c.sleep(f.Delay) {
		return
	}
	if f.Silence {
		<-c.ctx.Done()
		return
	}
	if !q.To.Equal(jid.JID{}) {
		r.from = q.Archive.String()
	}
	if r.qerr == nil && (f.ErrorCondition == "" || f.ErrorAfterResults) {
		limit := c.srv.defaultPage
		if q.HasMax {
			limit = min(q.Max, c.srv.maxPage)
		}
		r.page, r.qerr = r.a.page(q, limit)
	}
	items := r.page.items
	if q.FlipPage {
		items = make([]*entry, len(r.page.items))
		for i, e := range r.page.items {
			items[len(items)-1-i] = e
		}
	}
	if f.ErrorCondition != "" && !f.ErrorAfterResults {
		items = nil
	}
	// Size the output once: a page is written in one go unless delayed.
	perResult := 160 + len(c.fullStr) + len(r.from) + len(q.QueryID) + max(f.BodySize, 0)
	size := 512
	for _, e := range items {
		size += len(e.fwd) + perResult
	}
	if f.Whitespace {
		size *= 2
	}
	r.out.buf = make([]byte, 0, size)

	// The page's results.
	for i, e := range items {
		if f.Disconnect && i == f.DisconnectAfter {
			break
		}
		if i > 0 && f.ResultInterval > 0 {
			if !r.flush() || !c.sleep(f.ResultInterval) {
				return
			}
		}
		r.result(q.QueryID, r.from, e)
	}
	if f.Disconnect {
		r.flush()
		c.close(fmt.Errorf("scripted disconnect after %d results of query %q", min(f.DisconnectAfter, len(items)), q.QueryID))
		return
	}

	if f.StallInResult {
		r.stallInResult()
		return
	}

	// Extra results.
	for i := range f.Flood {
		r.result(q.QueryID, r.from, r.invented(fmt.Sprintf("flood %d", i)))
	}
	for i := range f.UnknownQueryIDResults {
		r.result("unknown-"+c.srv.newID(), r.from, r.invented(fmt.Sprintf("unknown query id %d", i)))
	}
	for i := range f.SpoofedResults {
		r.result(q.QueryID, r.spoofFrom(), r.invented(fmt.Sprintf("spoofed %d", i)))
	}
	if f.FinDelay > 0 {
		if !r.flush() || !c.sleep(f.FinDelay) {
			return
		}
	}

	// The reply.
	if !r.reply() {
		return
	}
	if !r.flush() {
		return
	}

	// Stragglers.
	if f.Stragglers > 0 {
		if !c.sleep(f.StragglerDelay) {
			return
		}
		for i := range f.Stragglers {
			var e *entry
			if n := len(r.page.items); n > 0 {
				e = r.page.items[i%n]
			} else {
				e = r.invented(fmt.Sprintf("straggler %d", i))
			}
			r.result(q.QueryID, r.from, e)
		}
		r.flush()
	}
}

// stallInResult writes what is buffered and the start of one more result
// message, up to its <forwarded> start tag, then holds the query until the
// connection ends.
func (r *answer) stallInResult() {
	w := &r.out
	w.start("message", "to", r.c.fullStr, "from", r.from)
	w.start("result", "xmlns", nsMAM, "queryid", r.q.QueryID, "id", r.invented("stalled").msg.ID)
	w.start("forwarded", "xmlns", nsForward)
	r.flush()
	<-r.c.ctx.Done()
}

// spoofFrom is the address of spoofed results and replies.
func (r *answer) spoofFrom() string {
	if r.f.SpoofFrom.Equal(jid.JID{}) {
		return "mallory@evil.example"
	}
	return r.f.SpoofFrom.String()
}

// reply buffers the IQ reply; it returns false when the query is to be held
// without a reply (DropReply), after the connection ended.
func (r *answer) reply() bool {
	c, q, f, w := r.c, r.q, r.f, &r.out
	from := r.from
	if f.SpoofReply {
		from = r.spoofFrom()
	}
	switch {
	case f.ErrorCondition != "":
		c.writeErrorIQ(w, q.IQID, from, &stanzaError{typ: f.ErrorType, cond: f.ErrorCondition, text: f.ErrorText})
		c.srv.errs.Add(1)
	case f.DropReply:
		r.flush()
		<-c.ctx.Done()
		return false
	case f.StallInReply:
		w.start("iq", "type", "result", "id", q.IQID, "to", c.fullStr, "from", from)
		w.start("fin", "xmlns", nsMAM, "queryid", q.QueryID)
		r.flush()
		<-c.ctx.Done()
		return false
	case f.RawPayload != "":
		w.start("iq", "type", "result", "id", q.IQID, "to", c.fullStr, "from", from)
		w.raw([]byte(f.RawPayload))
		w.end("iq")
		c.srv.fins.Add(1)
	case f.WrongPayload:
		w.start("iq", "type", "result", "id", q.IQID, "to", c.fullStr, "from", from)
		w.start("query", "xmlns", nsMAM, "queryid", q.QueryID)
		r.writeSet(false, false)
		w.end("query")
		w.end("iq")
		c.srv.fins.Add(1)
	case f.NoFin:
		w.start("iq", "type", "result", "id", q.IQID, "to", c.fullStr, "from", from)
		w.end("iq")
		c.srv.fins.Add(1)
	case r.qerr != nil:
		c.writeErrorIQ(w, q.IQID, from, r.qerr)
		c.srv.errs.Add(1)
	default:
		w.start("iq", "type", "result", "id", q.IQID, "to", c.fullStr, "from", from)
		complete := ""
		if r.page.complete {
			complete = "true"
		}
		w.start("fin", "xmlns", nsMAM, "queryid", q.QueryID, "complete", complete)
		r.writeSet(f.UnbalancedFin, f.MismatchedFin)
		w.end("fin")
		w.end("iq")
		c.srv.fins.Add(1)
	}
	return true
}

// writeSet writes the RSM set describing the page.
func (r *answer) writeSet(unbalanced, mismatched bool) {
	w := &r.out
	w.start("set", "xmlns", nsRSM)
	items := r.page.items
	first, last, index := "", "", r.page.firstIndex
	if len(items) > 0 {
		first, last = items[0].msg.ID, items[len(items)-1].msg.ID
	}
	if mismatched {
		first, last = "mismatched-"+r.c.srv.newID(), "mismatched-"+r.c.srv.newID()
	}
	if unbalanced && first == "" {
		first, index = "unbalanced-"+r.c.srv.newID(), 0
	}
	if first != "" {
		w.textElement("first", first, "index", fmt.Sprint(index))
	}
	if last != "" && !unbalanced {
		w.textElement("last", last)
	}
	w.textElement("count", fmt.Sprint(r.page.count))
	w.end("set")
}

// result buffers one <result/> message for e.
func (r *answer) result(queryID, from string, e *entry) {
	w := &r.out
	w.start("message", "to", r.c.fullStr, "from", from)
	w.start("result", "xmlns", nsMAM, "queryid", queryID, "id", e.msg.ID)
	if !w.pretty && r.f.BodySize <= 0 && e.fwd != nil {
		w.raw(e.fwd)
	} else {
		r.archive().writeForwarded(w, &e.msg, sizedBody(e.msg.Body, r.f.BodySize))
	}
	w.end("result")
	w.end("message")
	r.pending++
}

// archive returns the queried archive, or a stand-in for queries to archives
// that do not exist (whose faults may still invent results).
func (r *answer) archive() *Archive {
	if r.a != nil {
		return r.a
	}
	return &Archive{srv: r.c.srv, jid: r.q.Archive, room: true}
}

// invented returns a message that is not in the archive, for extra results.
func (r *answer) invented(body string) *entry {
	a := r.archive()
	m := Message{ID: "extra-" + r.c.srv.newID(), Body: body, Stamp: r.c.srv.now(), Type: stanza.ChatMessage}
	if a.room {
		m.Type = stanza.GroupChatMessage
		m.From, _ = a.jid.WithResource("extra")
	} else {
		m.From = jid.MustParse("extra@example.org")
		m.To = a.jid
	}
	return &entry{msg: m}
}

// sizedBody pads (with 'x') or cuts body to n bytes; n <= 0 keeps it.
func sizedBody(body string, n int) string {
	switch {
	case n <= 0 || len(body) == n:
		return body
	case len(body) > n:
		return body[:n]
	default:
		return body + strings.Repeat("x", n-len(body))
	}
}
