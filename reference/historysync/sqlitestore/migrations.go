package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/mapleak/mapleak/reference/historysync"
)

// migration moves the schema from version-1 to version (its index + 1 in
// migrations). Each runs in its own transaction with the version record.
type migration struct {
	name string
	up   func(ctx context.Context, tx *sql.Tx) error
}

// migrations lists the schema versions in order. Never edit a released
// migration; append a new one.
var migrations = []migration{
	{name: "initial schema: archives, messages by position, ranges", up: migrateV1},
	{name: "archive id aliases and message identities (self-archived copies), live flag", up: migrateV2},
}

func migrateV1(ctx context.Context, tx *sql.Tx) error {
	return execAll(ctx, tx,
		`CREATE TABLE archives (
			id  INTEGER PRIMARY KEY,
			key TEXT NOT NULL UNIQUE
		)`,
		`CREATE TABLE messages (
			archive    INTEGER NOT NULL REFERENCES archives (id),
			pos        INTEGER NOT NULL,
			archive_id TEXT NOT NULL,
			stamp      TEXT NOT NULL,
			from_jid   TEXT NOT NULL,
			to_jid     TEXT NOT NULL,
			type       TEXT NOT NULL,
			stanza_id  TEXT NOT NULL,
			origin_id  TEXT NOT NULL,
			body       TEXT NOT NULL,
			raw        BLOB,
			omitted    TEXT NOT NULL,
			PRIMARY KEY (archive, pos),
			UNIQUE (archive, archive_id)
		)`,
		`CREATE TABLE ranges (
			archive   INTEGER NOT NULL REFERENCES archives (id),
			seq       INTEGER NOT NULL,
			from_id   TEXT NOT NULL,
			from_time TEXT NOT NULL,
			from_pos  INTEGER NOT NULL,
			from_end  INTEGER NOT NULL,
			to_id     TEXT NOT NULL,
			to_time   TEXT NOT NULL,
			to_pos    INTEGER NOT NULL,
			PRIMARY KEY (archive, seq)
		)`,
	)
}

// migrateV2 adds the archive id table (every archive id, aliases included,
// maps to a message position), the identity column and the live flag. Copies
// of one message stored as two rows by version 1 are merged: the older row
// stays, the newer one becomes an alias.
func migrateV2(ctx context.Context, tx *sql.Tx) error {
	if err := execAll(ctx, tx,
		`ALTER TABLE messages ADD COLUMN live INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE messages ADD COLUMN identity TEXT`,
		`CREATE TABLE archive_ids (
			archive    INTEGER NOT NULL REFERENCES archives (id),
			archive_id TEXT NOT NULL,
			pos        INTEGER NOT NULL,
			PRIMARY KEY (archive, archive_id)
		)`,
		`INSERT INTO archive_ids (archive, archive_id, pos) SELECT archive, archive_id, pos FROM messages ORDER BY archive, pos`,
		`CREATE INDEX archive_ids_pos ON archive_ids (archive, pos)`,
	); err != nil {
		return err
	}

	type row struct {
		archive, pos int64
		key, from    string
		originID     string
	}
	rows, err := tx.QueryContext(ctx, `
		SELECT m.archive, m.pos, a.key, m.from_jid, m.origin_id
		FROM messages m JOIN archives a ON a.id = m.archive
		WHERE m.origin_id <> '' ORDER BY m.archive, m.pos`)
	if err != nil {
		return err
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.archive, &r.pos, &r.key, &r.from, &r.originID); err != nil {
			_ = rows.Close()
			return err
		}
		all = append(all, r)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	type key struct {
		archive  int64
		identity string
	}
	first := make(map[key]int64)
	for _, r := range all {
		a := historysync.Archive{Kind: historysync.RoomArchive}
		if strings.HasPrefix(r.key, historysync.AccountArchive.String()+":") {
			a.Kind = historysync.AccountArchive
		}
		identity := historysync.Identity(a, &historysync.Message{From: r.from, OriginID: r.originID})
		k := key{r.archive, identity}
		if pos, dup := first[k]; dup {
			if err := execAllArgs(ctx, tx, []stmt{
				{`UPDATE archive_ids SET pos = ? WHERE archive = ? AND pos = ?`, []any{pos, r.archive, r.pos}},
				{`DELETE FROM messages WHERE archive = ? AND pos = ?`, []any{r.archive, r.pos}},
			}); err != nil {
				return err
			}
			continue
		}
		first[k] = r.pos
		if _, err := tx.ExecContext(ctx, `UPDATE messages SET identity = ? WHERE archive = ? AND pos = ?`, identity, r.archive, r.pos); err != nil {
			return err
		}
	}
	return execAll(ctx, tx, `CREATE UNIQUE INDEX messages_identity ON messages (archive, identity) WHERE identity IS NOT NULL`)
}

type stmt struct {
	query string
	args  []any
}

func execAll(ctx context.Context, tx *sql.Tx, queries ...string) error {
	for _, q := range queries {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", strings.Join(strings.Fields(q), " "), err)
		}
	}
	return nil
}

func execAllArgs(ctx context.Context, tx *sql.Tx, stmts []stmt) error {
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s.query, s.args...); err != nil {
			return fmt.Errorf("%s: %w", s.query, err)
		}
	}
	return nil
}

// schemaVersion returns the highest applied migration (0 for a new
// database).
func schemaVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return int(v.Int64), nil
}

// migrate brings the schema to version target (at most len(migrations)).
func migrate(ctx context.Context, db *sql.DB, target int) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL
	)`); err != nil {
		return fmt.Errorf("schema migrations table: %w", err)
	}
	current, err := schemaVersion(ctx, db)
	if err != nil {
		return err
	}
	if current > len(migrations) {
		return fmt.Errorf("%w: version %d, known up to %d", ErrSchemaTooNew, current, len(migrations))
	}
	for v := current + 1; v <= target; v++ {
		if err := applyMigration(ctx, db, v); err != nil {
			return err
		}
	}
	return nil
}

// applyMigration applies migration v in one transaction, unless another
// process applied it first.
func applyMigration(ctx context.Context, db *sql.DB, v int) error {
	m := migrations[v-1]
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %d (%s): %w", v, m.name, err)
	}
	defer func() { _ = tx.Rollback() }()
	current, err := schemaVersion(ctx, tx)
	if err != nil {
		return err
	}
	if current >= v {
		return nil
	}
	if err := m.up(ctx, tx); err != nil {
		return fmt.Errorf("migration %d (%s): %w", v, m.name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		v, m.name, time.Now().UTC().Format(time.RFC3339)); err != nil {
		return fmt.Errorf("migration %d (%s): %w", v, m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %d (%s): %w", v, m.name, err)
	}
	return nil
}
