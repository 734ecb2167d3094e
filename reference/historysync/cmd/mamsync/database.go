package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/mapleak/mapleak/reference/historysync/sqlitestore"
)

// errInUse is returned by lockFile when another process holds the lock.
var errInUse = errors.New("in use by another mamsync")

// database is the SQLite store of a run. A sync run also holds the lock
// file next to it, so that two runs never write the same archives at once:
// the Syncer assumes one writer per archive.
type database struct {
	*sqlitestore.Store
	lock *os.File // nil when not locked
}

// openDatabase opens the database at path, creating it if needed. With
// forSync it first takes the lock file path+".lock", and fails at once if
// another mamsync holds it. Without, the file must exist already.
func openDatabase(ctx context.Context, path string, forSync bool) (*database, error) {
	db := &database{}
	if forSync {
		lock, err := lockFile(path + ".lock")
		if err != nil {
			return nil, fmt.Errorf("database %s: %w (lock file %s.lock)", path, err, path)
		}
		db.lock = lock
	} else if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("database %s does not exist", path)
		}
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	store, err := sqlitestore.Open(ctx, path)
	if err != nil {
		db.unlock()
		return nil, describeDatabaseError(path, err)
	}
	db.Store = store
	return db, nil
}

// Close closes the store, then releases the lock.
func (db *database) Close() error {
	err := db.Store.Close()
	db.unlock()
	return err
}

func (db *database) unlock() {
	if db.lock != nil {
		db.lock.Close() // closing releases the lock
		db.lock = nil
	}
}

// describeDatabaseError names the cause of a failure to open the database.
func describeDatabaseError(path string, err error) error {
	if errors.Is(err, sqlitestore.ErrSchemaTooNew) {
		return fmt.Errorf("database %s was written by a newer version of mamsync", path)
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("open database %s: %w", path, err)
	}
	switch se.Code() & 0xff { // the primary result code
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return fmt.Errorf("database %s is locked by another program", path)
	case sqlite3.SQLITE_NOTADB:
		return fmt.Errorf("%s is not an SQLite database", path)
	case sqlite3.SQLITE_CORRUPT:
		return fmt.Errorf("database %s is corrupt", path)
	case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_READONLY:
		return fmt.Errorf("cannot open database %s for writing: %s", path, sqlite.ErrorCodeString[se.Code()])
	}
	return fmt.Errorf("open database %s: %w", path, err)
}
