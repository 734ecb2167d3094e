package fakeserver_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/history"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync/internal/fakeserver"
)

// gotResult is a MAM result as the test client received it.
type gotResult struct {
	From      string // the outer message's from ("" for the account)
	QueryID   string
	ID        string
	Stamp     string
	MsgFrom   string
	MsgType   string
	Body      string
	OriginID  string
	StanzaID  string
	StanzaBy  string
	LeadingWS bool // whitespace preceded <result/> inside the message
}

// gotLive is a live message carrying a stanza-id.
type gotLive struct {
	From, Type, By, ID string
}

type resultXML struct {
	QueryID   string `xml:"queryid,attr"`
	ID        string `xml:"id,attr"`
	Forwarded struct {
		Delay struct {
			Stamp string `xml:"stamp,attr"`
		} `xml:"urn:xmpp:delay delay"`
		Message struct {
			From     string `xml:"from,attr"`
			Type     string `xml:"type,attr"`
			Body     string `xml:"jabber:client body"`
			OriginID struct {
				ID string `xml:"id,attr"`
			} `xml:"urn:xmpp:sid:0 origin-id"`
			StanzaID struct {
				ID string `xml:"id,attr"`
				By string `xml:"by,attr"`
			} `xml:"urn:xmpp:sid:0 stanza-id"`
		} `xml:"jabber:client message"`
	} `xml:"urn:xmpp:forward:0 forwarded"`
}

// client is a plain mellium client session with a mux that records MAM
// results and live messages.
type client struct {
	t      *testing.T
	sess   *xmpp.Session
	served chan error

	mu      sync.Mutex
	results []gotResult
	live    []gotLive
	changed chan struct{}
}

func connect(t *testing.T, srv *fakeserver.Server, extra ...mux.Option) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := srv.Connect(ctx)
	require.NoError(t, err)
	c := &client{t: t, sess: sess, served: make(chan error, 1), changed: make(chan struct{})}
	opts := []mux.Option{
		mux.MessageFunc(stanza.NormalMessage, xml.Name{Space: history.NS, Local: "result"}, c.handleResult),
		mux.MessageFunc(stanza.GroupChatMessage, xml.Name{Space: "urn:xmpp:sid:0", Local: "stanza-id"}, c.handleLive),
		mux.MessageFunc(stanza.ChatMessage, xml.Name{Space: "urn:xmpp:sid:0", Local: "stanza-id"}, c.handleLive),
	}
	m := mux.New(stanza.NSClient, append(opts, extra...)...)
	go func() { c.served <- sess.Serve(m) }()
	return c
}

func (c *client) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *client) handleResult(msg stanza.Message, r xmlstream.TokenReadEncoder) error {
	d := xml.NewTokenDecoder(r)
	ws := false
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch tok := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(tok)) == 0 && len(tok) > 0 {
				ws = true
			}
		case xml.StartElement:
			if tok.Name.Local != "result" {
				continue
			}
			var res resultXML
			if err := d.DecodeElement(&res, &tok); err != nil {
				return err
			}
			m := res.Forwarded.Message
			c.mu.Lock()
			c.results = append(c.results, gotResult{
				From: msg.From.String(), QueryID: res.QueryID, ID: res.ID, Stamp: res.Forwarded.Delay.Stamp,
				MsgFrom: m.From, MsgType: m.Type, Body: m.Body, OriginID: m.OriginID.ID,
				StanzaID: m.StanzaID.ID, StanzaBy: m.StanzaID.By, LeadingWS: ws,
			})
			c.notifyLocked()
			c.mu.Unlock()
			return nil
		}
	}
}

func (c *client) handleLive(msg stanza.Message, r xmlstream.TokenReadEncoder) error {
	d := xml.NewTokenDecoder(r)
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		start, ok := tok.(xml.StartElement)
		if !ok || start.Name.Local != "stanza-id" {
			continue
		}
		var sid struct {
			ID string `xml:"id,attr"`
			By string `xml:"by,attr"`
		}
		if err := d.DecodeElement(&sid, &start); err != nil {
			return err
		}
		c.mu.Lock()
		c.live = append(c.live, gotLive{From: msg.From.String(), Type: string(msg.Type), By: sid.By, ID: sid.ID})
		c.notifyLocked()
		c.mu.Unlock()
		return nil
	}
}

// resultsFor returns the results received with queryid qid.
func (c *client) resultsFor(qid string) []gotResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []gotResult
	for _, r := range c.results {
		if r.QueryID == qid {
			out = append(out, r)
		}
	}
	return out
}

func (c *client) allResults() []gotResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]gotResult(nil), c.results...)
}

func (c *client) liveMessages() []gotLive {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]gotLive(nil), c.live...)
}

// waitFor blocks until cond holds on the client's records.
func (c *client) waitFor(ctx context.Context, cond func() bool) error {
	for {
		c.mu.Lock()
		ch := c.changed
		c.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *client) waitResults(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.waitFor(ctx, func() bool { return len(c.allResults()) >= n }), "waiting for %d results, have %d", n, len(c.allResults()))
}

// waitServed waits for the client's Serve to return and returns its error.
func (c *client) waitServed(t *testing.T) error {
	t.Helper()
	select {
	case err := <-c.served:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("client Serve did not return")
		return nil
	}
}

// fetch runs history.Fetch (the plain mellium round trip).
func (c *client) fetch(ctx context.Context, to jid.JID, q history.Query) (history.Result, error) {
	return history.Fetch(ctx, q, to, c.sess)
}

// rawQuery sends a MAM query and returns the raw IQ response, re-encoded.
func (c *client) rawQuery(ctx context.Context, to jid.JID, q history.Query) (string, error) {
	return c.rawIQ(ctx, stanza.IQ{To: to, Type: stanza.SetIQ}, q.TokenReader())
}

// rawIQ sends an IQ and returns its response re-encoded as XML (whitespace
// included).
func (c *client) rawIQ(ctx context.Context, iq stanza.IQ, payload xml.TokenReader) (string, error) {
	resp, err := c.sess.SendIQElement(ctx, payload, iq)
	if err != nil {
		return "", err
	}
	defer resp.Close()
	var buf bytes.Buffer
	e := xml.NewEncoder(&buf)
	for {
		tok, err := resp.Token()
		if tok != nil {
			tok = xml.CopyToken(tok)
			if start, ok := tok.(xml.StartElement); ok {
				// The name carries the namespace; drop the declarations so
				// that the encoder does not write them twice.
				start.Attr = slices.DeleteFunc(start.Attr, func(a xml.Attr) bool {
					return a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns"
				})
				tok = start
			}
			if err := e.EncodeToken(tok); err != nil {
				return buf.String(), err
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return buf.String(), err
		}
	}
	if err := e.Flush(); err != nil {
		return buf.String(), err
	}
	return buf.String(), nil
}

// iqXML is a decoded IQ response.
type iqXML struct {
	XMLName xml.Name
	Type    string `xml:"type,attr"`
	From    string `xml:"from,attr"`
	Fin     *finXML
	Query   *struct {
		XMLName xml.Name
	} `xml:"urn:xmpp:mam:2 query"`
	Error *struct {
		Type      string `xml:"type,attr"`
		Condition []struct {
			XMLName xml.Name
		} `xml:",any"`
	} `xml:"error"`
	Children []struct {
		XMLName xml.Name
	} `xml:",any"`
}

type finXML struct {
	XMLName  xml.Name `xml:"urn:xmpp:mam:2 fin"`
	Complete string   `xml:"complete,attr"`
	QueryID  string   `xml:"queryid,attr"`
	Set      struct {
		First *struct {
			ID    string `xml:",chardata"`
			Index string `xml:"index,attr"`
		} `xml:"first"`
		Last  *string `xml:"last"`
		Count string  `xml:"count"`
	} `xml:"http://jabber.org/protocol/rsm set"`
}

func parseIQ(t *testing.T, raw string) iqXML {
	t.Helper()
	var iq iqXML
	require.NoError(t, xml.Unmarshal([]byte(raw), &iq), raw)
	return iq
}

// condition returns the error condition of an error IQ.
func (iq iqXML) condition() string {
	if iq.Error == nil {
		return ""
	}
	for _, c := range iq.Error.Condition {
		if c.XMLName.Space == "urn:ietf:params:xml:ns:xmpp-stanzas" && c.XMLName.Local != "text" {
			return c.XMLName.Local
		}
	}
	return ""
}

func ids(rs []gotResult) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// seed appends n messages to a and returns their archive ids.
func seed(a *fakeserver.Archive, n int, start time.Time) []string {
	msgs := make([]fakeserver.Message, n)
	from := jid.MustParse("romeo@example.com/orchard")
	if a.IsRoom() {
		from, _ = a.JID().WithResource("romeo")
	}
	for i := range msgs {
		msgs[i] = fakeserver.Message{
			From:      from,
			To:        a.JID(),
			Body:      "message " + strings.Repeat("·", i%3) + string(rune('A'+i%26)),
			OriginID:  "origin-" + strconv.Itoa(i),
			MessageID: "msg-" + strconv.Itoa(i),
			Stamp:     start.Add(time.Duration(i) * time.Minute),
		}
	}
	return a.Append(msgs...)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// xmlTokens returns a token reader over the XML in s.
func xmlTokens(s string) xml.TokenReader {
	return xml.NewDecoder(strings.NewReader(s))
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
