package fakeserver_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/history"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync/internal/fakeserver"
)

const (
	benchArchives = 100
	benchMessages = 500
	benchPage     = 50
)

// benchSetup seeds benchArchives room archives of benchMessages messages and
// connects a client whose mux only counts results (the naive loop's bare
// result handler).
func benchSetup(b *testing.B) (*fakeserver.Server, []jid.JID, *atomic.Int64, func(ctx context.Context, r jid.JID, q history.Query) (history.Result, error)) {
	b.Helper()
	srv := fakeserver.New()
	b.Cleanup(func() { _ = srv.Close() })
	rooms := make([]jid.JID, benchArchives)
	for i := range rooms {
		rooms[i] = jid.MustParse(fmt.Sprintf("room%d@conference.example.net", i))
		seed(srv.Archive(rooms[i]), benchMessages, t0)
	}
	var count atomic.Int64
	sess, err := srv.Connect(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		// The stream ends with the pipe at Close: an error is expected.
		_ = sess.Serve(mux.New(stanza.NSClient, mux.MessageFunc(stanza.NormalMessage, xml.Name{Space: history.NS, Local: "result"},
			func(stanza.Message, xmlstream.TokenReadEncoder) error {
				count.Add(1)
				return nil
			})))
	}()
	b.Cleanup(func() {
		_ = srv.Close()
		<-served
	})
	fetch := func(ctx context.Context, r jid.JID, q history.Query) (history.Result, error) {
		return history.Fetch(ctx, q, r, sess)
	}
	return srv, rooms, &count, fetch
}

// fetchArchive pages forward through one archive to completion.
func fetchArchive(ctx context.Context, b *testing.B, fetch func(context.Context, jid.JID, history.Query) (history.Result, error), r jid.JID) {
	after := ""
	for {
		res, err := fetch(ctx, r, history.Query{Limit: benchPage, PageID: after})
		if err != nil {
			b.Error(err)
			return
		}
		if res.Complete {
			return
		}
		after = res.Set.Last
	}
}

// BenchmarkFetch measures the server's ceiling for a plain sequential
// catch-up: history.Fetch pages of 50 over 100 archives × 500 messages, one
// archive after the other, with a result handler that only counts. One
// iteration fetches all 50,000 results.
func BenchmarkFetch(b *testing.B) {
	_, rooms, count, fetch := benchSetup(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range rooms {
			fetchArchive(ctx, b, fetch, r)
		}
	}
	b.StopTimer()
	reportResults(b, count.Load())
}

// BenchmarkFetchConcurrent is BenchmarkFetch with 10 archives fetched in
// parallel on the one session, as a catch-up engine with a concurrency limit
// does.
func BenchmarkFetchConcurrent(b *testing.B) {
	_, rooms, count, fetch := benchSetup(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		work := make(chan jid.JID, len(rooms))
		for _, r := range rooms {
			work <- r
		}
		close(work)
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				for r := range work {
					fetchArchive(ctx, b, fetch, r)
				}
			})
		}
		wg.Wait()
	}
	b.StopTimer()
	reportResults(b, count.Load())
}

func reportResults(b *testing.B, total int64) {
	b.Helper()
	if want := int64(b.N) * benchArchives * benchMessages; total != want {
		b.Fatalf("received %d results, want %d", total, want)
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "results/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(total), "ns/result")
}
