package main

import (
	"context"
	"database/sql"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// offlineArgs are the arguments of a sync run whose server does not exist:
// the runs below fail before they would connect.
func offlineArgs(dbPath string) []string {
	return []string{"-jid", "alice@localhost", "-db", dbPath, "-server", "127.0.0.1:1", "-insecure-plain"}
}

// TestDatabaseInUse: a second mamsync on a database fails at once, without
// touching the database.
func TestDatabaseInUse(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "history.db")
	lock, err := lockFile(dbPath + ".lock") // what a running mamsync holds
	require.NoError(t, err)
	defer lock.Close()
	r := runInProcess(t, testPassword, offlineArgs(dbPath)...)
	requireOneLine(t, r, "database "+dbPath+": in use by another mamsync (lock file "+dbPath+".lock)")
	assert.NoFileExists(t, dbPath)

	lock.Close()
	r = runInProcess(t, testPassword, offlineArgs(dbPath)...)
	requireOneLine(t, r, "cannot reach the server") // the lock was released
}

// TestDatabaseLockedByAnotherProgram: a database another program holds an
// exclusive lock on fails with one line once SQLite's busy timeout (10 s)
// has passed, and what the other program wrote is untouched.
func TestDatabaseLockedByAnotherProgram(t *testing.T) {
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "history.db")
	other, err := sql.Open("sqlite", dbPath)
	require.NoError(t, err)
	defer other.Close()
	conn, err := other.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, `BEGIN EXCLUSIVE; CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('mine')`)
	require.NoError(t, err)

	r := runInProcess(t, testPassword, offlineArgs(dbPath)...)
	requireOneLine(t, r, "database "+dbPath+" is locked by another program")

	_, err = conn.ExecContext(ctx, `COMMIT`)
	require.NoError(t, err)
	var text string
	require.NoError(t, conn.QueryRowContext(ctx, `SELECT text FROM notes`).Scan(&text))
	assert.Equal(t, "mine", text)
}

// TestDatabaseNotSQLite: a file that is not a database is refused and left
// as it was.
func TestDatabaseNotSQLite(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "history.db")
	garbage := []byte("These are my notes, not a database. They must survive mamsync.\n")
	for len(garbage) < 4096 {
		garbage = append(garbage, garbage...)
	}
	require.NoError(t, os.WriteFile(dbPath, garbage, 0o600))
	r := runInProcess(t, testPassword, offlineArgs(dbPath)...)
	requireOneLine(t, r, dbPath+" is not an SQLite database")
	got, err := os.ReadFile(dbPath)
	require.NoError(t, err)
	assert.Equal(t, garbage, got, "the file is untouched")
}

// TestDatabaseCorrupt: a database whose pages were overwritten is refused.
func TestDatabaseCorrupt(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "history.db")
	store := openTestStore(t, dbPath)
	require.NoError(t, store.Close())
	data, err := os.ReadFile(dbPath)
	require.NoError(t, err)
	require.Greater(t, len(data), 4096, "more than one page")
	for i := 100; i < len(data); i++ { // keep the 100-byte header, break every page
		data[i] = 0xA5
	}
	require.NoError(t, os.WriteFile(dbPath, data, 0o600))
	r := runInProcess(t, testPassword, offlineArgs(dbPath)...)
	requireOneLine(t, r, "database "+dbPath+" is corrupt")
}

// TestServerUnreachable: a server that does not accept connections ends the
// run with one line.
func TestServerUnreachable(t *testing.T) {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	dbPath := filepath.Join(t.TempDir(), "history.db")
	r := runInProcess(t, testPassword, "-jid", "alice@localhost", "-db", dbPath, "-server", "127.0.0.1:"+strconv.Itoa(port), "-insecure-plain")
	requireOneLine(t, r, "cannot reach the server for localhost: dial tcp 127.0.0.1:"+strconv.Itoa(port)+": connect: connection refused")
}

// TestNoPassword: without MAMSYNC_PASSWORD and without a terminal, the run
// fails with one line before it connects.
func TestNoPassword(t *testing.T) {
	r := runInProcess(t, "", offlineArgs(filepath.Join(t.TempDir(), "history.db"))...)
	requireOneLine(t, r, "no password: set MAMSYNC_PASSWORD or run mamsync on a terminal")
}
