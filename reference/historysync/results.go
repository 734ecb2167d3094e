package historysync

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

type resultHandler struct{ s *Syncer }

// HandleMessage implements mux.MessageHandler.
func (h resultHandler) HandleMessage(msg stanza.Message, t xmlstream.TokenReadEncoder) error {
	h.s.handleResult(msg.From, t)
	return nil
}

// handleResult routes one MAM result message (r starts at the message's
// start token) into its in-flight query. It runs on the Serve goroutine and
// does as little as possible there: find the query, check the sender, and
// buffer the result's tokens; the query's own goroutine parses them once the
// reply arrived. The tokens are kept as they are: mux hands message handlers
// a reader that copies every token (xml.CopyToken) into a per-message buffer,
// so they stay valid (TestMuxTokensAreCopies guards this property of
// mellium.im/xmpp/mux).
//
// The message is read to its end inside the stall watch (see stallWatch).
func (s *Syncer) handleResult(from jid.JID, r xml.TokenReader) {
	s.watch.enter(readingResult)
	defer s.watch.leave(readingResult)
	defer drain(r)
	startTok, start, ok := findResult(r)
	if !ok {
		s.dropped(DropMalformed, "", Archive{})
		return
	}
	queryID, _ := attr(start, "queryid")
	q, reason := s.tracker.lookup(queryID)
	if q == nil {
		s.dropped(reason, queryID, Archive{})
		return
	}
	if !q.acceptsFrom(from) {
		s.dropped(DropSpoofed, queryID, q.archive)
		return
	}
	archiveID, _ := attr(start, "id")
	if archiveID == "" {
		// Nothing identifies the result: the page cannot be trusted.
		s.dropped(DropMalformed, queryID, q.archive)
		s.tracker.malformed(q)
		return
	}
	scratch := s.scratch.Get().(*[]xml.Token)
	defer s.scratch.Put(scratch)
	toks, size, stamp, err := captureResult(r, startTok, start, (*scratch)[:0], s.cfg.limits.ResultBytes)
	*scratch = toks[:0]
	c := capture{archiveID: archiveID}
	switch {
	case errors.Is(err, ErrResultTooLarge):
		// Keep a placeholder so that the range stays exact.
		s.dropped(DropOversized, queryID, q.archive)
		c.omitted, c.stamp, toks = DropOversized, stamp, nil
		size = int64(len(archiveID)) + captureOverhead
	case err != nil:
		s.dropped(DropMalformed, queryID, q.archive)
		c.omitted, c.stamp, toks = DropMalformed, stamp, nil
		size = int64(len(archiveID)) + captureOverhead
	}
	if reason := s.tracker.add(q, c, toks, size); reason != 0 {
		s.dropped(reason, queryID, q.archive)
	}
}

// captureResult reads a result element (start already read; startTok is the
// same token as r returned it, kept as is so that buffering it does not box
// start again) to its end, appending its tokens to toks (r must return
// tokens that stay valid, as mux's reader does). It returns the tokens and
// their accounted size and, for a result whose serialised size exceeds limit
// (ErrResultTooLarge) or that is truncated (ErrMalformed), the delay stamp if
// one was seen, so that a placeholder can be stored.
func captureResult(r xml.TokenReader, startTok xml.Token, start xml.StartElement, toks []xml.Token, limit int) (_ []xml.Token, size int64, stamp string, err error) {
	toks = append(toks, startTok)
	size = captureOverhead + int64(serialisedSize(start)) + tokenOverhead
	serialised := 0
	tooLarge := false
	for depth := 1; depth > 0; {
		tok, _ := r.Token()
		if tok == nil {
			return toks, size, stamp, fmt.Errorf("%w: result truncated", ErrMalformed)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if t.Name == nameDelay && stamp == "" {
				stamp, _ = attr(t, "stamp")
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
		default:
			continue // comments, processing instructions, directives
		}
		text := serialisedSize(tok)
		serialised += text
		if limit > 0 && serialised > limit {
			tooLarge = true
		}
		if !tooLarge {
			size += int64(text) + tokenOverhead
			toks = append(toks, tok)
		}
	}
	if tooLarge {
		return toks, size, stamp, ErrResultTooLarge
	}
	return toks, size, stamp, nil
}

// findResult reads r from the message start token to the start token of its
// {urn:xmpp:mam:2}result child, skipping whitespace and other children, and
// returns that token both as read and as a StartElement. It does not
// allocate.
func findResult(r xml.TokenReader) (xml.Token, xml.StartElement, bool) {
	depth := 0
	for {
		tok, _ := r.Token()
		if tok == nil {
			return nil, xml.StartElement{}, false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth <= 1 && t.Name == nameResult {
				return tok, t, true
			}
			if depth == 1 {
				if skip(r) != nil {
					return nil, xml.StartElement{}, false
				}
				continue
			}
			depth++
		case xml.EndElement:
			return nil, xml.StartElement{}, false
		}
	}
}

// parseCaptures parses the buffered results of q into messages, on the
// query's goroutine. A result that does not parse is kept as a placeholder
// (Message.Omitted) and counted as dropped.
//
// The raw XML of the page's messages (Message.Raw) is written back to back
// into a recycled buffer and copied once, exactly, into one array that the
// messages' Raw slices share (each capped to its own bytes): one allocation
// per page rather than one per message.
func (s *Syncer) parseCaptures(q *query, tokens []xml.Token, captures []capture) []Message {
	msgs := make([]Message, len(captures))
	opts := ParseOptions{KeepRaw: s.cfg.keepRaw}
	var r sliceTokenReader
	raw, _ := s.rawWriters.Get().(*rawWriter)
	if raw == nil {
		raw = &rawWriter{}
	}
	defer s.putRawWriter(raw)
	raw.shared, raw.buf = true, raw.buf[:0]
	// ends[i] is the end of message i's raw XML in raw.buf (its start is the
	// previous end); equal ends mean no raw XML.
	var endsArray [preallocResults]int
	ends := endsArray[:0]
	if len(captures) > len(endsArray) {
		ends = make([]int, 0, len(captures))
	}
	for i, c := range captures {
		raw.base = len(raw.buf)
		ends = append(ends, raw.base)
		m := &msgs[i]
		if c.from == c.to {
			*m = Message{ArchiveID: c.archiveID, Omitted: c.omitted}
			m.Time, _ = parseStamp(c.stamp)
			continue
		}
		r.toks, r.i = tokens[c.from+1:c.to], 0
		res, err := parseResult(&r, tokens[c.from].(xml.StartElement), opts, raw, true)
		if err != nil {
			raw.buf = raw.buf[:raw.base]
			s.dropped(DropMalformed, q.id, q.archive)
			*m = Message{ArchiveID: c.archiveID, Time: res.Message.Time, Omitted: DropMalformed}
			continue
		}
		*m = res.Message
		if m.Raw != nil {
			ends[i] = len(raw.buf)
		} else {
			raw.buf = raw.buf[:raw.base]
		}
	}
	// Every Raw is a view of the recycled buffer until here: replace them
	// all.
	var page []byte
	if len(raw.buf) > 0 {
		page = make([]byte, len(raw.buf))
		copy(page, raw.buf)
	}
	start := 0
	for i, end := range ends {
		if msgs[i].Raw != nil {
			msgs[i].Raw = page[start:end:end]
		}
		start = end
	}
	return msgs
}

// maxRecycledRaw bounds the capacity of a recycled raw XML page buffer.
const maxRecycledRaw = 1 << 20

// putRawWriter recycles a page's raw XML writer.
func (s *Syncer) putRawWriter(w *rawWriter) {
	if cap(w.buf) > maxRecycledRaw {
		return
	}
	w.buf, w.ns, w.shared, w.base = w.buf[:0], w.ns[:0], false, 0
	s.rawWriters.Put(w)
}

// sliceTokenReader reads buffered tokens.
type sliceTokenReader struct {
	toks []xml.Token
	i    int
}

func (r *sliceTokenReader) Token() (xml.Token, error) {
	if r.i >= len(r.toks) {
		return nil, io.EOF
	}
	r.i++
	return r.toks[r.i-1], nil
}
