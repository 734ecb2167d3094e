package historysync

import (
	"context"
	"errors"
	"fmt"
)

// Store persists what the Syncer fetched: messages and, per archive, the
// ranges known to be stored without holes. Implementations must be safe for
// concurrent use. The Syncer serialises writes per archive (one CatchUp,
// LoadOlder or live extension at a time per archive); writes to different
// archives may run concurrently.
//
// The package provides MemStore; package sqlitestore provides an embedded
// SQLite store. Package storetest is the conformance suite every
// implementation must pass. The Syncer wraps a Store's errors in its own,
// which name the archive: a Store's errors need not.
type Store interface {
	// Ranges returns the archive's ranges, oldest first (empty when nothing
	// is stored).
	Ranges(ctx context.Context, a Archive) ([]Range, error)

	// Commit applies one page atomically: it inserts c.Messages and replaces
	// the archive's ranges with c.Ranges. Either everything is applied or
	// nothing is, so a crash between pages loses no progress and a restart
	// resumes without gaps or duplicates.
	//
	// Commit is idempotent: a message whose ArchiveID is already stored for
	// the archive is skipped and counted in CommitResult.Duplicates. A
	// message whose Identity (origin-id and sender) matches a stored message
	// under another archive id is not stored again: its archive id is
	// recorded as an alias of the stored message (returned in
	// Message.Aliases) and it is counted as a duplicate.
	Commit(ctx context.Context, a Archive, c Commit) (CommitResult, error)

	// Messages returns stored messages of the archive in archive order (by
	// Pos), with q.After < Pos < q.Before.
	Messages(ctx context.Context, a Archive, q MessageQuery) ([]Message, error)

	// DeleteArchive removes every message and range of the archive (for
	// example when the user leaves a room for good).
	DeleteArchive(ctx context.Context, a Archive) error
}

// Commit is one atomic store update: the messages of a page and the ranges
// the archive has once they are stored.
type Commit struct {
	// Messages to insert, with positions assigned.
	Messages []Message
	// Ranges is the archive's complete, validated range list after the
	// commit, oldest first. It replaces the stored list.
	Ranges []Range
}

// CommitResult reports what a Commit stored: every message of the commit is
// counted once, Inserted + Duplicates == len(Commit.Messages).
type CommitResult struct {
	// Inserted is the number of new messages stored.
	Inserted int
	// Duplicates is the number of messages skipped because their archive id
	// or identity was already stored.
	Duplicates int
}

// MessageQuery selects stored messages by position; both bounds are
// exclusive.
type MessageQuery struct {
	// After and Before bound positions exclusively. The zero MessageQuery
	// selects nothing: use MinPos and MaxPos for open bounds, or AllMessages.
	After, Before int64
	// Limit caps the number of messages returned; zero means no limit.
	Limit int
	// Last selects the last Limit messages of the span instead of the first
	// (still returned in archive order).
	Last bool
}

// AllMessages selects every stored message of an archive.
func AllMessages() MessageQuery { return MessageQuery{After: MinPos, Before: MaxPos} }

// ErrInvalidCommit is returned (wrapped) by stores for a Commit whose ranges
// are malformed or whose messages lack an archive id.
var ErrInvalidCommit = errors.New("invalid commit")

// ValidateCommit checks a Commit before a store applies it; stores call it
// first so that a bad commit changes nothing.
func ValidateCommit(a Archive, c Commit) error {
	if err := a.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidCommit, err)
	}
	if err := validateRanges(c.Ranges); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidCommit, err)
	}
	for i := range c.Messages {
		if c.Messages[i].ArchiveID == "" {
			return fmt.Errorf("%w: message %d has no archive id", ErrInvalidCommit, i)
		}
	}
	return nil
}
