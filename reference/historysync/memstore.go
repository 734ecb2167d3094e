package historysync

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
)

// MemStore is an in-memory Store, for tests and for clients that keep history
// only for the lifetime of the process. The zero value is not usable; call
// NewMemStore. Commit keeps the Raw slices of the messages it stores (the
// caller must not modify them afterwards); Messages returns copies.
type MemStore struct {
	mu       sync.RWMutex
	archives map[string]*memArchive
}

// memArchive is the stored state of one archive.
type memArchive struct {
	ranges []Range
	// msgs is sorted by Pos.
	msgs []*memMessage
	// byArchiveID maps every stored archive id (aliases included) to its
	// message; byIdentity maps Identity keys (as identity values, which
	// cost no allocation to build).
	byArchiveID map[string]*memMessage
	byIdentity  map[identity]*memMessage
}

type memMessage struct {
	msg     Message
	aliases []string
}

// NewMemStore returns an empty in-memory store.
func NewMemStore() *MemStore {
	return &MemStore{archives: make(map[string]*memArchive)}
}

var _ Store = (*MemStore)(nil)

// Ranges implements Store.
func (s *MemStore) Ranges(ctx context.Context, a Archive) ([]Range, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ma := s.archives[a.String()]
	if ma == nil {
		return nil, nil
	}
	return slices.Clone(ma.ranges), nil
}

// Commit implements Store.
func (s *MemStore) Commit(ctx context.Context, a Archive, c Commit) (CommitResult, error) {
	if err := ctx.Err(); err != nil {
		return CommitResult{}, err
	}
	if err := ValidateCommit(a, c); err != nil {
		return CommitResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := a.String()
	ma := s.archives[key]
	if ma == nil {
		ma = &memArchive{
			byArchiveID: make(map[string]*memMessage),
			byIdentity:  make(map[identity]*memMessage),
		}
	}

	// Plan the commit without changing anything, so that an invalid commit
	// leaves the store as it was. The new messages share one allocation.
	var res CommitResult
	block := make([]memMessage, 0, len(c.Messages))
	fresh := make([]*memMessage, 0, len(c.Messages))
	batchIDs := make(map[string]*memMessage, len(c.Messages))
	var aliases map[string]*memMessage         // new archive id -> message it aliases
	var batchIdentity map[identity]*memMessage // identities new in this commit
	for i := range c.Messages {
		m := &c.Messages[i]
		if ma.byArchiveID[m.ArchiveID] != nil || batchIDs[m.ArchiveID] != nil || aliases[m.ArchiveID] != nil {
			res.Duplicates++
			continue
		}
		ident, hasIdent := identityOf(a, m)
		if hasIdent {
			target := ma.byIdentity[ident]
			if target == nil {
				target = batchIdentity[ident]
			}
			if target != nil {
				if aliases == nil {
					aliases = make(map[string]*memMessage)
				}
				aliases[m.ArchiveID] = target
				res.Duplicates++
				continue
			}
		}
		if ma.hasPos(m.Pos) {
			return CommitResult{}, fmt.Errorf("%w: position %d of %s is already taken", ErrInvalidCommit, m.Pos, m.ArchiveID)
		}
		block = append(block, memMessage{msg: *m})
		mm := &block[len(block)-1]
		mm.msg.Aliases = nil
		batchIDs[m.ArchiveID] = mm
		if hasIdent {
			if batchIdentity == nil {
				batchIdentity = make(map[identity]*memMessage)
			}
			batchIdentity[ident] = mm
		}
		fresh = append(fresh, mm)
	}
	sortByPos(fresh)
	for i := 1; i < len(fresh); i++ {
		if fresh[i].msg.Pos == fresh[i-1].msg.Pos {
			return CommitResult{}, fmt.Errorf("%w: position %d of %s is already taken", ErrInvalidCommit, fresh[i].msg.Pos, fresh[i].msg.ArchiveID)
		}
	}

	// Apply.
	s.archives[key] = ma
	for id, mm := range batchIDs {
		ma.byArchiveID[id] = mm
	}
	for ident, mm := range batchIdentity {
		ma.byIdentity[ident] = mm
	}
	for i := 0; aliases != nil && i < len(c.Messages); i++ {
		id := c.Messages[i].ArchiveID
		if target := aliases[id]; target != nil {
			ma.byArchiveID[id] = target
			target.aliases = append(target.aliases, id)
			delete(aliases, id) // record each alias once
		}
	}
	ma.insert(fresh)
	ma.ranges = slices.Clone(c.Ranges)
	res.Inserted = len(fresh)
	return res, nil
}

// hasPos reports whether a stored message has position pos.
func (ma *memArchive) hasPos(pos int64) bool {
	i := sort.Search(len(ma.msgs), func(i int) bool { return ma.msgs[i].msg.Pos >= pos })
	return i < len(ma.msgs) && ma.msgs[i].msg.Pos == pos
}

func sortByPos(msgs []*memMessage) {
	slices.SortFunc(msgs, func(x, y *memMessage) int {
		switch {
		case x.msg.Pos < y.msg.Pos:
			return -1
		case x.msg.Pos > y.msg.Pos:
			return 1
		}
		return 0
	})
}

// insert adds messages (sorted, with positions not yet taken), keeping msgs
// sorted. A page usually lands in one place (appended, prepended or in a
// gap), which is a single slices.Insert; otherwise the slices are merged.
func (ma *memArchive) insert(fresh []*memMessage) {
	if len(fresh) == 0 {
		return
	}
	lo := sort.Search(len(ma.msgs), func(i int) bool { return ma.msgs[i].msg.Pos > fresh[0].msg.Pos })
	hi := sort.Search(len(ma.msgs), func(i int) bool { return ma.msgs[i].msg.Pos > fresh[len(fresh)-1].msg.Pos })
	if lo == hi {
		ma.msgs = slices.Insert(ma.msgs, lo, fresh...)
		return
	}
	merged := make([]*memMessage, 0, len(ma.msgs)+len(fresh))
	i, j := 0, 0
	for i < len(ma.msgs) && j < len(fresh) {
		if ma.msgs[i].msg.Pos < fresh[j].msg.Pos {
			merged = append(merged, ma.msgs[i])
			i++
		} else {
			merged = append(merged, fresh[j])
			j++
		}
	}
	merged = append(merged, ma.msgs[i:]...)
	merged = append(merged, fresh[j:]...)
	ma.msgs = merged
}

// Messages implements Store.
func (s *MemStore) Messages(ctx context.Context, a Archive, q MessageQuery) ([]Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if q.Limit < 0 {
		return nil, fmt.Errorf("historysync: negative message limit %d", q.Limit)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ma := s.archives[a.String()]
	if ma == nil || q.After >= q.Before {
		return nil, nil
	}
	lo := sort.Search(len(ma.msgs), func(i int) bool { return ma.msgs[i].msg.Pos > q.After })
	hi := sort.Search(len(ma.msgs), func(i int) bool { return ma.msgs[i].msg.Pos >= q.Before })
	if q.Limit > 0 && hi-lo > q.Limit {
		if q.Last {
			lo = hi - q.Limit
		} else {
			hi = lo + q.Limit
		}
	}
	out := make([]Message, 0, hi-lo)
	for _, mm := range ma.msgs[lo:hi] {
		m := mm.msg
		m.Raw = slices.Clone(m.Raw)
		m.Aliases = slices.Clone(mm.aliases)
		out = append(out, m)
	}
	return out, nil
}

// DeleteArchive implements Store.
func (s *MemStore) DeleteArchive(ctx context.Context, a Archive) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := a.String()
	if ma := s.archives[key]; ma != nil {
		clear(ma.byArchiveID)
		clear(ma.byIdentity)
		ma.msgs = nil
		ma.ranges = nil
	}
	delete(s.archives, key)
	return nil
}
