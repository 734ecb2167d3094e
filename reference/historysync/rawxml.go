package historysync

import (
	"encoding/xml"
	"strconv"
)

// rawWriter serialises a token stream back to XML for Message.Raw. It is
// deliberately small: it declares the default namespace where it changes,
// writes xml:lang as such, gives other namespaced attributes generated
// prefixes, drops the decoder's own xmlns attributes, comments, processing
// instructions and directives, and escapes text and attribute values.
type rawWriter struct {
	buf []byte
	// ns is the stack of default namespaces of open elements.
	ns []string
	// shared makes the writer accumulate a page: reset keeps buf[:base]
	// and bytes returns a view of buf that the caller replaces (see
	// Syncer.parseCaptures).
	shared bool
	base   int
}

const xmlNamespace = "http://www.w3.org/XML/1998/namespace"

func (w *rawWriter) reset() {
	if w.shared {
		w.buf = w.buf[:w.base]
	} else {
		w.buf = w.buf[:0]
	}
	w.ns = w.ns[:0]
}

func (w *rawWriter) start(t xml.StartElement) {
	parent := ""
	if len(w.ns) > 0 {
		parent = w.ns[len(w.ns)-1]
	}
	w.buf = append(w.buf, '<')
	w.buf = append(w.buf, t.Name.Local...)
	if t.Name.Space != parent || len(w.ns) == 0 && t.Name.Space != "" {
		w.buf = append(w.buf, ` xmlns="`...)
		w.escape(t.Name.Space)
		w.buf = append(w.buf, '"')
	}
	w.ns = append(w.ns, t.Name.Space)
	prefixes := 0
	for _, a := range t.Attr {
		switch {
		case a.Name.Space == "" && a.Name.Local == "xmlns", a.Name.Space == "xmlns":
			continue // namespace declarations are regenerated
		case a.Name.Space == "":
			w.buf = append(w.buf, ' ')
			w.buf = append(w.buf, a.Name.Local...)
		case a.Name.Space == xmlNamespace || a.Name.Space == "xml":
			w.buf = append(w.buf, " xml:"...)
			w.buf = append(w.buf, a.Name.Local...)
		default:
			prefixes++
			p := "a" + strconv.Itoa(prefixes)
			w.buf = append(w.buf, " xmlns:"...)
			w.buf = append(w.buf, p...)
			w.buf = append(w.buf, `="`...)
			w.escape(a.Name.Space)
			w.buf = append(w.buf, `" `...)
			w.buf = append(w.buf, p...)
			w.buf = append(w.buf, ':')
			w.buf = append(w.buf, a.Name.Local...)
		}
		w.buf = append(w.buf, `="`...)
		w.escape(a.Value)
		w.buf = append(w.buf, '"')
	}
	w.buf = append(w.buf, '>')
}

func (w *rawWriter) end(t xml.EndElement) {
	if len(w.ns) > 0 {
		w.ns = w.ns[:len(w.ns)-1]
	}
	w.buf = append(w.buf, "</"...)
	w.buf = append(w.buf, t.Name.Local...)
	w.buf = append(w.buf, '>')
}

func (w *rawWriter) text(t xml.CharData) {
	w.escapeBytes(t)
}

// bytes returns a copy of the serialised element; for a shared writer, a
// view of it (buf[base:]) that is only valid until the next write.
func (w *rawWriter) bytes() []byte {
	if w.shared {
		return w.buf[w.base:len(w.buf):len(w.buf)]
	}
	out := make([]byte, len(w.buf))
	copy(out, w.buf)
	return out
}

func (w *rawWriter) escape(s string) {
	start := 0
	for i := 0; i < len(s); i++ {
		if esc := escapeOf(s[i]); esc != "" {
			w.buf = append(w.buf, s[start:i]...)
			w.buf = append(w.buf, esc...)
			start = i + 1
		}
	}
	w.buf = append(w.buf, s[start:]...)
}

func (w *rawWriter) escapeBytes(b []byte) {
	start := 0
	for i, c := range b {
		if esc := escapeOf(c); esc != "" {
			w.buf = append(w.buf, b[start:i]...)
			w.buf = append(w.buf, esc...)
			start = i + 1
		}
	}
	w.buf = append(w.buf, b[start:]...)
}

// escapeOf returns the escape of c in text and attribute values, or "".
func escapeOf(c byte) string {
	switch c {
	case '<':
		return "&lt;"
	case '>':
		return "&gt;"
	case '&':
		return "&amp;"
	case '"':
		return "&#34;"
	case '\'':
		return "&#39;"
	case '\r':
		return "&#xD;"
	case '\n':
		return "&#xA;"
	case '\t':
		return "&#x9;"
	}
	return ""
}
