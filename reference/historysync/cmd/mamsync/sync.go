package main

import (
	"context"
	"fmt"
	"time"

	"mellium.im/xmpp"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync"
)

// eventQueue is the Syncer's event queue length: events beyond it are
// dropped (the progress display then lags; the summary does not).
const eventQueue = 1024

// runSync catches up the account's archive and the rooms' archives into the
// database, with a progress display, and prints a summary. Its error is an
// archiveFailures when the run went through but archives failed.
func runSync(ctx context.Context, cfg config, con console) error {
	db, err := openDatabase(ctx, cfg.dbPath, true)
	if err != nil {
		return err
	}
	defer db.Close()
	password, err := readPassword(con.getenv, con.stdin, con.stderr, cfg.account)
	if err != nil {
		return err
	}
	session, err := connect(ctx, cfg, password)
	if err != nil {
		return err
	}

	progress := newProgress(con.stderr)
	syncer, err := historysync.New(session, db,
		historysync.WithPolicy(historysync.RoomArchive, cfg.roomPolicy),
		historysync.WithEvents(progress.Event, eventQueue),
	)
	if err != nil {
		_ = session.Close()
		_ = session.Conn().Close()
		return err
	}
	var joins roomJoins
	served := make(chan error, 1)
	go func() { served <- syncer.Serve(mux.New(stanza.NSClient, syncer.Handle(), joins.Handle())) }()
	defer disconnect(session, syncer, served)

	archives, err := prepareArchives(ctx, session, &joins, cfg)
	if err != nil {
		return err
	}
	progress.Start(archives)
	// CatchUpAll returns once its events were delivered (unless ctx ended).
	reports, _ := syncer.CatchUpAll(ctx, archives) // each report has its error
	_ = syncer.Close()                             // no event is delivered after it
	progress.Close()
	if err := printSummary(con.stdout, reports); err != nil {
		return err
	}
	return failuresOf(reports)
}

// prepareArchives checks that the account's archive and every room's exist,
// joins the rooms, and returns the archives to catch up.
func prepareArchives(ctx context.Context, session *xmpp.Session, joins *roomJoins, cfg config) ([]historysync.Archive, error) {
	if err := checkAccountArchive(ctx, session, cfg.account); err != nil {
		return nil, err
	}
	archives := []historysync.Archive{historysync.Account(cfg.account)}
	for _, room := range cfg.rooms {
		if err := checkRoom(ctx, session, room); err != nil {
			return nil, err
		}
		// Some servers serve a room's archive to occupants only; and the
		// Syncer stores the room's live messages while we are joined.
		if err := joins.Join(ctx, session, room, cfg.nick); err != nil {
			return nil, err
		}
		archives = append(archives, historysync.Room(room))
	}
	return archives, nil
}

// closeTimeout bounds how long disconnect waits for the server to end the
// stream.
const closeTimeout = 5 * time.Second

// disconnect closes the Syncer, ends the stream (which also leaves the
// rooms) and waits for Serve to return, then closes the connection.
func disconnect(session *xmpp.Session, syncer *historysync.Syncer, served <-chan error) {
	_ = syncer.Close()
	_ = session.Close()
	var err error // how the stream ended; the run is over either way
	select {
	case err = <-served:
	case <-time.After(closeTimeout):
		_ = session.Conn().Close() // the server did not end its stream: Serve returns
		err = <-served
	}
	_ = err
	_ = session.Conn().Close()
}

// archiveFailures are the reports of the archives that failed in a run that
// otherwise went through.
type archiveFailures []historysync.Report

func (f archiveFailures) Error() string {
	return fmt.Sprintf("%s of the run failed", count(len(f), "archive"))
}

// failuresOf returns the failed reports as an archiveFailures, or nil.
func failuresOf(reports []historysync.Report) error {
	var failed archiveFailures
	for _, r := range reports {
		if r.Err != nil {
			failed = append(failed, r)
		}
	}
	if failed == nil {
		return nil
	}
	return failed
}
