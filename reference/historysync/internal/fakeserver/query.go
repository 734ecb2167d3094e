package fakeserver

import (
	"strconv"
	"strings"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// Query describes a MAM query as the server received it. It is passed to the
// [Server.Script] function and recorded for [Server.Queries].
type Query struct {
	// Seq numbers the queries received by the server, from 1.
	Seq int
	// Conn numbers the connection the query arrived on, from 1 (see
	// [Stats.Connections]).
	Conn int
	// Archive is the bare JID of the archive queried: the account's bare JID
	// for the user archive.
	Archive jid.JID
	// To is the IQ's to attribute as sent (zero when absent).
	To jid.JID
	// IQID is the IQ's id attribute.
	IQID string
	// QueryID is the query's queryid attribute.
	QueryID string

	// Max is the RSM <max/> value when HasMax is set.
	Max    int
	HasMax bool
	// After is the RSM <after/> id, if any.
	After string
	// Before is the RSM <before/> id. HasBefore is set when a <before/>
	// element was present, so an empty Before with HasBefore asks for the
	// newest page.
	Before    string
	HasBefore bool

	// Form fields: start, end and with; with urn:xmpp:mam:2#extended also
	// after-id, before-id and ids. Empty fields are treated as absent.
	Start, End time.Time
	With       jid.JID
	AfterID    string
	BeforeID   string
	IDs        []string
	// FlipPage is set when the query carried <flip-page/>.
	FlipPage bool
}

// hasFilter reports whether q filters messages (so the page cannot be computed
// from archive positions alone).
func (q *Query) hasFilter() bool {
	return !q.Start.IsZero() || !q.End.IsZero() || len(q.IDs) > 0 || !q.With.Equal(jid.JID{})
}

// Fault scripts a misbehaviour for one query; the zero Fault is a normal
// Prosody-like answer. Fields combine; the order of events for a query is:
// Delay; Silence (stop); the page's results (ResultInterval between them,
// Disconnect after DisconnectAfter of them); StallInResult (stop); the extra results (Flood,
// UnknownQueryIDResults, SpoofedResults); FinDelay; the reply (stanza error,
// NoFin, WrongPayload, RawPayload, DropReply or the <fin/>, possibly
// unbalanced or mismatched); then Stragglers after StragglerDelay. Whitespace
// and BodySize apply to everything sent for the query.
type Fault struct {
	// ErrorCondition, when set, answers the query with this stanza error
	// instead of a page (no results unless ErrorAfterResults).
	ErrorCondition stanza.Condition
	// ErrorType is the error type; when empty it defaults by condition: wait
	// for resource-constraint, policy-violation and internal-server-error,
	// modify for bad-request, cancel otherwise.
	ErrorType stanza.ErrorType
	// ErrorText is an optional human-readable <text/> in the error.
	ErrorText string
	// ErrorAfterResults sends the page's results before the error.
	ErrorAfterResults bool

	// NoFin answers with an empty IQ result (no <fin/>).
	NoFin bool
	// WrongPayload answers with an IQ result whose payload is another element
	// than <fin/>: <query xmlns='urn:xmpp:mam:2'/> carrying an RSM set that
	// looks like a page, to catch clients that decode the first child as fin.
	WrongPayload bool
	// RawPayload, when set, is written verbatim as the IQ result payload
	// instead of <fin/>. It must be well-formed, or the stream breaks.
	RawPayload string
	// DropReply sends the results but never the IQ reply (the query is held
	// until the connection ends), like a server that dies between results and
	// fin.
	DropReply bool

	// StallInReply sends the page's results and the start of the reply
	// (<iq type='result'><fin>) and then nothing more, holding the query
	// until the connection ends: a server that hangs in the middle of a
	// stanza.
	StallInReply bool
	// StallInResult sends the page's results and then the start of one more
	// result (<message><result><forwarded>) and nothing more, holding the
	// query until the connection ends: a server that hangs in the middle of
	// a <result/> message, which blocks the client's Serve loop in a read.
	StallInResult bool

	// UnbalancedFin writes <first/> without <last/> in the fin's RSM set.
	UnbalancedFin bool
	// MismatchedFin writes first/last ids that are not among the results.
	MismatchedFin bool

	// Whitespace pretty-prints everything sent for this query: whitespace
	// before and between every element, including before the IQ payload and
	// before <result/>.
	Whitespace bool

	// Stragglers re-sends that many results after the reply (the page's
	// results again, cyclically; invented ones when the page is empty), with
	// the query's queryid.
	Stragglers int
	// StragglerDelay waits before sending the stragglers.
	StragglerDelay time.Duration

	// UnknownQueryIDResults sends that many extra results, before the reply,
	// whose queryid the client never issued.
	UnknownQueryIDResults int
	// SpoofedResults sends that many extra results, before the reply, with
	// the right queryid but from a JID that is not the archive (SpoofFrom, or
	// mallory@evil.example when zero).
	SpoofedResults int
	SpoofFrom      jid.JID
	// SpoofReply sends the IQ reply (fin or error) from SpoofFrom (or
	// mallory@evil.example) instead of the archive, with the right IQ id.
	SpoofReply bool
	// Flood sends that many extra valid results (fresh archive ids that are
	// not in the archive) before the reply.
	Flood int
	// BodySize, when positive, pads or cuts the body of every result sent for
	// this query (page, flood and extras) to this many bytes.
	BodySize int

	// Silence never answers: no results, no reply. The query is held until
	// the connection ends.
	Silence bool
	// Delay waits before answering.
	Delay time.Duration
	// ResultInterval waits between results.
	ResultInterval time.Duration
	// FinDelay waits between the last result and the reply.
	FinDelay time.Duration

	// Disconnect drops the connection (closes the pipe, no stream end) after
	// sending DisconnectAfter of the page's results.
	Disconnect      bool
	DisconnectAfter int
}

// stanzaError is a stanza error to send back.
type stanzaError struct {
	typ  stanza.ErrorType
	cond stanza.Condition
	text string
}

func defaultErrorType(c stanza.Condition) stanza.ErrorType {
	switch c {
	case stanza.ResourceConstraint, stanza.PolicyViolation, stanza.InternalServerError:
		return stanza.Wait
	case stanza.BadRequest, stanza.JIDMalformed:
		return stanza.Modify
	default:
		return stanza.Cancel
	}
}

func badRequest(text string) *stanzaError {
	return &stanzaError{typ: stanza.Modify, cond: stanza.BadRequest, text: text}
}

// parseQuery fills q from a <query xmlns='urn:xmpp:mam:2'/> element.
func parseQuery(el *element, extended bool, q *Query) *stanzaError {
	q.QueryID = el.attr("queryid")
	for i := range el.Children {
		c := &el.Children[i]
		switch {
		case c.XMLName.Space == nsDataForm && c.XMLName.Local == "x":
			if err := parseForm(c, extended, q); err != nil {
				return err
			}
		case c.XMLName.Space == nsRSM && c.XMLName.Local == "set":
			if err := parseRSM(c, q); err != nil {
				return err
			}
		case c.XMLName.Local == "flip-page":
			q.FlipPage = true
		}
	}
	return nil
}

func parseForm(x *element, extended bool, q *Query) *stanzaError {
	if t := x.attr("type"); t != "" && t != "submit" {
		return badRequest("data form must be of type submit")
	}
	for i := range x.Children {
		f := &x.Children[i]
		if f.XMLName.Local != "field" {
			continue
		}
		var values []string
		for j := range f.Children {
			if v := &f.Children[j]; v.XMLName.Local == "value" {
				if s := strings.TrimSpace(v.Text); s != "" {
					values = append(values, s)
				}
			}
		}
		if len(values) == 0 {
			continue
		}
		var err error
		switch f.attr("var") {
		case "FORM_TYPE":
			if values[0] != nsMAM {
				return badRequest("unexpected FORM_TYPE " + values[0])
			}
		case "start":
			q.Start, err = time.Parse(time.RFC3339, values[0])
		case "end":
			q.End, err = time.Parse(time.RFC3339, values[0])
		case "with":
			q.With, err = jid.Parse(values[0])
		case "after-id":
			if extended {
				q.AfterID = values[0]
			}
		case "before-id":
			if extended {
				q.BeforeID = values[0]
			}
		case "ids":
			if extended {
				q.IDs = values
			}
		}
		if err != nil {
			return badRequest("invalid " + f.attr("var") + " field: " + err.Error())
		}
	}
	return nil
}

func parseRSM(set *element, q *Query) *stanzaError {
	for i := range set.Children {
		c := &set.Children[i]
		text := strings.TrimSpace(c.Text)
		switch c.XMLName.Local {
		case "max":
			n, err := strconv.Atoi(text)
			if err != nil || n < 0 {
				return badRequest("invalid RSM max " + strconv.Quote(text))
			}
			q.Max, q.HasMax = n, true
		case "after":
			q.After = text
			if text == "" {
				return badRequest("empty RSM after")
			}
		case "before":
			q.Before, q.HasBefore = text, true
		}
	}
	return nil
}
