package historysync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync/internal/fakeserver"
)

// The leak test is the regression test for the bug this package exists to
// avoid: per-query buffers left behind by failed, timed-out or late queries.
// It runs many sync cycles over 100 archives against the fake server while
// 30% of the queries fail in mixed ways, and checks after every cycle that no
// query id is tracked and nothing is buffered, and at the end that the live
// heap and the goroutines are back to their baseline. The same harness run
// against a deliberately leaky tracker (buffers released only on success, as
// in Dino) must report the leak.

// leakConfig parameterises the harness.
type leakConfig struct {
	archives int // archives synced per cycle (1 account + rooms)
	messages int // messages per archive
	cycles   int // measured cycles, after warmup
	warmup   int
	// minFaults keeps the harness cycling past cycles (up to
	// maxExtraCycles times as many) until the server has given that many
	// queries a failing fault. How many queries a cycle makes depends on the
	// machine: on a loaded one, more healthy pages time out and end their
	// archive's run early, so a fixed number of cycles may not reach every
	// kind of failure in the schedule.
	minFaults int
	failRate  float64 // share of queries given a failing fault
	leaky     bool    // use the deliberately leaky tracker
	// noDisconnects leaves scripted disconnects out of the fault mix (their
	// share goes to timeouts), so that one session lives through the run.
	noDisconnects bool
	// pageTimeout is the Syncer's page timeout (default 15ms); timeout faults
	// answer after three times as long.
	pageTimeout time.Duration
	// extra options for the Syncer.
	opts []Option
	seed uint64
}

// leakReport is what the harness measured.
type leakReport struct {
	cycles            int
	trackedViolations int   // cycles after which query ids were still tracked
	maxTracked        int64 // most query ids tracked after a cycle
	maxBuffered       int64 // most bytes buffered after a cycle
	heapBase, heapEnd uint64
	goroutinesBase    int
	goroutinesEnd     int
	queries           int // MAM queries the server received
	faults            int // queries given a failing fault
	reconnects        int
	drops             uint64
	elapsed           time.Duration
	goroutineDump     string // goroutines at the end, when more than at baseline
}

func (r leakReport) heapGrowth() int64 { return int64(r.heapEnd) - int64(r.heapBase) }

// maxHeapGrowth is the live heap growth the issue allows over a run.
const maxHeapGrowth = 1 << 20

// err reports the leak the harness found, if any.
func (r leakReport) err() error {
	var errs []error
	if r.trackedViolations > 0 {
		errs = append(errs, fmt.Errorf("query ids still tracked after %d of %d cycles (up to %d ids, %d bytes buffered)",
			r.trackedViolations, r.cycles, r.maxTracked, r.maxBuffered))
	}
	if g := r.heapGrowth(); g >= maxHeapGrowth {
		errs = append(errs, fmt.Errorf("live heap grew by %d bytes (limit %d)", g, maxHeapGrowth))
	}
	if r.goroutinesEnd > r.goroutinesBase {
		errs = append(errs, fmt.Errorf("goroutines: %d at the end, %d at baseline:\n%s", r.goroutinesEnd, r.goroutinesBase, r.goroutineDump))
	}
	return errors.Join(errs...)
}

func (r leakReport) String() string {
	return fmt.Sprintf("%d cycles in %v: %d queries, %d faulty (%.1f%%), %d reconnects, %d results dropped; tracked ids after cycles max %d (%d violations); heap %d -> %d (%+d bytes); goroutines %d -> %d",
		r.cycles, r.elapsed.Round(time.Millisecond), r.queries, r.faults, 100*float64(r.faults)/float64(max(1, r.queries)), r.reconnects, r.drops,
		r.maxTracked, r.trackedViolations, r.heapBase, r.heapEnd, r.heapGrowth(), r.goroutinesBase, r.goroutinesEnd)
}

// swapStore is a Store whose backing MemStore the harness replaces before
// every cycle, so that what is measured is the Syncer, not the growing
// history.
type swapStore struct{ cur atomic.Pointer[MemStore] }

func (s *swapStore) reset()             { s.cur.Store(NewMemStore()) }
func (s *swapStore) backing() *MemStore { return s.cur.Load() }
func (s *swapStore) Ranges(ctx context.Context, a Archive) ([]Range, error) {
	return s.backing().Ranges(ctx, a)
}
func (s *swapStore) Commit(ctx context.Context, a Archive, c Commit) (CommitResult, error) {
	return s.backing().Commit(ctx, a, c)
}
func (s *swapStore) Messages(ctx context.Context, a Archive, q MessageQuery) ([]Message, error) {
	return s.backing().Messages(ctx, a, q)
}
func (s *swapStore) DeleteArchive(ctx context.Context, a Archive) error {
	return s.backing().DeleteArchive(ctx, a)
}

// faultMix picks faults for a share failRate of the queries. Which queries
// fail, and how, is scheduled rather than sampled, so that every kind of
// failure occurs in every run, however short: query n is faulty when
// floor(n*failRate) steps up, and the faulty queries take their kinds in turn
// from a shuffled block of faultBlock kinds in fixed proportions.
type faultMix struct {
	mu       sync.Mutex
	rng      *rand.Rand
	failRate float64
	schedule []fakeserver.Fault
	queries  int
	faulty   int
}

// faultBlock is the length of the fault schedule; each kind of failure
// occurs in every block of faultBlock faulty queries.
const faultBlock = 500

func newFaultMix(seed uint64, failRate float64, timeout time.Duration, noDisconnects bool) *faultMix {
	late := 3 * timeout // a timeout: the results come late, as stragglers
	disconnect := fakeserver.Fault{Disconnect: true, DisconnectAfter: 2}
	if noDisconnects {
		disconnect = fakeserver.Fault{Delay: late, Stragglers: 2}
	}
	kinds := []struct {
		n int // per faultBlock
		f fakeserver.Fault
	}{
		{100, fakeserver.Fault{ErrorCondition: stanza.InternalServerError}},               // transient, retried
		{50, fakeserver.Fault{ErrorCondition: stanza.Forbidden, ErrorAfterResults: true}}, // permanent, after results
		{75, fakeserver.Fault{NoFin: true, Stragglers: 2}},                                // no fin, then late results
		{50, fakeserver.Fault{WrongPayload: true}},                                        // a page-like wrong payload
		{25, fakeserver.Fault{UnbalancedFin: true}},                                       // <first/> without <last/>
		{25, fakeserver.Fault{MismatchedFin: true}},                                       // first/last not the results
		{20, fakeserver.Fault{SpoofReply: true}},                                          // the reply from another JID
		{80, fakeserver.Fault{Delay: late}},                                               // timeout, results late
		{45, fakeserver.Fault{Flood: 5}},                                                  // more results than asked
		{29, fakeserver.Fault{Delay: late, Stragglers: 2}},                                // timeout, more stragglers
		{1, disconnect}, // connection drops mid-page
	}
	m := &faultMix{rng: rand.New(rand.NewPCG(seed, 4)), failRate: failRate}
	for _, k := range kinds {
		for range k.n {
			m.schedule = append(m.schedule, k.f)
		}
	}
	if len(m.schedule) != faultBlock {
		panic(fmt.Sprintf("fault schedule of %d, want %d", len(m.schedule), faultBlock))
	}
	m.rng.Shuffle(len(m.schedule), func(i, j int) { m.schedule[i], m.schedule[j] = m.schedule[j], m.schedule[i] })
	return m
}

func (f *faultMix) pick(fakeserver.Query) fakeserver.Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries++
	if int(float64(f.queries)*f.failRate) == int(float64(f.queries-1)*f.failRate) {
		// Healthy pages, some with foreign results that must be dropped.
		switch f.rng.IntN(10) {
		case 0:
			return fakeserver.Fault{SpoofedResults: 2, UnknownQueryIDResults: 2}
		case 1:
			return fakeserver.Fault{Stragglers: 3}
		case 2:
			return fakeserver.Fault{Whitespace: true}
		}
		return fakeserver.Fault{}
	}
	fault := f.schedule[f.faulty%len(f.schedule)]
	f.faulty++
	return fault
}

// counts returns the queries seen and the faulty ones.
func (f *faultMix) counts() (queries, faulty int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queries, f.faulty
}

// runLeakHarness runs the harness and reports what it measured.
func runLeakHarness(t *testing.T, cfg leakConfig) leakReport {
	t.Helper()
	if os.Getenv("LEAKPROFILE") != "" {
		runtime.MemProfileRate = 4096
	}
	pageTimeout := cfg.pageTimeout
	if pageTimeout == 0 {
		pageTimeout = 15 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	srv := fakeserver.New(fakeserver.WithQueryLog(1))
	defer srv.Close()
	archives := []Archive{Account(srv.Account())}
	for len(archives) < cfg.archives {
		archives = append(archives, room(fmt.Sprintf("leak%03d", len(archives))))
	}
	for _, a := range archives {
		msgs := make([]fakeserver.Message, cfg.messages)
		for i := range msgs {
			msgs[i] = fakeserver.Message{Body: fmt.Sprintf("%s %d", a.JID.Localpart(), i), Stamp: base.Add(time.Duration(i) * time.Second)}
			if a.Kind == RoomArchive {
				msgs[i].From, _ = a.JID.WithResource("nick")
			}
		}
		srv.Archive(a.JID).Append(msgs...)
	}
	mix := newFaultMix(cfg.seed, cfg.failRate, pageTimeout, cfg.noDisconnects)
	srv.Script(mix.pick)

	store := &swapStore{}
	store.reset()
	opts := []Option{
		WithPageSize(10),
		WithPageTimeout(pageTimeout),
		WithConcurrency(8),
		WithRetry(RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}),
		WithPolicy(AccountArchive, Policy{FirstSync: FirstSyncAll}),
		WithPolicy(RoomArchive, Policy{FirstSync: FirstSyncAll}),
	}
	opts = append(opts, cfg.opts...)

	var rep leakReport
	var syncer *Syncer
	var served chan error
	connect := func() {
		sess, err := srv.Connect(ctx)
		require.NoError(t, err)
		syncer, err = New(sess, store, opts...)
		require.NoError(t, err)
		if cfg.leaky {
			syncer.tracker = &leakyTracker{tracker: newTracker(syncer.cfg.limits)}
		}
		served = make(chan error, 1)
		s := syncer
		go func() { served <- s.Serve(mux.New(stanza.NSClient, s.Handle())) }()
	}
	disconnect := func() {
		_ = syncer.Close()
		srv.Disconnect()
		err := <-served
		_ = err // Serve ends when the connection is dropped
	}
	connect()

	// reconnectIfEnded restarts the client when the session ended (a scripted
	// disconnect, or a write broken by a page timeout).
	reconnectIfEnded := func() {
		select {
		case err := <-served:
			_ = err // a scripted disconnect, or a broken write, ended the session
			rep.drops += syncer.Stats().DroppedTotal()
			_ = syncer.Close()
			rep.reconnects++
			connect()
		default:
		}
	}
	// settle waits until the server has finished every answer (late ones
	// included) and the goroutine count is stable, with a live session, and
	// returns the count. Past the baseline it waits up to 2s for the count to
	// come back down to it.
	settle := func() int {
		require.NoError(t, srv.WaitIdle(ctx))
		reconnectIfEnded()
		require.NoError(t, srv.WaitIdle(ctx))
		n := runtime.NumGoroutine()
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
			m := runtime.NumGoroutine()
			if rep.goroutinesBase == 0 && m == n || rep.goroutinesBase > 0 && m <= rep.goroutinesBase {
				return m
			}
			n = m
		}
		return n
	}
	liveHeap := func() uint64 {
		store.reset()
		var ms runtime.MemStats
		for range 3 {
			runtime.GC()
		}
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}

	start := time.Now()
	for cycle := 0; ; cycle++ {
		if measured := cycle - cfg.warmup; measured >= cfg.cycles {
			if _, faulty := mix.counts(); faulty >= cfg.minFaults || measured >= maxExtraCycles*cfg.cycles {
				break
			}
		}
		if cycle == cfg.warmup {
			primeGoroutineCache()
			rep.goroutinesBase = settle()
			rep.heapBase = liveHeap()
			writeHeapProfile(t, "base")
			start = time.Now()
		}
		store.reset()
		cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
		_, cerr := syncer.CatchUpAll(cctx, archives) // failures are the point
		ccancel()
		if tracing && cycle%100 == 50 {
			t.Logf("cycle %d: %.300v", cycle, cerr)
		}
		_ = cerr

		st := syncer.Stats()
		if tracing && cycle%traceEvery == 0 {
			g := settle()
			var ms runtime.MemStats
			h := liveHeap()
			runtime.ReadMemStats(&ms)
			t.Logf("cycle %d heap %d (objects %d) goroutines %d", cycle, h, ms.HeapObjects, g)
		}
		if cycle >= cfg.warmup {
			rep.cycles++
			if st.TrackedQueries != 0 || st.BufferedBytes != 0 || st.BufferedResults != 0 || st.InFlight != 0 {
				rep.trackedViolations++
			}
			rep.maxTracked = max(rep.maxTracked, st.TrackedQueries)
			rep.maxBuffered = max(rep.maxBuffered, st.BufferedBytes)
		}
		reconnectIfEnded()
	}
	rep.elapsed = time.Since(start)
	rep.drops += syncer.Stats().DroppedTotal()
	rep.goroutinesEnd = settle()
	if rep.goroutinesEnd > rep.goroutinesBase {
		var buf bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
		rep.goroutineDump = buf.String()
	}
	rep.heapEnd = liveHeap()
	writeHeapProfile(t, "end")
	rep.queries, rep.faults = mix.counts()
	disconnect()
	return rep
}

// maxExtraCycles bounds the cycles a harness run adds to reach minFaults, as
// a multiple of the cycles asked for.
const maxExtraCycles = 20

// tracing (LEAKTRACE=1) logs the heap and an error sample every 100 cycles.
var tracing = os.Getenv("LEAKTRACE") != ""

// primeGoroutineCache starts and ends many goroutines at once. The runtime
// keeps the descriptors of ended goroutines for reuse, for the life of the
// process, so the heap keeps the mark of the highest number of goroutines ever
// alive at once (timers firing together, server answers piling up under the
// race detector). Priming before the baseline keeps that runtime cache out of
// the heap growth the harness attributes to the code under test.
func primeGoroutineCache() {
	const n = 4096
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range n {
		wg.Go(func() { <-release })
	}
	close(release)
	wg.Wait()
}

// writeHeapProfile writes a heap profile to $LEAKPROFILE-name.prof when
// LEAKPROFILE is set, for diffing with go tool pprof -base.
func writeHeapProfile(t *testing.T, name string) {
	prefix := os.Getenv("LEAKPROFILE")
	if prefix == "" {
		return
	}
	f, err := os.Create(prefix + "-" + name + ".prof")
	require.NoError(t, err)
	require.NoError(t, pprof.WriteHeapProfile(f))
	require.NoError(t, f.Close())
}

// traceEvery is how often tracing logs.
const traceEvery = 50

// leakyTracker is the deliberately leaky variant: like Dino, it releases a
// query's buffer only when the query succeeded. Failed, timed-out and
// cancelled queries stay tracked, and stragglers for them keep being
// buffered.
type leakyTracker struct {
	*tracker
}

// end is the bug on purpose; mapleak reports it, which is the point.
//
//mapleak:ignore deliberately leaky variant: TestLeakHarnessDetectsLeakyVariant proves the leak harness catches it
func (l *leakyTracker) end(q *query, err error) {
	if err != nil {
		return // the bug: the buffer is dropped only on success
	}
	l.tracker.end(q, nil)
}

// leakCycles returns how many measured cycles to run: at least 1,000 in a
// plain run; fewer under the race detector, which is ten times slower (the
// 1,000-cycle run happens in plain go test ./...), and fewer with -short.
func leakCycles() int {
	switch {
	case testing.Short():
		return 50
	case raceEnabled:
		if n := os.Getenv("LEAKCYCLES"); n != "" {
			c, _ := strconv.Atoi(n)
			return c
		}
		return 150
	default:
		return 1000
	}
}

func TestLeakHarness(t *testing.T) {
	rep := runLeakHarness(t, leakConfig{archives: 100, messages: 15, cycles: leakCycles(), warmup: 10, failRate: 0.3, seed: 1, minFaults: faultBlock})
	t.Log(rep)
	require.NoError(t, rep.err())
	assert.GreaterOrEqual(t, rep.cycles, leakCycles())
	// The mix failed 30% of the queries, and every kind of failure at least
	// once: the schedule of kinds was gone through at least once.
	assert.InDelta(t, 0.3, float64(rep.faults)/float64(rep.queries), 0.001)
	require.GreaterOrEqual(t, rep.faults, faultBlock, "every kind of failure was scheduled")
	assert.Positive(t, rep.reconnects, "disconnects happened")
	assert.Positive(t, rep.drops, "late, spoofed and unknown results were dropped")
}

// TestLeakHarnessDetectsLeakyVariant: the harness must be able to fail.
func TestLeakHarnessDetectsLeakyVariant(t *testing.T) {
	// Leaked queries keep their share of the global buffer caps, which would
	// soon block new queries; raise the caps so the leak shows as growth.
	// The session must live through the run for the leak to accumulate:
	// no scripted disconnects, and a page timeout long enough that a
	// starved writer (race detector, busy machine) does not break the
	// stream and force a reconnect, which would free the leaked Syncer.
	huge := WithBufferLimits(BufferLimits{TotalResults: 1 << 24, TotalBytes: 1 << 34})
	rep := runLeakHarness(t, leakConfig{archives: 100, messages: 15, cycles: 15, warmup: 1, failRate: 0.3, seed: 2,
		leaky: true, noDisconnects: true, pageTimeout: 100 * time.Millisecond, opts: []Option{huge}})
	t.Log(rep)
	err := rep.err()
	require.Error(t, err, "the leaky variant must be reported")
	t.Logf("harness verdict on the leaky variant: %v", err)
	assert.Equal(t, rep.cycles, rep.trackedViolations, "every cycle leaves ids behind")
	if rep.reconnects == 0 {
		assert.GreaterOrEqual(t, rep.heapGrowth(), int64(maxHeapGrowth), "the leaked buffers show in the heap")
	}
}
