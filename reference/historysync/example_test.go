package historysync_test

import (
	"context"
	"crypto/tls"
	"errors"
	"expvar"
	"fmt"
	"log"
	"log/slog"
	"sync/atomic"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync"
	"github.com/mapleak/mapleak/reference/historysync/internal/fakeserver"
)

// Example wires a Syncer into a client session and catches up the account's
// archive and a room. The session comes from an in-process fake server here;
// a real client dials its server instead (see Example_dial).
func Example() {
	if err := catchUpExample(); err != nil {
		fmt.Println("error:", err)
	}
	// Output:
	// account:juliet@example.net: 1 new, complete true
	// room:coven@conference.example.net: 3 new, complete true
	// coven@conference.example.net/first: When shall we three meet again?
	// coven@conference.example.net/second: When the hurlyburly's done
	// coven@conference.example.net/third: That will be ere the set of sun
	// tracked queries: 0
}

// catchUpExample is the body of Example.
func catchUpExample() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	srv := fakeserver.New()
	defer srv.Close()
	coven := jid.MustParse("coven@conference.example.net")
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	srv.Archive(srv.Account()).Append(
		fakeserver.Message{From: jid.MustParse("romeo@example.net/orchard"), Body: "Good morrow", Stamp: t0},
	)
	srv.Archive(coven).Append(
		fakeserver.Message{From: occupant(coven, "first"), Body: "When shall we three meet again?", Stamp: t0},
		fakeserver.Message{From: occupant(coven, "second"), Body: "When the hurlyburly's done", Stamp: t0},
		fakeserver.Message{From: occupant(coven, "third"), Body: "That will be ere the set of sun", Stamp: t0},
	)
	session, err := srv.Connect(ctx)
	if err != nil {
		return err
	}

	// The store keeps the history; sqlitestore.Open gives a persistent one.
	store := historysync.NewMemStore()
	syncer := historysync.New(session, store, historysync.WithConcurrency(2))
	served := make(chan error, 1)
	go func() {
		// The Syncer's handlers go next to the client's own.
		served <- syncer.Serve(mux.New(stanza.NSClient, syncer.Handle()))
	}()
	defer func() {
		_ = syncer.Close()
		srv.Disconnect()
		err := <-served
		_ = err // Serve ends when the connection is dropped
	}()

	archives := []historysync.Archive{historysync.Account(session.LocalAddr()), historysync.Room(coven)}
	reports, err := syncer.CatchUpAll(ctx, archives)
	if err != nil {
		return err
	}
	for _, r := range reports {
		fmt.Printf("%s: %d new, complete %v\n", r.Archive, r.Inserted, r.Complete)
	}
	msgs, err := store.Messages(ctx, historysync.Room(coven), historysync.AllMessages())
	if err != nil {
		return err
	}
	for _, m := range msgs {
		fmt.Printf("%s: %s\n", m.From, m.Body)
	}
	fmt.Println("tracked queries:", syncer.Stats().TrackedQueries)
	return nil
}

func occupant(room jid.JID, nick string) jid.JID {
	j, err := room.WithResource(nick)
	if err != nil {
		log.Fatal(err)
	}
	return j
}

// Example_dial shows the wiring against a real server: dial, serve with the
// Syncer's handlers, catch up, publish the stats with expvar and reconnect
// with a new Syncer over the same store when the session ends.
func Example_dial() {
	ctx := context.Background()
	account := jid.MustParse("juliet@example.net/balcony")
	store := historysync.NewMemStore()
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
			xmpp.SASL("", "password", sasl.ScramSha256Plus, sasl.ScramSha256, sasl.ScramSha1),
			xmpp.BindResource(),
		)
		if err != nil {
			log.Printf("connect: %v", err)
			time.Sleep(10 * time.Second)
			continue
		}
		syncer := historysync.New(session, store,
			historysync.WithLogger(slog.Default()),
			historysync.WithEvents(func(ev historysync.Event) {
				if ev.Kind == historysync.EventQueryFailed {
					log.Printf("%s: %v", ev.Archive, ev.Err)
				}
			}, 256),
		)
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
	}
}
