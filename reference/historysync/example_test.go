package historysync_test

import (
	"context"
	"crypto/tls"
	"errors"
	"expvar"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync"
	"github.com/mapleak/mapleak/reference/historysync/sqlitestore"
)

// Example catches up an account's archive and a room's into an SQLite file
// and prints the room's history, against a server reached over the network
// with StartTLS. Copy it, change the addresses and the password's source.
// (Compiled, not run: it needs a server.)
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	account := jid.MustParse("juliet@example.net")
	room := historysync.Room(jid.MustParse("coven@conference.example.net"))

	session, err := xmpp.DialClientSession(ctx, account,
		xmpp.StartTLS(&tls.Config{ServerName: account.Domainpart(), MinVersion: tls.VersionTLS12}),
		xmpp.SASL("", os.Getenv("XMPP_PASSWORD"), sasl.ScramSha256Plus, sasl.ScramSha256, sasl.ScramSha1),
		xmpp.BindResource(),
	)
	if err != nil {
		log.Fatalf("connect: %v", err)
	}
	store, err := sqlitestore.Open(ctx, "history.db")
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	syncer, err := historysync.New(session, store)
	if err != nil {
		log.Fatal(err)
	}
	// The Syncer's handlers go into the session's mux, next to the client's
	// own; Syncer.Serve serves the session and fails the Syncer's queries
	// when it ends.
	served := make(chan error, 1)
	go func() { served <- syncer.Serve(mux.New(stanza.NSClient, syncer.Handle())) }()

	reports, err := syncer.CatchUpAll(ctx, []historysync.Archive{historysync.Account(session.LocalAddr()), room})
	for _, r := range reports {
		fmt.Printf("%s: %d new, %d already stored, complete %v\n", r.Archive, r.Inserted, r.Duplicates, r.Complete)
	}
	if err != nil {
		log.Print(err) // each archive's error names the archive
	}
	msgs, err := store.Messages(ctx, room, historysync.AllMessages()) // in archive order
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range msgs {
		fmt.Printf("%s %s: %s\n", m.Time.Format(time.DateTime), m.From, m.Body)
	}

	_ = syncer.Close()
	_ = session.Close() // ends the stream; Serve returns when the server ends its own
	if err := <-served; err != nil {
		log.Printf("session ended: %v", err)
	}
	_ = session.Conn().Close()
}

// Example_dial connects to a Prosody on this machine without TLS, as the
// integration tests do (internal/prosodytest).
//
// LOOPBACK ONLY: the password goes over the connection in the clear (SCRAM
// does not send it, but PLAIN does, and nothing authenticates the server).
// Never use this against a server on another machine; use StartTLS, as in
// the package example.
//
// The server must allow it: in Prosody's configuration,
// c2s_require_encryption = false and allow_unencrypted_plain_auth = true,
// listening on 127.0.0.1 only (interfaces = { "127.0.0.1" }).
//
// Two mellium details matter here. The session starts in the xmpp.Secure
// state: mellium only offers SASL on a secure stream, and without it the
// negotiation fails with the misleading "features advertised out of order".
// And the negotiation context is not cancelled when NewSession returns
// (context.WithoutCancel): mellium (v0.22.0) ties the connection's deadlines
// to that context from a goroutine that may still see it end after the
// negotiation, and would fail a write of the session for a moment. A
// deadline on the connection bounds the negotiation instead.
func Example_dial() {
	ctx := context.Background()
	account := jid.MustParse("alice@localhost")
	password := os.Getenv("XMPP_PASSWORD")

	conn, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", "127.0.0.1:5222")
	if err != nil {
		log.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second)) // bounds the negotiation
	session, err := xmpp.NewSession(context.WithoutCancel(ctx), account.Domain(), account, conn, xmpp.Secure,
		xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{Features: []xmpp.StreamFeature{
				xmpp.SASL("", password, sasl.ScramSha1, sasl.Plain),
				xmpp.BindResource(),
			}}
		}))
	if err != nil {
		conn.Close()
		log.Fatalf("log in: %v", err)
	}
	_ = conn.SetDeadline(time.Time{})

	syncer, err := historysync.New(session, historysync.NewMemStore())
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- syncer.Serve(mux.New(stanza.NSClient, syncer.Handle())) }()
	report, err := syncer.CatchUp(ctx, historysync.Account(account))
	fmt.Println(report.Inserted, report.Complete, err)
	_ = syncer.Close()
	_ = session.Close()
	<-served
	_ = conn.Close()
}

// Example_reconnect keeps a store up to date across sessions: when a session
// ends, a new session gets a new Syncer over the same store, which resumes
// from the stored ranges. The stats of the current Syncer are published with
// expvar.
func Example_reconnect() {
	ctx := context.Background()
	account := jid.MustParse("juliet@example.net/balcony")
	store := historysync.NewMemStore() // sqlitestore.Open for a store that outlives the process
	var current atomic.Pointer[historysync.Syncer]
	expvar.Publish("historysync", expvar.Func(func() any {
		if s := current.Load(); s != nil {
			return s.Stats()
		}
		return nil
	}))
	for {
		session, err := xmpp.DialClientSession(ctx, account,
			xmpp.StartTLS(&tls.Config{ServerName: account.Domainpart(), MinVersion: tls.VersionTLS12}),
			xmpp.SASL("", os.Getenv("XMPP_PASSWORD"), sasl.ScramSha256Plus, sasl.ScramSha256, sasl.ScramSha1),
			xmpp.BindResource(),
		)
		if err != nil {
			log.Printf("connect: %v", err)
			time.Sleep(10 * time.Second)
			continue
		}
		syncer, err := historysync.New(session, store,
			historysync.WithLogger(slog.Default()),
			historysync.WithEvents(func(ev historysync.Event) {
				if ev.Kind == historysync.EventQueryFailed {
					log.Printf("%s: %v", ev.Archive, ev.Err)
				}
			}, 0),
		)
		if err != nil {
			log.Fatal(err)
		}
		current.Store(syncer)
		served := make(chan error, 1)
		go func() { served <- syncer.Serve(mux.New(stanza.NSClient, syncer.Handle())) }()

		_, err = syncer.CatchUpAll(ctx, []historysync.Archive{
			historysync.Account(account),
			historysync.Room(jid.MustParse("coven@chat.example.net")),
		})
		if errors.Is(err, historysync.ErrSessionClosed) {
			log.Print("session lost during catch-up; reconnecting")
		}
		log.Printf("session ended: %v", <-served)
		_ = syncer.Close()
		_ = session.Conn().Close()
	}
}
