package historysync

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"testing"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// fuzzLimits are small caps, so that fuzzed input reaches them.
var fuzzLimits = BufferLimits{ResultBytes: 512, QueryResults: 5, QueryBytes: 4096, TotalResults: 8, TotalBytes: 6000}

// newFuzzSyncer returns a Syncer that is not bound to a session: enough for
// the receive path (routing, parsing, checking, live extension into a
// MemStore), driven directly by the fuzz target.
func newFuzzSyncer(live Archive) *Syncer {
	cfg := defaultConfig()
	cfg.limits = fuzzLimits
	cfg.clock = newFakeClock(base)
	ctx, cancel := context.WithCancelCause(context.Background())
	s := &Syncer{
		store:    NewMemStore(),
		cfg:      cfg,
		account:  jid.MustParse("juliet@example.net"),
		tracker:  newTracker(cfg.limits),
		ctx:      ctx,
		cancel:   cancel,
		archives: make(map[string]*archiveState),
	}
	s.scratch.New = func() any {
		toks := make([]xml.Token, 0, 32)
		return &toks
	}
	// The fake clock never moves: no stall is ever reported.
	s.watch = newStallWatch(ctx, cfg.clock, cfg.pageTimeout, s.streamStalled)
	st := s.archiveState(live)
	st.ranges = []Range{{FromID: "old", FromTime: base, ToID: "old", ToTime: base}}
	st.attached = true
	s.attached.Add(1)
	return s
}

// copyingReader copies every token, as mux's reader does (the decoder
// reuses its buffers).
type copyingReader struct{ d *xml.Decoder }

func (r copyingReader) Token() (xml.Token, error) {
	tok, err := r.d.Token()
	if tok != nil {
		tok = xml.CopyToken(tok)
	}
	return tok, err
}

// elements splits data into its top-level elements, as token slices that
// start with the element's start token. Malformed XML ends the split.
func elements(data []byte) [][]xml.Token {
	r := copyingReader{xml.NewDecoder(bytes.NewReader(data))}
	var out [][]xml.Token
	var cur []xml.Token
	depth := 0
	for {
		tok, err := r.Token()
		if tok == nil || err != nil && !errors.Is(err, io.EOF) {
			if depth > 0 {
				out = append(out, cur) // truncated: the parsers must cope
			}
			return out
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
		if depth > 0 || len(cur) > 0 {
			cur = append(cur, tok)
		}
		if depth == 0 && len(cur) > 0 {
			out = append(out, cur)
			cur = nil
		}
	}
}

// FuzzReceive drives the Syncer's receive path with arbitrary stanzas from
// the server: result messages routed by handleResult (the Serve goroutine's
// part), then for the query the IQ reply read by readReply and the buffered
// results parsed and checked against it (the query goroutine's part), and
// every message offered to live extension. Nothing may panic, the buffers
// stay within their caps, and releasing the query leaves nothing behind.
func FuzzReceive(f *testing.F) {
	const room = "coven@conference.example.net"
	result := func(qid, id, body string) string {
		return `<message xmlns='jabber:client' from='` + room + `' to='juliet@example.net/balcony'>` +
			`<result xmlns='urn:xmpp:mam:2' queryid='` + qid + `' id='` + id + `'><forwarded xmlns='urn:xmpp:forward:0'>` +
			`<delay xmlns='urn:xmpp:delay' stamp='2025-03-01T12:00:00Z'/>` +
			`<message xmlns='jabber:client' from='` + room + `/witch' type='groupchat'><body>` + body + `</body>` +
			`<stanza-id xmlns='urn:xmpp:sid:0' by='` + room + `' id='` + id + `'/></message></forwarded></result></message>`
	}
	fin := `<iq xmlns='jabber:client' type='result' id='iq1' from='` + room + `'><fin xmlns='urn:xmpp:mam:2' complete='true'>` +
		`<set xmlns='http://jabber.org/protocol/rsm'><first index='0'>a</first><last>b</last><count>2</count></set></fin></iq>`
	live := `<message xmlns='jabber:client' from='` + room + `/witch' type='groupchat'><body>live</body>` +
		`<stanza-id xmlns='urn:xmpp:sid:0' by='` + room + `' id='l1'/></message>`
	f.Add([]byte(result("q", "a", "one")+result("q", "b", "two")), []byte(fin))
	f.Add([]byte(result("q", "a", "one")+"\n "+result("other", "x", "")+live), []byte(fin))
	f.Add([]byte(result("q", "a", "<b>bold</b>")), []byte(`<iq xmlns='jabber:client' type='error' id='iq1' from='`+room+`'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`))
	f.Add([]byte(live), []byte(`<iq xmlns='jabber:client' type='result' id='iq1'/>`))

	f.Fuzz(func(t *testing.T, stanzas, reply []byte) {
		a := Room(jid.MustParse(room))
		s := newFuzzSyncer(a)
		ctx := context.Background()
		q := &query{id: "q", archive: a, from: a.JID, maxBytes: int64(fuzzLimits.QueryBytes)}
		n, err := s.tracker.begin(ctx, ctx, q, fuzzLimits.QueryResults)
		if err != nil {
			t.Fatal(err)
		}
		q.maxResults = n

		for _, el := range elements(stanzas) {
			start, ok := el[0].(xml.StartElement)
			if !ok {
				continue
			}
			var from jid.JID
			if v, ok := attr(start, "from"); ok {
				from, _ = jid.Parse(v)
			}
			s.handleResult(from, &sliceReader{toks: el})
			if msg, err := stanza.NewMessage(start); err == nil {
				s.ObserveLive(msg, &sliceReader{toks: el})
			}
			g := s.tracker.gauges()
			if g.results > int64(fuzzLimits.TotalResults) || g.bytes > fuzzLimits.TotalBytes {
				t.Fatalf("buffers beyond the global caps: %+v", g)
			}
			if len(q.captures) > q.maxResults || q.bytes > q.maxBytes {
				t.Fatalf("query buffer beyond its caps: %d results, %d bytes", len(q.captures), q.bytes)
			}
		}

		var fin Fin
		var replyErr error
		if els := elements(reply); len(els) > 0 {
			fin, replyErr = readReply(&sliceReader{toks: els[0]}, q)
		} else {
			replyErr = ErrMissingFin
		}
		tokens, captures := s.tracker.finish(q)
		if replyErr == nil {
			msgs := s.parseCaptures(q, tokens, captures)
			if err := checkPage(q, fin, msgs); err == nil {
				fillTimes(msgs)
				for _, m := range msgs {
					if m.ArchiveID == "" {
						t.Fatalf("accepted page has a message without archive id: %+v", msgs)
					}
				}
			} else if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrFlood) && !errors.Is(err, ErrBufferFull) {
				t.Fatalf("page check error %v is not a known failure", err)
			}
		} else {
			var se stanza.Error
			if !errors.Is(replyErr, ErrMalformed) && !errors.As(replyErr, &se) {
				t.Fatalf("reply error %v is neither malformed nor a stanza error", replyErr)
			}
		}
		s.tracker.end(q, replyErr)
		if g := s.tracker.gauges(); g.tracked != 0 || g.results != 0 || g.bytes != 0 {
			t.Fatalf("left behind after the release: %+v", g)
		}
		// A result for the released query is late.
		s.handleResult(a.JID, &sliceReader{toks: elements([]byte(result("q", "z", "late")))[0]})
		if s.tracker.gauges().results != 0 {
			t.Fatal("a late result was buffered")
		}
	})
}
