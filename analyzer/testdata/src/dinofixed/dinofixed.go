// Package dinofixed is the Dino MAM catch-up port of package dino with the
// leak fixed: processQueryResult owns the buffer and drops it on every
// path.
package dinofixed

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
	Err       error
	Malformed bool
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

// clean: a successful return keeps the buffer for processQueryResult.
func (h *HistorySync) onResultMessage(account *Account, msg *Message) bool {
	if msg.QueryID == "" {
		return false
	}
	h.mu.Lock()
	h.stanzas[msg.QueryID] = append(h.stanzas[msg.QueryID], msg)
	h.mu.Unlock()
	return true
}

// clean: the failed send drops whatever results arrived.
func (h *HistorySync) fetchPage(ctx context.Context, account *Account, queryID string) (*PageResult, error) {
	res, err := h.send(ctx, account, queryID)
	if err != nil {
		h.drop(queryID)
		return nil, fmt.Errorf("mam query %s: %w", queryID, err)
	}
	return h.processQueryResult(account, queryID, res)
}

// clean: every path either replays or drops the buffer.
func (h *HistorySync) processQueryResult(account *Account, queryID string, res *QueryResult) (*PageResult, error) {
	if res.Err != nil {
		h.drop(queryID)
		return nil, fmt.Errorf("mam query %s: %w", queryID, res.Err)
	}
	if res.Malformed {
		h.drop(queryID)
		return nil, fmt.Errorf("mam query %s: %w", queryID, errMalformed)
	}
	page := &PageResult{Complete: res.Complete, Before: res.First}
	h.sendMessagesBackIntoPipeline(queryID)
	return page, nil
}

// clean: the releasing helper.
func (h *HistorySync) sendMessagesBackIntoPipeline(queryID string) {
	for _, m := range h.drop(queryID) {
		h.pipeline(m)
	}
}

// drop forgets the buffer of a query and returns what it held.
func (h *HistorySync) drop(queryID string) []*Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	msgs := h.stanzas[queryID]
	delete(h.stanzas, queryID)
	return msgs
}

var errMalformed = errors.New("malformed reply")
