package fakeserver

import "unicode/utf8"

// Namespaces used on the wire.
const (
	nsClient     = "jabber:client"
	nsMAM        = "urn:xmpp:mam:2"
	nsMAMExt     = "urn:xmpp:mam:2#extended"
	nsRSM        = "http://jabber.org/protocol/rsm"
	nsForward    = "urn:xmpp:forward:0"
	nsDelay      = "urn:xmpp:delay"
	nsSID        = "urn:xmpp:sid:0"
	nsStanzas    = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsDiscoInfo  = "http://jabber.org/protocol/disco#info"
	nsDiscoItems = "http://jabber.org/protocol/disco#items"
	nsPing       = "urn:xmpp:ping"
	nsDataForm   = "jabber:x:data"
	nsMUC        = "http://jabber.org/protocol/muc"
	nsMUCUser    = "http://jabber.org/protocol/muc#user"
)

// xmlWriter appends XML to a byte slice. In pretty mode it writes a newline and
// indentation before every start tag and before the end tag of every element
// that has child elements, which puts whitespace before and between all
// elements (including before an IQ's payload) without changing any text
// content.
type xmlWriter struct {
	buf    []byte
	pretty bool
	depth  int
	// hadChild records, per open element, whether a child element was written,
	// so that pretty mode only indents the end tag of containers.
	hadChild []bool
}

func (w *xmlWriter) indent() {
	if !w.pretty {
		return
	}
	w.buf = append(w.buf, '\n')
	for range w.depth {
		w.buf = append(w.buf, ' ', ' ')
	}
}

func (w *xmlWriter) markChild() {
	if n := len(w.hadChild); n > 0 {
		w.hadChild[n-1] = true
	}
}

// attrs writes key/value pairs; pairs with an empty value are skipped.
func (w *xmlWriter) attrs(kv []string) {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		w.buf = append(w.buf, ' ')
		w.buf = append(w.buf, kv[i]...)
		w.buf = append(w.buf, '=', '\'')
		w.buf = appendEscaped(w.buf, kv[i+1])
		w.buf = append(w.buf, '\'')
	}
}

// start opens an element.
func (w *xmlWriter) start(name string, kv ...string) {
	w.markChild()
	w.indent()
	w.buf = append(w.buf, '<')
	w.buf = append(w.buf, name...)
	w.attrs(kv)
	w.buf = append(w.buf, '>')
	w.depth++
	w.hadChild = append(w.hadChild, false)
}

// end closes the element opened by the matching start.
func (w *xmlWriter) end(name string) {
	w.depth--
	n := len(w.hadChild)
	if n > 0 {
		if w.hadChild[n-1] {
			w.indent()
		}
		w.hadChild = w.hadChild[:n-1]
	}
	w.buf = append(w.buf, '<', '/')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '>')
}

// empty writes an element without content.
func (w *xmlWriter) empty(name string, kv ...string) {
	w.markChild()
	w.indent()
	w.buf = append(w.buf, '<')
	w.buf = append(w.buf, name...)
	w.attrs(kv)
	w.buf = append(w.buf, '/', '>')
}

// textElement writes an element whose only content is text. No whitespace is
// added inside it, so the text is preserved exactly.
func (w *xmlWriter) textElement(name, text string, kv ...string) {
	w.markChild()
	w.indent()
	w.buf = append(w.buf, '<')
	w.buf = append(w.buf, name...)
	w.attrs(kv)
	w.buf = append(w.buf, '>')
	w.buf = appendEscaped(w.buf, text)
	w.buf = append(w.buf, '<', '/')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '>')
}

// raw writes pre-serialised XML.
func (w *xmlWriter) raw(b []byte) {
	w.markChild()
	w.indent()
	w.buf = append(w.buf, b...)
}

// appendEscaped appends s escaped for use in text and in single- or
// double-quoted attribute values. Characters that XML 1.0 cannot carry
// (control characters, invalid UTF-8) are replaced by U+FFFD so that a test
// body can never corrupt the stream.
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '&':
				dst = append(dst, "&amp;"...)
			case '<':
				dst = append(dst, "&lt;"...)
			case '>':
				dst = append(dst, "&gt;"...)
			case '\'':
				dst = append(dst, "&apos;"...)
			case '"':
				dst = append(dst, "&quot;"...)
			case '\t':
				dst = append(dst, "&#x9;"...)
			case '\n':
				dst = append(dst, "&#xA;"...)
			case '\r':
				dst = append(dst, "&#xD;"...)
			default:
				if c < 0x20 {
					dst = append(dst, "\uFFFD"...)
				} else {
					dst = append(dst, c)
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || !isXMLChar(r) {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}

// isXMLChar reports whether r is allowed by the XML 1.0 Char production.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
