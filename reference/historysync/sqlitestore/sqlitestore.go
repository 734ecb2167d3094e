// Package sqlitestore is a historysync.Store in an embedded SQLite database
// (modernc.org/sqlite: pure Go, no cgo).
//
// Open creates or upgrades the database: the schema is versioned in a
// schema_migrations table and migrated forward, one transaction per
// migration, when an older database is opened; a database written by a newer
// version is refused. The database runs in WAL mode with a busy timeout;
// every Commit is one immediate transaction, so a page's messages and the
// archive's ranges are stored together or not at all.
//
//	store, err := sqlitestore.Open(ctx, filepath.Join(dir, "history.db"))
//	...
//	defer store.Close()
//	syncer, err := historysync.New(session, store)
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"time"

	"mellium.im/xmpp/stanza"
	"modernc.org/sqlite" // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/mapleak/mapleak/reference/historysync"
)

// ErrSchemaTooNew is returned by Open for a database whose schema version is
// newer than this package knows.
var ErrSchemaTooNew = errors.New("sqlitestore: database schema is newer than this version supports")

// Store is a historysync.Store backed by SQLite. It is safe for concurrent
// use.
type Store struct {
	db *sql.DB
}

var _ historysync.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path and migrates its
// schema to the current version.
func Open(ctx context.Context, path string) (*Store, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	// WAL is a property of the database file, set once here rather than on
	// every pooled connection. Changing the journal mode takes an exclusive
	// lock, and SQLite answers SQLITE_BUSY at once, without waiting for the
	// busy timeout, while another connection (a second process opening the
	// same new file) holds a lock: retry for as long as the busy timeout.
	if err := retryBusy(ctx, busyTimeout, func() error {
		var mode string
		return db.QueryRowContext(ctx, `PRAGMA journal_mode=WAL`).Scan(&mode)
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlitestore: %s: journal mode: %w", path, err)
	}
	if err := migrate(ctx, db, len(migrations)); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlitestore: %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// busyTimeout is how long a statement waits for another connection's lock.
const busyTimeout = 10 * time.Second

// retryBusy calls f until it does not fail with SQLITE_BUSY, for at most
// limit, sleeping a little between attempts.
func retryBusy(ctx context.Context, limit time.Duration, f func() error) error {
	deadline := time.Now().Add(limit)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		err := f()
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (%w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// SchemaVersion returns the database's schema version.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	return schemaVersion(ctx, s.db)
}

// LatestSchemaVersion is the schema version Open migrates to.
func LatestSchemaVersion() int { return len(migrations) }

// Ranges implements historysync.Store.
func (s *Store) Ranges(ctx context.Context, a historysync.Archive) ([]historysync.Range, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT r.from_id, r.from_time, r.from_pos, r.from_end, r.to_id, r.to_time, r.to_pos
		FROM ranges r JOIN archives a ON a.id = r.archive
		WHERE a.key = ? ORDER BY r.seq`, a.String())
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: ranges: %w", err)
	}
	defer rows.Close()
	var out []historysync.Range
	for rows.Next() {
		var r historysync.Range
		var from, to string
		if err := rows.Scan(&r.FromID, &from, &r.FromPos, &r.FromEnd, &r.ToID, &to, &r.ToPos); err != nil {
			return nil, fmt.Errorf("sqlitestore: ranges: %w", err)
		}
		if r.FromTime, err = parseTime(from); err != nil {
			return nil, fmt.Errorf("sqlitestore: ranges: %w", err)
		}
		if r.ToTime, err = parseTime(to); err != nil {
			return nil, fmt.Errorf("sqlitestore: ranges: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: ranges: %w", err)
	}
	return out, nil
}

// Commit implements historysync.Store in one immediate transaction.
func (s *Store) Commit(ctx context.Context, a historysync.Archive, c historysync.Commit) (historysync.CommitResult, error) {
	var res historysync.CommitResult
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if err := historysync.ValidateCommit(a, c); err != nil {
		return res, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("sqlitestore: commit: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // no-op after Commit
	res, err = commitTx(ctx, tx, a, c)
	if err != nil {
		return historysync.CommitResult{}, err
	}
	if err := tx.Commit(); err != nil {
		return historysync.CommitResult{}, fmt.Errorf("sqlitestore: commit: %w", err)
	}
	return res, nil
}

func commitTx(ctx context.Context, tx *sql.Tx, a historysync.Archive, c historysync.Commit) (historysync.CommitResult, error) {
	var res historysync.CommitResult
	archive, err := archiveRow(ctx, tx, a)
	if err != nil {
		return res, err
	}
	known, err := tx.PrepareContext(ctx, `SELECT pos FROM archive_ids WHERE archive = ? AND archive_id = ?`)
	if err != nil {
		return res, fmt.Errorf("sqlitestore: commit: %w", err)
	}
	defer known.Close()
	byIdentity, err := tx.PrepareContext(ctx, `SELECT pos FROM messages WHERE archive = ? AND identity = ?`)
	if err != nil {
		return res, fmt.Errorf("sqlitestore: commit: %w", err)
	}
	defer byIdentity.Close()
	taken, err := tx.PrepareContext(ctx, `SELECT 1 FROM messages WHERE archive = ? AND pos = ?`)
	if err != nil {
		return res, fmt.Errorf("sqlitestore: commit: %w", err)
	}
	defer taken.Close()
	insertMsg, err := tx.PrepareContext(ctx, `
		INSERT INTO messages (archive, pos, archive_id, stamp, from_jid, to_jid, type, stanza_id, origin_id, body, raw, omitted, live, identity)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return res, fmt.Errorf("sqlitestore: commit: %w", err)
	}
	defer insertMsg.Close()
	insertID, err := tx.PrepareContext(ctx, `INSERT INTO archive_ids (archive, archive_id, pos) VALUES (?, ?, ?)`)
	if err != nil {
		return res, fmt.Errorf("sqlitestore: commit: %w", err)
	}
	defer insertID.Close()

	for i := range c.Messages {
		m := &c.Messages[i]
		var pos int64
		switch err := known.QueryRowContext(ctx, archive, m.ArchiveID).Scan(&pos); {
		case err == nil:
			res.Duplicates++
			continue
		case !errors.Is(err, sql.ErrNoRows):
			return res, fmt.Errorf("sqlitestore: commit: %w", err)
		}
		identity := historysync.Identity(a, m)
		if identity != "" {
			switch err := byIdentity.QueryRowContext(ctx, archive, identity).Scan(&pos); {
			case err == nil:
				if _, err := insertID.ExecContext(ctx, archive, m.ArchiveID, pos); err != nil {
					return res, fmt.Errorf("sqlitestore: commit: alias %s: %w", m.ArchiveID, err)
				}
				res.Duplicates++
				continue
			case !errors.Is(err, sql.ErrNoRows):
				return res, fmt.Errorf("sqlitestore: commit: %w", err)
			}
		}
		var one int
		switch err := taken.QueryRowContext(ctx, archive, m.Pos).Scan(&one); {
		case err == nil:
			return res, fmt.Errorf("%w: position %d of %s is already taken", historysync.ErrInvalidCommit, m.Pos, m.ArchiveID)
		case !errors.Is(err, sql.ErrNoRows):
			return res, fmt.Errorf("sqlitestore: commit: %w", err)
		}
		if _, err := insertMsg.ExecContext(ctx, archive, m.Pos, m.ArchiveID, formatTime(m.Time), m.From, m.To, string(m.Type),
			m.ID, m.OriginID, m.Body, m.Raw, m.Omitted.String(), m.Live, nullString(identity)); err != nil {
			return res, fmt.Errorf("sqlitestore: commit: message %s: %w", m.ArchiveID, err)
		}
		if _, err := insertID.ExecContext(ctx, archive, m.ArchiveID, m.Pos); err != nil {
			return res, fmt.Errorf("sqlitestore: commit: message %s: %w", m.ArchiveID, err)
		}
		res.Inserted++
	}

	if _, err := tx.ExecContext(ctx, `DELETE FROM ranges WHERE archive = ?`, archive); err != nil {
		return res, fmt.Errorf("sqlitestore: commit: %w", err)
	}
	for i, r := range c.Ranges {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO ranges (archive, seq, from_id, from_time, from_pos, from_end, to_id, to_time, to_pos)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			archive, i, r.FromID, formatTime(r.FromTime), r.FromPos, r.FromEnd, r.ToID, formatTime(r.ToTime), r.ToPos); err != nil {
			return res, fmt.Errorf("sqlitestore: commit: range %d: %w", i, err)
		}
	}
	return res, nil
}

// archiveRow returns the row id of archive a, creating it.
func archiveRow(ctx context.Context, tx *sql.Tx, a historysync.Archive) (int64, error) {
	if _, err := tx.ExecContext(ctx, `INSERT INTO archives (key) VALUES (?) ON CONFLICT (key) DO NOTHING`, a.String()); err != nil {
		return 0, fmt.Errorf("sqlitestore: archive %s: %w", a, err)
	}
	var id int64
	if err := tx.QueryRowContext(ctx, `SELECT id FROM archives WHERE key = ?`, a.String()).Scan(&id); err != nil {
		return 0, fmt.Errorf("sqlitestore: archive %s: %w", a, err)
	}
	return id, nil
}

// Messages implements historysync.Store.
func (s *Store) Messages(ctx context.Context, a historysync.Archive, q historysync.MessageQuery) ([]historysync.Message, error) {
	if q.Limit < 0 {
		return nil, fmt.Errorf("sqlitestore: negative message limit %d", q.Limit)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if q.After >= q.Before {
		return nil, nil
	}
	order, limit := "ASC", int64(-1)
	if q.Limit > 0 {
		limit = int64(q.Limit)
		if q.Last {
			order = "DESC"
		}
	}
	rows, err := s.db.QueryContext(ctx, `
		SELECT m.pos, m.archive_id, m.stamp, m.from_jid, m.to_jid, m.type, m.stanza_id, m.origin_id, m.body, m.raw, m.omitted, m.live
		FROM messages m JOIN archives a ON a.id = m.archive
		WHERE a.key = ? AND m.pos > ? AND m.pos < ?
		ORDER BY m.pos `+order+` LIMIT ?`, a.String(), q.After, q.Before, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: messages of %s: %w", a, err)
	}
	defer rows.Close()
	var out []historysync.Message
	for rows.Next() {
		var m historysync.Message
		var stamp, typ, omitted string
		if err := rows.Scan(&m.Pos, &m.ArchiveID, &stamp, &m.From, &m.To, &typ, &m.ID, &m.OriginID, &m.Body, &m.Raw, &omitted, &m.Live); err != nil {
			return nil, fmt.Errorf("sqlitestore: messages of %s: %w", a, err)
		}
		m.Type = stanza.MessageType(typ)
		if m.Time, err = parseTime(stamp); err != nil {
			return nil, fmt.Errorf("sqlitestore: messages of %s: %w", a, err)
		}
		if m.Omitted, err = historysync.ParseDropReason(omitted); err != nil {
			return nil, fmt.Errorf("sqlitestore: messages of %s: %w", a, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: messages of %s: %w", a, err)
	}
	if order == "DESC" {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	if len(out) > 0 {
		if err := s.addAliases(ctx, a, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// addAliases fills Message.Aliases of msgs (sorted by position, not empty).
func (s *Store) addAliases(ctx context.Context, a historysync.Archive, msgs []historysync.Message) error {
	rows, err := s.db.QueryContext(ctx, `
		SELECT i.pos, i.archive_id
		FROM archive_ids i
		JOIN archives a ON a.id = i.archive
		JOIN messages m ON m.archive = i.archive AND m.pos = i.pos
		WHERE a.key = ? AND i.pos >= ? AND i.pos <= ? AND i.archive_id <> m.archive_id
		ORDER BY i.rowid`, a.String(), msgs[0].Pos, msgs[len(msgs)-1].Pos)
	if err != nil {
		return fmt.Errorf("sqlitestore: aliases in %s: %w", a, err)
	}
	defer rows.Close()
	for rows.Next() {
		var pos int64
		var id string
		if err := rows.Scan(&pos, &id); err != nil {
			return fmt.Errorf("sqlitestore: aliases in %s: %w", a, err)
		}
		i := sort.Search(len(msgs), func(i int) bool { return msgs[i].Pos >= pos })
		if i < len(msgs) && msgs[i].Pos == pos {
			msgs[i].Aliases = append(msgs[i].Aliases, id)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlitestore: aliases in %s: %w", a, err)
	}
	return nil
}

// DeleteArchive implements historysync.Store.
func (s *Store) DeleteArchive(ctx context.Context, a historysync.Archive) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitestore: delete %s: %w", a, err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, stmt := range []string{
		`DELETE FROM archive_ids WHERE archive IN (SELECT id FROM archives WHERE key = ?)`,
		`DELETE FROM messages WHERE archive IN (SELECT id FROM archives WHERE key = ?)`,
		`DELETE FROM ranges WHERE archive IN (SELECT id FROM archives WHERE key = ?)`,
		`DELETE FROM archives WHERE key = ?`,
	} {
		if _, err := tx.ExecContext(ctx, stmt, a.String()); err != nil {
			return fmt.Errorf("sqlitestore: delete %s: %w", a, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: delete %s: %w", a, err)
	}
	return nil
}

// Times are stored as RFC 3339 text with nanoseconds, which round-trips any
// time.Time instant (the zero time is stored as the empty string).
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad stored time %q: %w", s, err)
	}
	return t, nil
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
