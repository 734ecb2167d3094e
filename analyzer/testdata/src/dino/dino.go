// Package dino is a Go port of the Dino XMPP client's MAM catch-up
// (libdino/src/service/history_sync.vala), reduced to the buffer that
// leaks: the message handler appends archived results to
// stanzas[queryID]; processQueryResult sends them back into the message
// pipeline (and drops the buffer) when the page completes, but returns
// early when the server answered with an error or a malformed <fin>, and
// the buffer for that query ID stays for the life of the process.
package dino

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Message is an archived message wrapped in <result queryid=...>.
type Message struct {
	QueryID   string
	ArchiveID string
	Body      string
}

// QueryResult is what the IQ result of a MAM query carried.
type QueryResult struct {
	Err       error // an <iq type='error'>
	Malformed bool  // no <fin>, or a <fin> without the RSM set
	Complete  bool
	First     string
	Last      string
}

// PageResult tells the catch-up loop where to continue.
type PageResult struct {
	Complete bool
	Before   string
}

// Account is the local XMPP account.
type Account struct{ BareJID string }

// HistorySync is the MAM catch-up service.
type HistorySync struct {
	mu       sync.Mutex
	stanzas  map[string][]*Message
	pipeline func(*Message)
	send     func(ctx context.Context, account *Account, queryID string) (*QueryResult, error)
}

// onResultMessage is the message listener: results of our queries are
// buffered per query ID until the query completes.
func (h *HistorySync) onResultMessage(account *Account, msg *Message) bool {
	if msg.QueryID == "" {
		return false // not a MAM result
	}
	h.mu.Lock()
	h.stanzas[msg.QueryID] = append(h.stanzas[msg.QueryID], msg)
	h.mu.Unlock()
	return true
}

// fetchPage sends one query and processes its result. When the query
// itself fails, the results that arrived before the error stay buffered
// too.
func (h *HistorySync) fetchPage(ctx context.Context, account *Account, queryID string) (*PageResult, error) {
	res, err := h.send(ctx, account, queryID)
	if err != nil {
		return nil, fmt.Errorf("mam query %s: %w", queryID, err) // want `stanzas\[queryID\] is not deleted when returning here \(error path\); on other paths it is released by processQueryResult at dino.go:70`
	}
	return h.processQueryResult(account, queryID, res)
}

// processQueryResult handles the IQ result of a page: on success the
// buffered results go back into the pipeline; on error it gives up early.
func (h *HistorySync) processQueryResult(account *Account, queryID string, res *QueryResult) (*PageResult, error) {
	if res.Err != nil {
		return nil, fmt.Errorf("mam query %s: %w", queryID, res.Err) // want `stanzas\[queryID\] is not deleted when returning here \(error path\); on other paths it is released by sendMessagesBackIntoPipeline at dino.go:83`
	}
	if res.Malformed {
		return nil, fmt.Errorf("mam query %s: %w", queryID, errMalformed) // want `stanzas\[queryID\] is not deleted when returning here \(error path\); on other paths it is released by sendMessagesBackIntoPipeline at dino.go:83`
	}
	page := &PageResult{Complete: res.Complete, Before: res.First}
	h.sendMessagesBackIntoPipeline(queryID)
	return page, nil
}

// sendMessagesBackIntoPipeline replays the buffered results and drops
// the buffer.
func (h *HistorySync) sendMessagesBackIntoPipeline(queryID string) {
	h.mu.Lock()
	msgs := h.stanzas[queryID]
	delete(h.stanzas, queryID)
	h.mu.Unlock()
	for _, m := range msgs {
		h.pipeline(m)
	}
}

var errMalformed = errors.New("malformed reply")
