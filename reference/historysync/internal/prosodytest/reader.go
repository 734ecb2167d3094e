package prosodytest

import (
	"context"
	"encoding/xml"
	"fmt"
	"sync"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"
)

// ArchivedMessage is one MAM result as the server sent it.
type ArchivedMessage struct {
	// Archive is the archive queried (the account's bare JID or the room's).
	Archive jid.JID
	// ID is the archive id (the result's id attribute), which is also the
	// XEP-0359 stanza-id the archive stamped on the live message.
	ID string
	// Stamp is the archive's delay stamp.
	Stamp time.Time
	// From, To, Type, MessageID and Body are those of the forwarded message.
	From, To  jid.JID
	Type      stanza.MessageType
	MessageID string
	Body      string
	// OriginID is the forwarded message's XEP-0359 origin-id, if any.
	OriginID string
}

// ArchiveReader reads archives page by page as ground truth for tests. It is
// deliberately simple (no dedupe, no persistence, no retries) and independent
// of the sync engine under test. Register it in the session's mux with Option;
// it then takes the session's {urn:xmpp:mam:2}result messages, so use a session
// of its own when the engine's handler needs them.
//
// Results are kept only for a query the reader issued and still runs, from the
// archive it queried; others are counted by Dropped.
type ArchiveReader struct {
	mu      sync.Mutex
	queries map[string]*readerQuery
	dropped int
}

type readerQuery struct {
	archive jid.JID
	results []ArchivedMessage
	bad     error
}

// NewArchiveReader returns an ArchiveReader with no query running.
func NewArchiveReader() *ArchiveReader {
	return &ArchiveReader{queries: make(map[string]*readerQuery)}
}

// Option registers the reader's result handler in a mux.
func (r *ArchiveReader) Option() mux.Option {
	return mux.Message(stanza.NormalMessage, xml.Name{Space: nsMAM, Local: "result"}, r)
}

// Dropped is the number of results that matched no running query of the
// reader (unknown or finished query id, or sent from the wrong JID).
func (r *ArchiveReader) Dropped() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// resultXML is a MAM result message.
type resultXML struct {
	XMLName xml.Name
	From    string `xml:"from,attr"`
	Result  struct {
		QueryID   string `xml:"queryid,attr"`
		ID        string `xml:"id,attr"`
		Forwarded struct {
			Delay struct {
				Stamp string `xml:"stamp,attr"`
			} `xml:"urn:xmpp:delay delay"`
			Message struct {
				ID       string `xml:"id,attr"`
				From     string `xml:"from,attr"`
				To       string `xml:"to,attr"`
				Type     string `xml:"type,attr"`
				Body     string `xml:"body"`
				OriginID struct {
					ID string `xml:"id,attr"`
				} `xml:"urn:xmpp:sid:0 origin-id"`
			} `xml:"jabber:client message"`
		} `xml:"urn:xmpp:forward:0 forwarded"`
	} `xml:"urn:xmpp:mam:2 result"`
}

// HandleMessage implements mux.MessageHandler. It never returns an error (an
// error would end the session): a malformed result fails its query instead.
func (r *ArchiveReader) HandleMessage(msg stanza.Message, t xmlstream.TokenReadEncoder) error {
	var res resultXML
	decodeErr := xml.NewTokenDecoder(t).Decode(&res)

	r.mu.Lock()
	defer r.mu.Unlock()
	q, ok := r.queries[res.Result.QueryID]
	if !ok || !msg.From.Equal(q.archive) {
		r.dropped++
		return nil
	}
	if q.bad != nil {
		return nil
	}
	if decodeErr != nil {
		q.bad = fmt.Errorf("decode result: %w", decodeErr)
		return nil
	}
	m, err := res.archived()
	if err != nil {
		q.bad = err
		return nil
	}
	q.results = append(q.results, m)
	return nil
}

func (res *resultXML) archived() (ArchivedMessage, error) {
	fwd := res.Result.Forwarded
	m := ArchivedMessage{
		ID:        res.Result.ID,
		Type:      stanza.MessageType(fwd.Message.Type),
		MessageID: fwd.Message.ID,
		Body:      fwd.Message.Body,
		OriginID:  fwd.Message.OriginID.ID,
	}
	if m.ID == "" {
		return m, fmt.Errorf("result without an archive id")
	}
	if m.Type == "" {
		m.Type = stanza.NormalMessage
	}
	var err error
	if m.Stamp, err = time.Parse(time.RFC3339Nano, fwd.Delay.Stamp); err != nil {
		return m, fmt.Errorf("result %s: delay stamp: %w", m.ID, err)
	}
	if fwd.Message.From != "" {
		if m.From, err = jid.Parse(fwd.Message.From); err != nil {
			return m, fmt.Errorf("result %s: from: %w", m.ID, err)
		}
	}
	if fwd.Message.To != "" {
		if m.To, err = jid.Parse(fwd.Message.To); err != nil {
			return m, fmt.Errorf("result %s: to: %w", m.ID, err)
		}
	}
	return m, nil
}

// Page runs one MAM query for page against archive and returns its results in
// the order received, and its <fin/>. It always uses a fresh random query id
// (page.QueryID is ignored; QueryPage sends a chosen one). The session must be
// served with a mux that includes r.Option().
func (r *ArchiveReader) Page(ctx context.Context, sess *xmpp.Session, archive jid.JID, page Page) ([]ArchivedMessage, Fin, error) {
	// A fresh id per query: a caller's id could collide with another running
	// query of this reader.
	page.QueryID = NewID()
	// Results of the own archive come without from (mellium blanks a from
	// equal to the account's bare JID).
	expectFrom := archive.Bare()
	if expectFrom.Equal(sess.LocalAddr().Bare()) {
		expectFrom = jid.JID{}
	}
	q := &readerQuery{archive: expectFrom}
	r.mu.Lock()
	r.queries[page.QueryID] = q
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.queries, page.QueryID)
		r.mu.Unlock()
	}()

	fin, err := QueryPage(ctx, sess, archive, page)
	if err != nil {
		return nil, Fin{}, err
	}
	// Serve hands stanzas to the handler in order, so every result sent before
	// the IQ reply has been handled by now.
	r.mu.Lock()
	results, bad := q.results, q.bad
	q.results = nil
	r.mu.Unlock()
	if bad != nil {
		return nil, fin, fmt.Errorf("mam query %s to %s: %w", page.QueryID, archive, bad)
	}
	for i := range results {
		results[i].Archive = archive.Bare()
	}
	return results, fin, nil
}

// ReadAll reads the whole archive forward in pages of 50 and returns every
// message in archive order. It checks that each page's RSM first/last match
// its results and that no archive id comes twice.
func (r *ArchiveReader) ReadAll(ctx context.Context, sess *xmpp.Session, archive jid.JID) ([]ArchivedMessage, error) {
	var all []ArchivedMessage
	seen := make(map[string]struct{})
	after := ""
	for {
		page, fin, err := r.Page(ctx, sess, archive, Page{Max: 50, After: after})
		if err != nil {
			return all, err
		}
		if len(page) > 0 && (fin.First != page[0].ID || fin.Last != page[len(page)-1].ID) {
			return all, fmt.Errorf("read %s: page after %q: fin first/last %q/%q do not match results %q..%q",
				archive, after, fin.First, fin.Last, page[0].ID, page[len(page)-1].ID)
		}
		for _, m := range page {
			if _, dup := seen[m.ID]; dup {
				return all, fmt.Errorf("read %s: page after %q repeats archive id %q", archive, after, m.ID)
			}
			seen[m.ID] = struct{}{}
		}
		all = append(all, page...)
		if fin.Complete || len(page) == 0 {
			return all, nil
		}
		after = fin.Last
	}
}
