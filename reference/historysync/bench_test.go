package historysync

import (
	"context"
	"encoding/xml"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/history"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync/internal/fakeserver"
)

// Benchmarks: catch-up throughput of the Syncer against a naive loop over
// history.Fetch, on the same fake server in the same run, and the buffer
// peak with 100 archives synced at once. See docs/performance.md.
//
//	go test -run '^$' -bench . -benchtime 3x ./reference/historysync/

const (
	benchArchives = 100
	benchMessages = 500
	benchWorkers  = 4
)

// benchServer returns a fake server with benchArchives archives (the account
// and rooms) of benchMessages messages each.
func benchServer(b *testing.B, archives, messages int) (*fakeserver.Server, []Archive) {
	b.Helper()
	srv := fakeserver.New()
	as := []Archive{Account(srv.Account())}
	for len(as) < archives {
		as = append(as, room(fmt.Sprintf("bench%03d", len(as))))
	}
	for _, a := range as {
		msgs := make([]fakeserver.Message, messages)
		for i := range msgs {
			msgs[i] = fakeserver.Message{
				Body:     fmt.Sprintf("message %d of %s: the quick brown fox jumps over the lazy dog", i, a.JID.Localpart()),
				OriginID: fmt.Sprintf("%s-%d", a.JID.Localpart(), i),
				Stamp:    base.Add(time.Duration(i/10) * time.Second),
			}
			if a.Kind == RoomArchive {
				msgs[i].From, _ = a.JID.WithResource(fmt.Sprintf("nick%d", i%5))
			} else {
				msgs[i].From, _ = a.JID.WithResource("phone")
			}
		}
		srv.Archive(a.JID).Append(msgs...)
	}
	return srv, as
}

// phase measures one catch-up: wall time, allocations and bytes.
type phase struct {
	elapsed       time.Duration
	mallocs, heap uint64
	messages      int
}

func measure(f func() int) phase {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	n := f()
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	return phase{elapsed: elapsed, mallocs: after.Mallocs - before.Mallocs, heap: after.TotalAlloc - before.TotalAlloc, messages: n}
}

// syncerCatchUp runs a full catch-up of archives with a Syncer and a MemStore
// on a new session, and returns the messages stored.
func syncerCatchUp(b *testing.B, srv *fakeserver.Server, archives []Archive, opts ...Option) (int, Stats) {
	ctx := context.Background()
	sess, err := srv.Connect(ctx)
	if err != nil {
		b.Fatal(err)
	}
	store := NewMemStore()
	opts = append([]Option{
		WithConcurrency(benchWorkers),
		WithPolicy(RoomArchive, Policy{FirstSync: FirstSyncAll}),
		WithPolicy(AccountArchive, Policy{FirstSync: FirstSyncAll}),
	}, opts...)
	syncer, err := New(sess, store, opts...)
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- syncer.Serve(mux.New(stanza.NSClient, syncer.Handle())) }()
	reports, err := syncer.CatchUpAll(ctx, archives)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, r := range reports {
		n += r.Inserted
	}
	st := syncer.Stats()
	_ = syncer.Close()
	srv.Disconnect()
	err = <-served
	_ = err // Serve ends when the connection is dropped
	return n, st
}

// naiveCatchUp fetches every archive with a plain loop over history.Fetch
// (newest page first, then backwards), counting results in a bare mux
// handler: no routing by query id, no parsing, no dedupe, no storage, no
// timeouts. It is the baseline.
func naiveCatchUp(b *testing.B, srv *fakeserver.Server, archives []Archive) int {
	ctx := context.Background()
	sess, err := srv.Connect(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var results atomic.Int64
	count := mux.MessageFunc(stanza.NormalMessage, nameResult, func(stanza.Message, xmlstream.TokenReadEncoder) error {
		results.Add(1)
		return nil
	})
	served := make(chan error, 1)
	go func() { served <- sess.Serve(mux.New(stanza.NSClient, count)) }()

	work := make(chan Archive)
	var wg sync.WaitGroup
	var failed atomic.Value
	for range benchWorkers {
		wg.Go(func() {
			for a := range work {
				if err := naiveFetchAll(ctx, sess, a); err != nil {
					failed.Store(err)
				}
			}
		})
	}
	for _, a := range archives {
		work <- a
	}
	close(work)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	srv.Disconnect()
	err = <-served
	_ = err // Serve ends when the connection is dropped
	return int(results.Load())
}

func naiveFetchAll(ctx context.Context, sess *xmpp.Session, a Archive) error {
	to := a.JID
	if a.Kind == AccountArchive {
		to = jid.JID{}
	}
	before := ""
	for {
		res, err := history.Fetch(ctx, history.Query{Limit: DefaultPageSize, Last: true, PageID: before}, to, sess)
		if err != nil {
			return fmt.Errorf("naive fetch of %s: %w", a, err)
		}
		if res.Complete || res.Set.First.ID == "" {
			return nil
		}
		before = res.Set.First.ID
	}
}

// BenchmarkCatchUp compares the Syncer (routing, parsing, dedupe, positions,
// MemStore commits, timeouts and caps) with the naive loop, alternating them
// in every iteration so that both see the same machine load. It reports
// messages per second for both, their ratio, and allocations and bytes per
// message.
func BenchmarkCatchUp(b *testing.B) {
	b.Run("raw", func(b *testing.B) { benchCatchUp(b) })
	b.Run("noraw", func(b *testing.B) { benchCatchUp(b, WithoutRawXML()) })
}

func benchCatchUp(b *testing.B, opts ...Option) {
	srv, archives := benchServer(b, benchArchives, benchMessages)
	defer srv.Close()
	want := benchArchives * benchMessages
	var syncer, naive phase
	b.ResetTimer()
	for range b.N {
		n := measure(func() int { return naiveCatchUp(b, srv, archives) })
		if n.messages != want {
			b.Fatalf("naive loop got %d results, want %d", n.messages, want)
		}
		s := measure(func() int { n, _ := syncerCatchUp(b, srv, archives, opts...); return n })
		if s.messages != want {
			b.Fatalf("syncer stored %d messages, want %d", s.messages, want)
		}
		for _, p := range []struct {
			sum *phase
			add phase
		}{{&naive, n}, {&syncer, s}} {
			p.sum.elapsed += p.add.elapsed
			p.sum.mallocs += p.add.mallocs
			p.sum.heap += p.add.heap
			p.sum.messages += p.add.messages
		}
	}
	rate := func(p phase) float64 { return float64(p.messages) / p.elapsed.Seconds() }
	b.ReportMetric(rate(syncer), "syncer-msgs/s")
	b.ReportMetric(rate(naive), "naive-msgs/s")
	b.ReportMetric(rate(syncer)/rate(naive), "ratio")
	b.ReportMetric(float64(syncer.mallocs)/float64(syncer.messages), "syncer-allocs/msg")
	b.ReportMetric(float64(syncer.heap)/float64(syncer.messages), "syncer-B/msg")
	b.ReportMetric(float64(naive.mallocs)/float64(naive.messages), "naive-allocs/msg")
	b.ReportMetric(float64(naive.heap)/float64(naive.messages), "naive-B/msg")
}

// BenchmarkPeakBuffer syncs 100 archives at once (concurrency 100) under a
// 1 MiB global buffer cap and reports the peak of buffered bytes (the cap
// holds, see TestGlobalBufferCap) and the throughput.
func BenchmarkPeakBuffer(b *testing.B) {
	const capBytes = 1 << 20
	srv, archives := benchServer(b, benchArchives, benchMessages)
	defer srv.Close()
	var peak int64
	var total phase
	b.ResetTimer()
	for range b.N {
		var st Stats
		p := measure(func() int {
			n, s := syncerCatchUp(b, srv, archives, WithConcurrency(benchArchives), WithBufferLimits(BufferLimits{TotalBytes: capBytes}))
			st = s
			return n
		})
		if st.PeakBufferedBytes > capBytes {
			b.Fatalf("peak buffered bytes %d above the cap %d", st.PeakBufferedBytes, capBytes)
		}
		peak = max(peak, st.PeakBufferedBytes)
		total.elapsed += p.elapsed
		total.messages += p.messages
	}
	b.ReportMetric(float64(peak), "peak-buffered-B")
	b.ReportMetric(float64(total.messages)/total.elapsed.Seconds(), "msgs/s")
}

// BenchmarkParseResult measures the result parser alone, on tokens already
// decoded (as the Syncer parses buffered tokens).
func BenchmarkParseResult(b *testing.B) {
	d, start, _ := decodeFirst([]byte(prosodyResult))
	var toks []xml.Token
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		toks = append(toks, xml.CopyToken(tok))
	}
	b.ReportAllocs()
	r := &sliceTokenReader{}
	for range b.N {
		r.toks, r.i = toks, 0
		if _, err := ParseResult(r, start, ParseOptions{KeepRaw: true}); err != nil {
			b.Fatal(err)
		}
	}
}
