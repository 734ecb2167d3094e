package fakeserver

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"mellium.im/xmpp/jid"
)

// FuzzQuery feeds arbitrary query elements through the query parser and the
// pager: neither may panic, and a page must be consistent with its archive.
func FuzzQuery(f *testing.F) {
	for _, seed := range []string{
		`<query xmlns='urn:xmpp:mam:2' queryid='q'/>`,
		`<query xmlns='urn:xmpp:mam:2' queryid='q'><set xmlns='http://jabber.org/protocol/rsm'><max>2</max><after>b</after></set></query>`,
		`<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>1</max><before/></set></query>`,
		`<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><before>c</before><after>a</after></set><flip-page/></query>`,
		`<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field><field var='start'><value>2024-03-01T12:01:00Z</value></field><field var='with'><value>room@conference.example.net/romeo</value></field></x></query>`,
		`<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='after-id'><value>a</value></field><field var='before-id'><value>d</value></field><field var='ids'><value>c</value><value>b</value></field></x></query>`,
		`<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>99999999999999999999</max></set></query>`,
	} {
		f.Add(seed)
	}
	srv := New()
	defer srv.Close()
	room := jid.MustParse("room@conference.example.net")
	romeo := jid.MustParse("room@conference.example.net/romeo")
	a := srv.Archive(room)
	t0 := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, id := range []string{"a", "b", "c", "d", "e"} {
		a.Append(Message{ID: id, From: romeo, Body: id, Stamp: t0.Add(time.Duration(i) * time.Minute)})
	}
	f.Fuzz(func(t *testing.T, payload string) {
		var el element
		if err := xml.Unmarshal([]byte(payload), &el); err != nil {
			return
		}
		var q Query
		if err := parseQuery(&el, true, &q); err != nil {
			if err.cond == "" {
				t.Fatalf("error without condition for %q", payload)
			}
			return
		}
		const limit = 3
		p, perr := a.page(&q, limit)
		if perr != nil {
			return
		}
		if len(p.items) > limit || p.count > a.Len() || len(p.items) > p.count {
			t.Fatalf("inconsistent page for %q: %d items, count %d", payload, len(p.items), p.count)
		}
		if len(p.items) > 0 && p.firstIndex+len(p.items) > p.count {
			t.Fatalf("first index %d + %d items > count %d for %q", p.firstIndex, len(p.items), p.count, payload)
		}
		for i := 1; i < len(p.items); i++ {
			if p.items[i-1].msg.ID >= p.items[i].msg.ID {
				t.Fatalf("page out of archive order for %q", payload)
			}
		}
	})
}

// FuzzEscape checks that any text survives the writer's escaping: the element
// parses, and its text is the input with the characters XML cannot carry
// replaced by U+FFFD.
func FuzzEscape(f *testing.F) {
	for _, seed := range []string{"", "plain", "a & b < c > d ' e \" f", "tab\tnl\ncr\r", "\x00\x01\x1f", "\xff\xfe", "\uFFFE\uFFFF", "😀 emoji"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w := xmlWriter{}
		w.textElement("b", s, "attr", s)
		var got struct {
			Attr string `xml:"attr,attr"`
			Text string `xml:",chardata"`
		}
		if err := xml.Unmarshal(w.buf, &got); err != nil {
			t.Fatalf("escaped %q does not parse: %v (%s)", s, err, w.buf)
		}
		var want strings.Builder
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 || !isXMLChar(r) {
				r = utf8.RuneError
			}
			want.WriteRune(r)
			i += size
		}
		if got.Text != want.String() {
			t.Fatalf("text %q came back as %q", want.String(), got.Text)
		}
		if got.Attr != want.String() {
			t.Fatalf("attribute %q came back as %q", want.String(), got.Attr)
		}
	})
}
