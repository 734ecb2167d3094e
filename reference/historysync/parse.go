package historysync

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/delay"
	"mellium.im/xmpp/forward"
	"mellium.im/xmpp/history"
	"mellium.im/xmpp/paging"
	"mellium.im/xmpp/stanza"
)

// Errors returned (wrapped) by the parsers and by queries whose reply is
// malformed. Test with errors.Is.
var (
	// ErrMalformed is wrapped by every parse error of a <result/> or <fin/>.
	ErrMalformed = errors.New("malformed archive reply")
	// ErrWrongPayload: the IQ result's payload is not {urn:xmpp:mam:2}fin, or
	// the element given to ParseResult is not a {urn:xmpp:mam:2}result.
	ErrWrongPayload = fmt.Errorf("%w: wrong payload", ErrMalformed)
	// ErrMissingFin: the IQ result carries no payload at all.
	ErrMissingFin = fmt.Errorf("%w: IQ result without <fin/>", ErrMalformed)
	// ErrUnbalancedPage: the RSM <set/> of a <fin/> has a <first/> without a
	// <last/> or the reverse.
	ErrUnbalancedPage = fmt.Errorf("%w: RSM <first/> and <last/> unbalanced", ErrMalformed)
	// ErrResultTooLarge: a result's archived message exceeds the size limit.
	ErrResultTooLarge = errors.New("archived message too large")
)

var (
	nameResult    = xml.Name{Space: history.NS, Local: "result"}
	nameFin       = xml.Name{Space: history.NS, Local: "fin"}
	nameForwarded = xml.Name{Space: forward.NS, Local: "forwarded"}
	nameDelay     = xml.Name{Space: delay.NS, Local: "delay"}
	nameSet       = xml.Name{Space: paging.NS, Local: "set"}
	nameOriginID  = xml.Name{Space: stanza.NSSid, Local: "origin-id"}
	nameStanzaID  = xml.Name{Space: stanza.NSSid, Local: "stanza-id"}
)

// Result is a parsed XEP-0313 <result/> element.
type Result struct {
	// QueryID is the queryid attribute, which routes the result to its query.
	QueryID string
	// Message is the archived message: ArchiveID is the result's id attribute,
	// Time its delay stamp; Pos is left zero.
	Message Message
	// StanzaIDs are the XEP-0359 stanza-ids found in the archived message.
	StanzaIDs []StanzaID
	// Size is the approximate serialised size of the archived <message/> in
	// bytes (names, attribute values and text), the figure MaxBytes limits.
	Size int
}

// StanzaID is a XEP-0359 <stanza-id by='...' id='...'/>.
type StanzaID struct {
	By, ID string
}

// ParseOptions tune ParseResult.
type ParseOptions struct {
	// MaxBytes caps Result.Size; zero means no cap. A larger result is read
	// to its end and reported with an error wrapping ErrResultTooLarge, with
	// QueryID, Message.ArchiveID and Message.Time filled when present.
	MaxBytes int
	// KeepRaw fills Message.Raw with the archived <message/> as XML.
	KeepRaw bool
}

// ParseResult parses a {urn:xmpp:mam:2}result element whose start token,
// start, has already been read from r; it reads r up to and including the
// matching end token. Whitespace, comments and unknown elements are skipped.
// It never panics; hostile or malformed input gets an error wrapping
// ErrMalformed (or ErrResultTooLarge). When the error comes after the
// result's identity was read, QueryID and Message.ArchiveID are still set so
// the caller can account for the result.
func ParseResult(r xml.TokenReader, start xml.StartElement, opts ParseOptions) (Result, error) {
	res, err := parseResult(r, start, opts, nil, false)
	if err != nil {
		err = fmt.Errorf("historysync: %w", err)
	}
	return res, err
}

// parseResult is ParseResult with a reusable raw XML writer (nil: a new one)
// and without collecting stanza-ids when noStanzaIDs is set.
func parseResult(r xml.TokenReader, start xml.StartElement, opts ParseOptions, raw *rawWriter, noStanzaIDs bool) (Result, error) {
	var res Result
	if start.Name != nameResult {
		return res, fmt.Errorf("%w: <%s xmlns=%q> is not a MAM result", ErrWrongPayload, start.Name.Local, start.Name.Space)
	}
	for _, a := range start.Attr {
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "queryid":
			res.QueryID = a.Value
		case "id":
			res.Message.ArchiveID = a.Value
		}
	}
	p := resultParser{r: r, opts: opts, raw: raw, noStanzaIDs: noStanzaIDs}
	if p.raw == nil {
		p.raw = &rawWriter{}
	}
	err := p.children(&res)
	if err == nil && res.Message.ArchiveID == "" {
		err = fmt.Errorf("%w: result without id", ErrMalformed)
	}
	if err == nil && !p.sawForwarded {
		err = fmt.Errorf("%w: result %s without <forwarded/>", ErrMalformed, res.Message.ArchiveID)
	}
	if err == nil && !p.sawMessage {
		err = fmt.Errorf("%w: result %s without archived <message/>", ErrMalformed, res.Message.ArchiveID)
	}
	if err == nil && res.Message.Time.IsZero() {
		err = fmt.Errorf("%w: result %s without delay stamp", ErrMalformed, res.Message.ArchiveID)
	}
	if err == nil && p.tooLarge {
		err = fmt.Errorf("%w: result %s is larger than %d bytes", ErrResultTooLarge, res.Message.ArchiveID, opts.MaxBytes)
	}
	res.Size = p.size
	if err != nil {
		res.Message.Raw = nil
	}
	return res, err
}

type resultParser struct {
	r            xml.TokenReader
	opts         ParseOptions
	sawForwarded bool
	sawMessage   bool
	sawDelay     bool // the message itself carries a delay (live parsing)
	tooLarge     bool
	size         int
	raw          *rawWriter
	noStanzaIDs  bool // the caller does not need Result.StanzaIDs
}

// next returns the next token, turning an early EOF into an error.
func (p *resultParser) next() (xml.Token, error) {
	tok, err := p.r.Token()
	if tok != nil {
		// A TokenReader may return a token together with io.EOF.
		return tok, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: unexpected end of input", ErrMalformed)
	}
	return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
}

// children reads the result's children up to its end token.
func (p *resultParser) children(res *Result) error {
	for {
		tok, err := p.next()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name == nameForwarded && !p.sawForwarded {
				p.sawForwarded = true
				if err := p.forwarded(res); err != nil {
					return err
				}
				continue
			}
			if t.Name == nameForwarded {
				return fmt.Errorf("%w: result %s with two <forwarded/>", ErrMalformed, res.Message.ArchiveID)
			}
			if err := skip(p.r); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

// forwarded reads a <forwarded/> element's children up to its end.
func (p *resultParser) forwarded(res *Result) error {
	for {
		tok, err := p.next()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case t.Name == nameDelay && res.Message.Time.IsZero():
				for _, a := range t.Attr {
					if a.Name.Local == "stamp" && a.Name.Space == "" {
						ts, err := parseStamp(a.Value)
						if err != nil {
							return fmt.Errorf("%w: result %s: %w", ErrMalformed, res.Message.ArchiveID, err)
						}
						res.Message.Time = ts
					}
				}
				if err := skip(p.r); err != nil {
					return err
				}
			case t.Name.Local == "message" && isStanzaNS(t.Name.Space):
				if p.sawMessage {
					return fmt.Errorf("%w: result %s forwards two messages", ErrMalformed, res.Message.ArchiveID)
				}
				p.sawMessage = true
				if err := p.message(t, res); err != nil {
					return err
				}
			default:
				if err := skip(p.r); err != nil {
					return err
				}
			}
		case xml.EndElement:
			return nil
		}
	}
}

func isStanzaNS(ns string) bool {
	return ns == stanza.NSClient || ns == stanza.NSServer || ns == ""
}

// message reads the archived <message/> whose start token is start.
func (p *resultParser) message(start xml.StartElement, res *Result) error {
	m := &res.Message
	for _, a := range start.Attr {
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "from":
			m.From = a.Value
		case "to":
			m.To = a.Value
		case "type":
			m.Type = stanza.MessageType(a.Value)
		case "id":
			m.ID = a.Value
		}
	}
	keep := p.opts.KeepRaw
	if keep {
		p.raw.reset()
	}
	p.account(start)
	if keep {
		p.raw.start(start)
	}
	depth := 1
	var bodyDepth int // depth of the body element being read, 0 if none
	var body []byte
	bodyParts := 0
	sawBody := false
	for depth > 0 {
		tok, err := p.next()
		if err != nil {
			return err
		}
		p.account(tok)
		if p.tooLarge {
			keep = false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 {
				switch {
				case t.Name.Local == "body" && t.Name.Space == start.Name.Space && !sawBody:
					sawBody = true
					bodyDepth = depth
				case t.Name == nameDelay:
					p.sawDelay = true
				case t.Name == nameOriginID:
					if v, ok := attr(t, "id"); ok && m.OriginID == "" {
						m.OriginID = v
					}
				case t.Name == nameStanzaID && len(res.StanzaIDs) < maxStanzaIDs && !p.noStanzaIDs:
					by, _ := attr(t, "by")
					id, _ := attr(t, "id")
					res.StanzaIDs = append(res.StanzaIDs, StanzaID{By: by, ID: id})
				}
			}
			if keep {
				p.raw.start(t)
			}
		case xml.EndElement:
			if depth == bodyDepth {
				bodyDepth = 0
			}
			depth--
			if keep {
				p.raw.end(t)
			}
		case xml.CharData:
			if bodyDepth != 0 && depth == bodyDepth && !p.tooLarge {
				if bodyParts == 0 {
					m.Body = string(t)
				} else {
					if bodyParts == 1 {
						body = append(body, m.Body...)
					}
					body = append(body, t...)
				}
				bodyParts++
			}
			if keep {
				p.raw.text(t)
			}
		}
	}
	if bodyParts > 1 {
		m.Body = string(body)
	}
	if p.tooLarge {
		m.Body = ""
	}
	if keep && !p.tooLarge {
		m.Raw = p.raw.bytes()
	}
	return nil
}

// account adds a token's approximate serialised size to p.size.
func (p *resultParser) account(tok xml.Token) {
	p.size += serialisedSize(tok)
	if p.opts.MaxBytes > 0 && p.size > p.opts.MaxBytes {
		p.tooLarge = true
	}
}

// serialisedSize approximates the bytes a token takes in XML: names,
// attribute values and text.
func serialisedSize(tok xml.Token) int {
	n := 0
	switch t := tok.(type) {
	case xml.StartElement:
		n += len(t.Name.Local) + 2
		for _, a := range t.Attr {
			n += len(a.Name.Local) + len(a.Value) + 4
		}
	case xml.EndElement:
		n += len(t.Name.Local) + 3
	case xml.CharData:
		n += len(t)
	}
	return n
}

func attr(start xml.StartElement, local string) (string, bool) {
	for _, a := range start.Attr {
		if a.Name.Local == local && a.Name.Space == "" {
			return a.Value, true
		}
	}
	return "", false
}

// skip consumes tokens up to the end of the element whose start token was
// just read.
func skip(r xml.TokenReader) error {
	depth := 1
	for depth > 0 {
		tok, err := r.Token()
		if tok == nil {
			if err == nil || errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: unexpected end of input", ErrMalformed)
			}
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
	return nil
}

// parseStamp parses a XEP-0082 date-time (RFC 3339, optional fraction).
func parseStamp(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad delay stamp %q", truncate(s, 64))
	}
	return t.UTC(), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Fin is a parsed XEP-0313 <fin/> element.
type Fin struct {
	// Complete is true when the page reaches the end of the archive in the
	// query's direction (complete='true' or '1').
	Complete bool
	// Stable is false when the server marked the result unstable.
	Stable bool
	// First and Last are the archive ids of the page's first and last result
	// (RSM); both are empty for an empty page.
	First, Last string
	// FirstIndex is the RSM index of First, or -1 when absent.
	FirstIndex int
	// Count is the RSM count of matching messages, or -1 when absent.
	Count int
}

// ParseFin parses a {urn:xmpp:mam:2}fin element whose start token, start, has
// already been read from r; it reads r up to and including the matching end
// token. It rejects a wrong element (ErrWrongPayload), an RSM set with only
// one of <first/> and <last/> (ErrUnbalancedPage), duplicate or non-numeric
// fields and truncated input, tolerating whitespace and unknown elements. It
// never panics.
func ParseFin(r xml.TokenReader, start xml.StartElement) (Fin, error) {
	fin, err := parseFin(r, start)
	if err != nil {
		err = fmt.Errorf("historysync: %w", err)
	}
	return fin, err
}

// parseFin is ParseFin without the package prefix on errors, for the
// Syncer, which names the package once higher up.
func parseFin(r xml.TokenReader, start xml.StartElement) (Fin, error) {
	fin := Fin{Stable: true, FirstIndex: -1, Count: -1}
	if start.Name != nameFin {
		return fin, fmt.Errorf("%w: got <%s xmlns=%q>, want MAM <fin/>", ErrWrongPayload, start.Name.Local, start.Name.Space)
	}
	for _, a := range start.Attr {
		if a.Name.Space != "" {
			continue
		}
		var err error
		switch a.Name.Local {
		case "complete":
			fin.Complete, err = parseXSDBool(a.Value)
		case "stable":
			fin.Stable, err = parseXSDBool(a.Value)
		}
		if err != nil {
			return fin, fmt.Errorf("%w: <fin %s=%q>", ErrMalformed, a.Name.Local, truncate(a.Value, 32))
		}
	}
	sawSet := false
	for {
		tok, err := r.Token()
		if tok == nil {
			if err == nil || errors.Is(err, io.EOF) {
				return fin, fmt.Errorf("%w: <fin/> truncated", ErrMalformed)
			}
			return fin, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name != nameSet {
				if err := skip(r); err != nil {
					return fin, err
				}
				continue
			}
			if sawSet {
				return fin, fmt.Errorf("%w: <fin/> with two RSM sets", ErrMalformed)
			}
			sawSet = true
			if err := parseSet(r, &fin); err != nil {
				return fin, err
			}
		case xml.EndElement:
			return fin, nil
		}
	}
}

func parseXSDBool(s string) (bool, error) {
	switch strings.TrimSpace(s) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, errors.New("not a boolean")
}

// parseSet reads an RSM <set/> (start already read) into fin.
func parseSet(r xml.TokenReader, fin *Fin) error {
	var sawFirst, sawLast, sawCount bool
	for {
		tok, err := r.Token()
		if tok == nil {
			if err == nil || errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: RSM set truncated", ErrMalformed)
			}
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			// RSM children are in the RSM namespace (inherited); accept an
			// empty namespace too, as some encoders emit it.
			if t.Name.Space != paging.NS && t.Name.Space != "" {
				if err := skip(r); err != nil {
					return err
				}
				continue
			}
			switch t.Name.Local {
			case "first", "last", "count":
			default:
				if err := skip(r); err != nil {
					return err
				}
				continue
			}
			text, err := elementText(r)
			if err != nil {
				return err
			}
			switch t.Name.Local {
			case "first":
				if sawFirst {
					return fmt.Errorf("%w: two RSM <first/>", ErrMalformed)
				}
				sawFirst = true
				if text == "" {
					return fmt.Errorf("%w: empty RSM <first/>", ErrMalformed)
				}
				fin.First = text
				if v, ok := attr(t, "index"); ok {
					n, err := strconv.Atoi(strings.TrimSpace(v))
					if err != nil || n < 0 {
						return fmt.Errorf("%w: RSM <first index=%q>", ErrMalformed, truncate(v, 32))
					}
					fin.FirstIndex = n
				}
			case "last":
				if sawLast {
					return fmt.Errorf("%w: two RSM <last/>", ErrMalformed)
				}
				sawLast = true
				if text == "" {
					return fmt.Errorf("%w: empty RSM <last/>", ErrMalformed)
				}
				fin.Last = text
			case "count":
				if sawCount {
					return fmt.Errorf("%w: two RSM <count/>", ErrMalformed)
				}
				sawCount = true
				n, err := strconv.Atoi(text)
				if err != nil || n < 0 {
					return fmt.Errorf("%w: RSM <count>%s</count>", ErrMalformed, truncate(text, 32))
				}
				fin.Count = n
			}
		case xml.EndElement:
			if sawFirst != sawLast {
				return ErrUnbalancedPage
			}
			return nil
		}
	}
}

// elementText reads the text content of a simple element (start already read)
// up to its end, trimmed of surrounding whitespace. Child elements are an
// error.
func elementText(r xml.TokenReader) (string, error) {
	var text []byte
	for {
		tok, err := r.Token()
		if tok == nil {
			if err == nil || errors.Is(err, io.EOF) {
				return "", fmt.Errorf("%w: unexpected end of input", ErrMalformed)
			}
			return "", fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			text = append(text, t...)
			if len(text) > maxFieldLen {
				return "", fmt.Errorf("%w: RSM field longer than %d bytes", ErrMalformed, maxFieldLen)
			}
		case xml.StartElement:
			return "", fmt.Errorf("%w: unexpected <%s/> in an RSM field", ErrMalformed, t.Name.Local)
		case xml.EndElement:
			return strings.TrimSpace(string(text)), nil
		}
	}
}

// maxStanzaIDs bounds the stanza-ids kept per archived message.
const maxStanzaIDs = 8

// maxFieldLen bounds RSM field values (archive ids are short).
const maxFieldLen = 1024

// readReply reads the IQ reply of query q: a stanza error, or a <fin/>. It
// tolerates whitespace and never panics.
func readReply(resp xml.TokenReader, q *query) (Fin, error) {
	tok, err := resp.Token()
	if tok == nil {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Fin{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	start, ok := tok.(xml.StartElement)
	if !ok {
		return Fin{}, fmt.Errorf("%w: reply starts with %T", ErrMalformed, tok)
	}
	iq, err := stanza.NewIQ(start)
	if err != nil {
		return Fin{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if !q.acceptsFrom(iq.From) {
		return Fin{}, ErrSpoofedReply
	}
	switch iq.Type {
	case stanza.ErrorIQ:
		se, err := readStanzaError(resp)
		if err != nil {
			return Fin{}, fmt.Errorf("%w: unreadable error reply: %w", ErrMalformed, err)
		}
		return Fin{}, se
	case stanza.ResultIQ:
	default:
		return Fin{}, fmt.Errorf("%w: reply of type %q", ErrMalformed, iq.Type)
	}
	inner := xmlstream.Inner(resp)
	for {
		tok, err := inner.Token()
		if tok == nil {
			if err == nil || errors.Is(err, io.EOF) {
				return Fin{}, ErrMissingFin
			}
			return Fin{}, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return parseFin(inner, t)
		case xml.EndElement:
			return Fin{}, ErrMissingFin
		}
	}
}

// readStanzaError reads the <error/> child of an error reply (r is
// positioned after the IQ's start token), skipping whitespace and other
// children. stanza.UnmarshalError is not used: it panics when text, such as
// the whitespace of a pretty-printed reply, precedes <error/>.
func readStanzaError(r xml.TokenReader) (stanza.Error, error) {
	inner := xmlstream.Inner(r)
	for {
		tok, err := inner.Token()
		if tok == nil {
			if err == nil || errors.Is(err, io.EOF) {
				return stanza.Error{}, errors.New("no <error/> in the reply")
			}
			return stanza.Error{}, err
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if start.Name.Local != "error" {
			if err := skip(inner); err != nil {
				return stanza.Error{}, err
			}
			continue
		}
		var se stanza.Error
		// The decoder checks that <error/> is complete and well nested.
		d := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(start), inner))
		if err := d.Decode(&se); err != nil {
			return stanza.Error{}, err
		}
		return se, nil
	}
}

// checkPage verifies that the buffered results are exactly the page the
// <fin/> describes.
func checkPage(q *query, fin Fin, msgs []Message) error {
	switch {
	case q.flooded:
		return ErrFlood
	case q.overflow:
		return ErrBufferFull
	case q.malformed > 0:
		return fmt.Errorf("%w: %d unidentifiable results", ErrMalformed, q.malformed)
	}
	if len(msgs) == 0 {
		if fin.First != "" {
			return fmt.Errorf("%w: no results but <first>%s</first>", ErrPageMismatch, fin.First)
		}
		return nil
	}
	if fin.First != msgs[0].ArchiveID || fin.Last != msgs[len(msgs)-1].ArchiveID {
		return fmt.Errorf("%w: got %d results %s..%s, fin says %s..%s", ErrPageMismatch,
			len(msgs), msgs[0].ArchiveID, msgs[len(msgs)-1].ArchiveID, fin.First, fin.Last)
	}
	seen := make(map[string]struct{}, len(msgs))
	for i := range msgs {
		if _, dup := seen[msgs[i].ArchiveID]; dup {
			return fmt.Errorf("%w: archive id %s twice in one page", ErrPageMismatch, msgs[i].ArchiveID)
		}
		seen[msgs[i].ArchiveID] = struct{}{}
	}
	return nil
}
