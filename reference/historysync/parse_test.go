package historysync

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// decodeFirst returns a decoder positioned after the first start element of
// data, and that element.
func decodeFirst(data []byte) (*xml.Decoder, xml.StartElement, bool) {
	d := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, xml.StartElement{}, false
		}
		if start, ok := tok.(xml.StartElement); ok {
			return d, start, true
		}
	}
}

func parseResultString(t *testing.T, s string, opts ParseOptions) (Result, error) {
	t.Helper()
	d, start, ok := decodeFirst([]byte(s))
	require.True(t, ok, "no start element in %q", s)
	return ParseResult(d, start, opts)
}

func parseFinString(t *testing.T, s string) (Fin, error) {
	t.Helper()
	d, start, ok := decodeFirst([]byte(s))
	require.True(t, ok, "no start element in %q", s)
	return ParseFin(d, start)
}

const prosodyResult = `<result xmlns='urn:xmpp:mam:2' queryid='q1' id='28482-98726-73623'>
  <forwarded xmlns='urn:xmpp:forward:0'>
    <delay xmlns='urn:xmpp:delay' stamp='2010-07-10T23:08:25Z'/>
    <message xmlns='jabber:client' from="witch@shakespeare.lit/cauldron" to="macbeth@shakespeare.lit" type='chat' id='m-1'>
      <body>Hail to thee &amp; welcome</body>
      <body xml:lang='de'>Heil dir</body>
      <origin-id xmlns='urn:xmpp:sid:0' id='o-1'/>
      <stanza-id xmlns='urn:xmpp:sid:0' by='macbeth@shakespeare.lit' id='28482-98726-73623'/>
      <markable xmlns='urn:xmpp:chat-markers:0'/>
    </message>
  </forwarded>
</result>`

func TestParseResultProsody(t *testing.T) {
	res, err := parseResultString(t, prosodyResult, ParseOptions{KeepRaw: true})
	require.NoError(t, err)
	assert.Equal(t, "q1", res.QueryID)
	m := res.Message
	assert.Equal(t, "28482-98726-73623", m.ArchiveID)
	assert.Equal(t, time.Date(2010, 7, 10, 23, 8, 25, 0, time.UTC), m.Time)
	assert.Equal(t, "witch@shakespeare.lit/cauldron", m.From)
	assert.Equal(t, "macbeth@shakespeare.lit", m.To)
	assert.EqualValues(t, "chat", m.Type)
	assert.Equal(t, "m-1", m.ID)
	assert.Equal(t, "o-1", m.OriginID)
	assert.Equal(t, "Hail to thee & welcome", m.Body)
	assert.Equal(t, []StanzaID{{By: "macbeth@shakespeare.lit", ID: "28482-98726-73623"}}, res.StanzaIDs)
	assert.Positive(t, res.Size)

	// Raw is the archived message, well-formed, with its payloads.
	require.NotEmpty(t, m.Raw)
	d, start, ok := decodeFirst(m.Raw)
	require.True(t, ok)
	assert.Equal(t, xml.Name{Space: "jabber:client", Local: "message"}, start.Name)
	var decoded struct {
		Bodies []struct {
			Lang string `xml:"http://www.w3.org/XML/1998/namespace lang,attr"`
			Text string `xml:",chardata"`
		} `xml:"jabber:client body"`
		Markable *struct{} `xml:"urn:xmpp:chat-markers:0 markable"`
	}
	require.NoError(t, d.DecodeElement(&decoded, &start))
	require.Len(t, decoded.Bodies, 2)
	assert.Equal(t, "Hail to thee & welcome", decoded.Bodies[0].Text)
	assert.Equal(t, "de", decoded.Bodies[1].Lang)
	assert.NotNil(t, decoded.Markable)
}

func TestParseResultFractionalStampAndNoRaw(t *testing.T) {
	res, err := parseResultString(t, `<result xmlns='urn:xmpp:mam:2' id='a'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2024-01-02T03:04:05.123456+02:00'/><message xmlns='jabber:client'/></forwarded></result>`, ParseOptions{})
	require.NoError(t, err)
	assert.Equal(t, time.Date(2024, 1, 2, 1, 4, 5, 123456000, time.UTC), res.Message.Time)
	assert.Empty(t, res.QueryID)
	assert.Nil(t, res.Message.Raw)
	assert.Empty(t, res.Message.Body)
}

func TestParseResultErrors(t *testing.T) {
	const fwd = `<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2024-01-02T03:04:05Z'/><message xmlns='jabber:client'><body>x</body></message></forwarded>`
	for _, tc := range []struct {
		name, xml string
		want      error
	}{
		{"wrong element", `<fin xmlns='urn:xmpp:mam:2'/>`, ErrWrongPayload},
		{"wrong namespace", `<result xmlns='urn:xmpp:mam:1' id='a'>` + fwd + `</result>`, ErrWrongPayload},
		{"no id", `<result xmlns='urn:xmpp:mam:2' queryid='q'>` + fwd + `</result>`, ErrMalformed},
		{"no forwarded", `<result xmlns='urn:xmpp:mam:2' id='a'/>`, ErrMalformed},
		{"two forwarded", `<result xmlns='urn:xmpp:mam:2' id='a'>` + fwd + fwd + `</result>`, ErrMalformed},
		{"no delay", `<result xmlns='urn:xmpp:mam:2' id='a'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'/></forwarded></result>`, ErrMalformed},
		{"bad stamp", `<result xmlns='urn:xmpp:mam:2' id='a'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='yesterday'/><message xmlns='jabber:client'/></forwarded></result>`, ErrMalformed},
		{"no message", `<result xmlns='urn:xmpp:mam:2' id='a'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2024-01-02T03:04:05Z'/></forwarded></result>`, ErrMalformed},
		{"two messages", `<result xmlns='urn:xmpp:mam:2' id='a'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2024-01-02T03:04:05Z'/><message xmlns='jabber:client'/><message xmlns='jabber:client'/></forwarded></result>`, ErrMalformed},
		{"message in foreign namespace", `<result xmlns='urn:xmpp:mam:2' id='a'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2024-01-02T03:04:05Z'/><message xmlns='urn:example'/></forwarded></result>`, ErrMalformed},
		{"truncated", `<result xmlns='urn:xmpp:mam:2' id='a'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2024-01-02T03:04:05Z'/><message xmlns='jabber:client'><body>x`, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseResultString(t, tc.xml, ParseOptions{KeepRaw: true})
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.want)
		})
	}
}

func TestParseResultTooLarge(t *testing.T) {
	big := strings.Repeat("x", 5000)
	res, err := parseResultString(t, `<result xmlns='urn:xmpp:mam:2' queryid='q' id='a'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2024-01-02T03:04:05Z'/><message xmlns='jabber:client'><body>`+big+`</body></message></forwarded></result>`, ParseOptions{MaxBytes: 1000, KeepRaw: true})
	require.ErrorIs(t, err, ErrResultTooLarge)
	require.NotErrorIs(t, err, ErrMalformed)
	// The identity survives so that the caller can store a placeholder.
	assert.Equal(t, "q", res.QueryID)
	assert.Equal(t, "a", res.Message.ArchiveID)
	assert.False(t, res.Message.Time.IsZero())
	assert.Nil(t, res.Message.Raw)
	assert.Empty(t, res.Message.Body, "the body of an oversized message is not kept")
	assert.Greater(t, res.Size, 1000)
}

// sliceReader is an xml.TokenReader over fixed tokens; it lets tests feed
// token streams no decoder would produce.
type sliceReader struct {
	toks []xml.Token
	i    int
}

func (r *sliceReader) Token() (xml.Token, error) {
	if r.i >= len(r.toks) {
		return nil, io.EOF
	}
	r.i++
	return r.toks[r.i-1], nil
}

func TestParseResultHostileTokenStreams(t *testing.T) {
	start := xml.StartElement{Name: nameResult, Attr: []xml.Attr{{Name: xml.Name{Local: "id"}, Value: "a"}}}
	for name, toks := range map[string][]xml.Token{
		"empty":             nil,
		"only end":          {xml.EndElement{Name: nameForwarded}},
		"comment and eof":   {xml.Comment("x"), xml.ProcInst{Target: "x"}},
		"unclosed forward":  {xml.StartElement{Name: nameForwarded}},
		"unclosed message":  {xml.StartElement{Name: nameForwarded}, xml.StartElement{Name: xml.Name{Space: "jabber:client", Local: "message"}}},
		"directive in body": {xml.StartElement{Name: nameForwarded}, xml.Directive("DOCTYPE"), xml.EndElement{}},
	} {
		t.Run(name, func(t *testing.T) {
			assert.NotPanics(t, func() {
				_, err := ParseResult(&sliceReader{toks: toks}, start, ParseOptions{KeepRaw: true, MaxBytes: 10})
				assert.ErrorIs(t, err, ErrMalformed)
			})
		})
	}
	assert.NotPanics(t, func() {
		_, err := ParseFin(&sliceReader{toks: []xml.Token{xml.StartElement{Name: nameSet}}}, xml.StartElement{Name: nameFin})
		assert.ErrorIs(t, err, ErrMalformed)
	})
}

func TestParseFin(t *testing.T) {
	for _, tc := range []struct {
		name, xml string
		want      Fin
	}{
		{"prosody complete", `<fin xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='http://jabber.org/protocol/rsm'><first index='0'>a</first><last>b</last><count>2</count></set></fin>`,
			Fin{Complete: true, Stable: true, First: "a", Last: "b", FirstIndex: 0, Count: 2}},
		{"complete 1", `<fin xmlns='urn:xmpp:mam:2' complete='1'/>`, Fin{Complete: true, Stable: true, FirstIndex: -1, Count: -1}},
		{"complete omitted", `<fin xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><first>a</first><last>a</last></set></fin>`,
			Fin{Stable: true, First: "a", Last: "a", FirstIndex: -1, Count: -1}},
		{"complete false unstable", `<fin xmlns='urn:xmpp:mam:2' complete='false' stable='0'/>`, Fin{FirstIndex: -1, Count: -1}},
		{"empty page", `<fin xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='http://jabber.org/protocol/rsm'><count>0</count></set></fin>`,
			Fin{Complete: true, Stable: true, FirstIndex: -1, Count: 0}},
		{"pretty printed with unknown children", "<fin xmlns='urn:xmpp:mam:2'>\n  <x xmlns='urn:example'><first>no</first></x>\n  <set xmlns='http://jabber.org/protocol/rsm'>\n    <first index=' 3 '>\n a \n</first>\n    <max>5</max>\n    <last>b</last>\n  </set>\n</fin>",
			Fin{Stable: true, First: "a", Last: "b", FirstIndex: 3, Count: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fin, err := parseFinString(t, tc.xml)
			require.NoError(t, err)
			assert.Equal(t, tc.want, fin)
		})
	}
}

func TestParseFinErrors(t *testing.T) {
	const rsm = `xmlns='http://jabber.org/protocol/rsm'`
	for _, tc := range []struct {
		name, xml string
		want      error
	}{
		{"wrong element", `<result xmlns='urn:xmpp:mam:2'/>`, ErrWrongPayload},
		{"mam 1", `<fin xmlns='urn:xmpp:mam:1'/>`, ErrWrongPayload},
		{"first without last", `<fin xmlns='urn:xmpp:mam:2'><set ` + rsm + `><first>a</first></set></fin>`, ErrUnbalancedPage},
		{"last without first", `<fin xmlns='urn:xmpp:mam:2'><set ` + rsm + `><last>a</last></set></fin>`, ErrUnbalancedPage},
		{"bad complete", `<fin xmlns='urn:xmpp:mam:2' complete='yes'/>`, ErrMalformed},
		{"two sets", `<fin xmlns='urn:xmpp:mam:2'><set ` + rsm + `/><set ` + rsm + `/></fin>`, ErrMalformed},
		{"two firsts", `<fin xmlns='urn:xmpp:mam:2'><set ` + rsm + `><first>a</first><first>b</first><last>c</last></set></fin>`, ErrMalformed},
		{"empty first", `<fin xmlns='urn:xmpp:mam:2'><set ` + rsm + `><first/><last>c</last></set></fin>`, ErrMalformed},
		{"bad count", `<fin xmlns='urn:xmpp:mam:2'><set ` + rsm + `><count>many</count></set></fin>`, ErrMalformed},
		{"negative index", `<fin xmlns='urn:xmpp:mam:2'><set ` + rsm + `><first index='-1'>a</first><last>a</last></set></fin>`, ErrMalformed},
		{"element in first", `<fin xmlns='urn:xmpp:mam:2'><set ` + rsm + `><first><b/></first><last>a</last></set></fin>`, ErrMalformed},
		{"huge first", `<fin xmlns='urn:xmpp:mam:2'><set ` + rsm + `><first>` + strings.Repeat("a", 2000) + `</first><last>a</last></set></fin>`, ErrMalformed},
		{"truncated", `<fin xmlns='urn:xmpp:mam:2'><set ` + rsm + `><first>a</first>`, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFinString(t, tc.xml)
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.want)
		})
	}
}

// FuzzParseResult checks that ParseResult never panics and that what it
// accepts is consistent: an id, a stamp, a size within the limit and a Raw
// that is well-formed XML.
func FuzzParseResult(f *testing.F) {
	f.Add([]byte(prosodyResult), uint16(0))
	f.Add([]byte(prosodyResult), uint16(100))
	f.Fuzz(func(t *testing.T, data []byte, maxBytes uint16) {
		d, start, ok := decodeFirst(data)
		if !ok {
			return
		}
		opts := ParseOptions{MaxBytes: int(maxBytes), KeepRaw: true}
		res, err := ParseResult(d, start, opts)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrResultTooLarge) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrResultTooLarge", err)
			}
			if res.Message.Raw != nil {
				t.Fatalf("Raw kept on error %v", err)
			}
			return
		}
		if res.Message.ArchiveID == "" || res.Message.Time.IsZero() {
			t.Fatalf("accepted a result without id or stamp: %+v", res)
		}
		if opts.MaxBytes > 0 && res.Size > opts.MaxBytes {
			t.Fatalf("accepted %d bytes over a %d limit", res.Size, opts.MaxBytes)
		}
		rd := xml.NewDecoder(bytes.NewReader(res.Message.Raw))
		for {
			_, err := rd.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Raw %q is not well-formed: %v", res.Message.Raw, err)
			}
		}
	})
}

// FuzzParseFin checks that ParseFin never panics and never returns an
// unbalanced page.
func FuzzParseFin(f *testing.F) {
	f.Add([]byte(`<fin xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='http://jabber.org/protocol/rsm'><first index='0'>a</first><last>b</last><count>2</count></set></fin>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, start, ok := decodeFirst(data)
		if !ok {
			return
		}
		fin, err := ParseFin(d, start)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if (fin.First == "") != (fin.Last == "") {
			t.Fatalf("unbalanced page accepted: %+v", fin)
		}
		if fin.Count < -1 || fin.FirstIndex < -1 {
			t.Fatalf("negative count or index accepted: %+v", fin)
		}
	})
}

// TestReadReply: the IQ reply of a query is a stanza error or a <fin/>,
// whatever whitespace and extra children surround them; anything else is
// malformed. Hostile replies get an error, never a panic.
func TestReadReply(t *testing.T) {
	const (
		iqError  = `<iq xmlns='jabber:client' type='error' id='1'>`
		iqResult = `<iq xmlns='jabber:client' type='result' id='1'>`
		notFound = `<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>gone</text></error>`
		fin      = `<fin xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='http://jabber.org/protocol/rsm'><first>a</first><last>b</last></set></fin>`
	)
	for _, tc := range []struct {
		name, xml string
		cond      stanza.Condition // a stanza error with this condition
		fin       bool             // a fin
		want      error
	}{
		{"error", iqError + notFound + `</iq>`, stanza.ItemNotFound, false, nil},
		{"pretty error", iqError + "\n  " + notFound + "\n</iq>", stanza.ItemNotFound, false, nil},
		{"error after the query echo", iqError + `<query xmlns='urn:xmpp:mam:2'><x/></query>` + notFound + `</iq>`, stanza.ItemNotFound, false, nil},
		{"error without condition", iqError + `<error type='cancel'/></iq>`, "", false, nil},
		{"error reply without error", iqError + `text</iq>`, "", false, ErrMalformed},
		{"empty error reply", iqError + `</iq>`, "", false, ErrMalformed},
		{"truncated error", iqError + `<error type='cancel'><item-not-found`, "", false, ErrMalformed},
		{"fin", iqResult + fin + `</iq>`, "", true, nil},
		{"pretty fin", iqResult + "\n " + fin + "\n</iq>", "", true, nil},
		{"no fin", iqResult + `</iq>`, "", false, ErrMissingFin},
		{"whitespace only", iqResult + "\n  \n</iq>", "", false, ErrMissingFin},
		{"wrong payload", iqResult + `<query xmlns='urn:xmpp:mam:2'/></iq>`, "", false, ErrWrongPayload},
		{"get", `<iq xmlns='jabber:client' type='get' id='1'>` + fin + `</iq>`, "", false, ErrMalformed},
		{"spoofed", `<iq xmlns='jabber:client' type='result' id='1' from='mallory@evil.example'>` + fin + `</iq>`, "", false, ErrSpoofedReply},
		{"not an element", `text`, "", false, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := &query{id: "q", acceptZero: true}
			r := &sliceReader{}
			if els := elements([]byte(tc.xml)); len(els) > 0 {
				r.toks = els[0]
			}
			var got Fin
			var err error
			require.NotPanics(t, func() { got, err = readReply(r, q) })
			switch {
			case tc.want != nil:
				require.ErrorIs(t, err, tc.want)
			case tc.fin:
				require.NoError(t, err)
				assert.Equal(t, Fin{Complete: true, Stable: true, First: "a", Last: "b", FirstIndex: -1, Count: -1}, got)
			default:
				var se stanza.Error
				require.ErrorAs(t, err, &se)
				assert.Equal(t, tc.cond, se.Condition)
			}
		})
	}
}

// TestParseCapturesRaw: parseCaptures writes the raw XML of a page's
// messages into one shared array; every message's Raw must be exactly what
// ParseResult gives for that result alone, capped to its own bytes (an
// append cannot overwrite a neighbour), empty for placeholders and failed
// results, and untouched by the next page (the writer is recycled).
func TestParseCapturesRaw(t *testing.T) {
	s := &Syncer{cfg: defaultConfig()}
	q := &query{id: "q1", archive: Account(jid.MustParse("macbeth@shakespeare.lit"))}
	page := func(bodies ...string) ([]xml.Token, []capture, []Result) {
		var toks []xml.Token
		var caps []capture
		var want []Result
		for i, body := range bodies {
			id := fmt.Sprintf("id-%d", i)
			if body == "" { // a placeholder
				caps = append(caps, capture{archiveID: id, from: len(toks), to: len(toks), omitted: DropOversized})
				want = append(want, Result{})
				continue
			}
			xmlText := strings.ReplaceAll(strings.ReplaceAll(prosodyResult, "Hail to thee &amp; welcome", body), "28482-98726-73623", id)
			if body == "malformed" {
				xmlText = strings.Replace(xmlText, "<delay xmlns='urn:xmpp:delay' stamp='2010-07-10T23:08:25Z'/>", "", 1)
			}
			d, start, ok := decodeFirst([]byte(xmlText))
			require.True(t, ok)
			c := capture{archiveID: id, from: len(toks)}
			toks = append(toks, start)
			for {
				tok, err := d.Token()
				if err != nil {
					break
				}
				toks = append(toks, xml.CopyToken(tok))
			}
			c.to = len(toks)
			caps = append(caps, c)
			res, _ := parseResultString(t, xmlText, ParseOptions{KeepRaw: true})
			want = append(want, res)
		}
		return toks, caps, want
	}

	toks, caps, want := page("first", "", "malformed", "a longer <b>third</b> body", "fourth")
	msgs := s.parseCaptures(q, toks, caps)
	require.Len(t, msgs, len(want))
	kept := make([][]byte, len(msgs))
	for i, m := range msgs {
		assert.Equal(t, string(want[i].Message.Raw), string(m.Raw), "message %d", i)
		assert.Equal(t, len(m.Raw), cap(m.Raw), "message %d: Raw capped to its bytes", i)
		kept[i] = bytes.Clone(m.Raw)
	}
	assert.Nil(t, msgs[1].Raw, "placeholder")
	assert.Equal(t, DropMalformed, msgs[2].Omitted)
	assert.Nil(t, msgs[2].Raw, "failed result")
	_ = append(msgs[0].Raw, "overwrite"...)
	assert.Equal(t, kept[3], msgs[3].Raw, "an append to one Raw leaves the next alone")

	toks, caps, _ = page("another page", "with other bodies")
	_ = s.parseCaptures(q, toks, caps)
	for i, m := range msgs {
		assert.Equal(t, kept[i], m.Raw, "message %d after the next page", i)
	}
}
