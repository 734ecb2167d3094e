package fakeserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

// Default settings, as Prosody 0.12 ships them.
const (
	// DefaultAccount is the account the server serves.
	DefaultAccount = "juliet@example.net"
	// DefaultMUCService is the MUC service domain that disco advertises.
	// Room archives may live on any domain.
	DefaultMUCService = "conference.example.net"
	// DefaultMaxPageSize is the RSM <max/> clamp (Prosody's
	// max_archive_query_results).
	DefaultMaxPageSize = 50
	// DefaultPageSize is the page size of a query without <max/>.
	DefaultPageSize = 20
	// DefaultQueryLog is the number of recent queries kept for Queries.
	DefaultQueryLog = 1024
	// Password is the password the client side of Connect authenticates with.
	// The server accepts any credentials.
	Password = "fakeserver"
)

// Errors returned by the server.
var (
	// ErrClosed is returned by Connect and SendLive after Close.
	ErrClosed = errors.New("fakeserver: server closed")
	// ErrNotConnected is returned by SendLive when no client is connected.
	ErrNotConnected = errors.New("fakeserver: no client connected")
)

// Option configures a Server.
type Option func(*Server)

// WithMaxPageSize sets the clamp applied to a query's RSM <max/>. The default
// is DefaultMaxPageSize. Values below 1 are ignored.
func WithMaxPageSize(n int) Option {
	return func(s *Server) {
		if n > 0 {
			s.maxPage = n
		}
	}
}

// WithDefaultPageSize sets the page size of queries without RSM <max/>. The
// default is DefaultPageSize. Values below 1 are ignored. It is clamped by the
// max page size.
func WithDefaultPageSize(n int) Option {
	return func(s *Server) {
		if n > 0 {
			s.defaultPage = n
		}
	}
}

// WithIDGenerator sets the generator of archive ids (and of the ids the server
// invents for faults). It must be safe for concurrent use and should return
// unique, non-empty strings; a duplicate is regenerated. The default produces
// random UUID-like opaque ids.
func WithIDGenerator(f func() string) Option {
	return func(s *Server) {
		if f != nil {
			s.newID = f
		}
	}
}

// WithClock sets the clock used for the stamp of appended messages that have
// none. It must be safe for concurrent use. The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(s *Server) {
		if now != nil {
			s.now = now
		}
	}
}

// WithExtended sets whether the server supports and advertises
// urn:xmpp:mam:2#extended (the after-id, before-id and ids form fields). It is
// on by default; without it those fields are ignored, as older servers do.
func WithExtended(on bool) Option {
	return func(s *Server) { s.extended = on }
}

// WithQueryLog sets how many recent queries Queries keeps (default
// DefaultQueryLog). The log is bounded so that long leak tests see a constant
// server footprint.
func WithQueryLog(n int) Option {
	return func(s *Server) {
		if n > 0 {
			s.queryLogSize = n
		}
	}
}

// WithOutputLog copies everything the server writes to clients after stream
// negotiation to w, just before it is written (for debugging, or to check exact wire bytes that the
// client library normalises away). Writes to w are serialised.
func WithOutputLog(w io.Writer) Option {
	return func(s *Server) { s.outputLog = w }
}

// Stats are the server's counters since New.
type Stats struct {
	// Connections counts negotiated sessions; Disconnects counts the ones
	// that ended (by Disconnect, a fault, the client or Close).
	Connections int
	Disconnects int
	// Queries counts MAM queries received (including the invalid ones).
	Queries int
	// InFlight is the number of MAM queries being answered, including held
	// ones (Silence, DropReply, delays) and pending stragglers.
	InFlight int
	// Results counts <result/> messages written, including the extra ones of
	// faults.
	Results int
	// Fins counts IQ results sent for MAM queries (with or without a proper
	// <fin/>).
	Fins int
	// Errors counts stanza errors sent (for MAM and other IQs).
	Errors int
	// LiveMessages counts messages delivered by SendLive.
	LiveMessages int
	// OtherIQs counts get/set IQs that were not MAM queries (disco, ping,
	// unknown payloads).
	OtherIQs int
}

// Server is an in-process fake XMPP server for one client account. Create it
// with New and stop it with Close.
type Server struct {
	account      jid.JID
	mucService   jid.JID
	logger       *slog.Logger
	maxPage      int
	defaultPage  int
	newID        func() string
	now          func() time.Time
	extended     bool
	queryLogSize int
	outputLog    io.Writer
	outputLogMu  sync.Mutex

	wg sync.WaitGroup // every goroutine the server starts

	results  atomic.Int64
	fins     atomic.Int64
	errs     atomic.Int64
	live     atomic.Int64
	otherIQs atomic.Int64

	nextResource atomic.Int64

	mu          sync.Mutex
	closed      bool
	archives    map[string]*Archive
	script      func(Query) Fault
	cur         *conn
	connections int
	disconnects int
	queries     int
	inFlight    int
	queryLog    []Query // ring buffer of the last queryLogSize queries
	changed     chan struct{}
}

// New returns a server with the given options. Call Close when done.
func New(opts ...Option) *Server {
	s := &Server{
		account:      jid.MustParse(DefaultAccount),
		mucService:   jid.MustParse(DefaultMUCService),
		logger:       slog.New(slog.DiscardHandler),
		maxPage:      DefaultMaxPageSize,
		defaultPage:  DefaultPageSize,
		newID:        randomID,
		now:          time.Now,
		extended:     true,
		queryLogSize: DefaultQueryLog,
		archives:     make(map[string]*Archive),
		changed:      make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	s.defaultPage = min(s.defaultPage, s.maxPage)
	return s
}

// randomID returns a random UUID (version 4) string.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// Account returns the bare JID of the account served.
func (s *Server) Account() jid.JID { return s.account }

// MUCService returns the MUC service domain.
func (s *Server) MUCService() jid.JID { return s.mucService }

// Archive returns the archive at the bare JID of j, creating it on first use.
// The account's bare JID is the user archive; any other JID is a MUC room
// archive. A MAM query to a room with no archive is answered with
// item-not-found, as for a room that does not exist.
func (s *Server) Archive(j jid.JID) *Archive {
	bare := j.Bare()
	s.mu.Lock()
	defer s.mu.Unlock()
	key := bare.String()
	a, ok := s.archives[key]
	if !ok {
		a = newArchive(s, bare, !bare.Equal(s.account))
		s.archives[key] = a
	}
	return a
}

// lookupArchive returns the archive at bare JID j if it exists.
func (s *Server) lookupArchive(j jid.JID) (*Archive, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.archives[j.Bare().String()]
	return a, ok
}

// rooms returns the JIDs of the room archives.
func (s *Server) rooms() []jid.JID {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []jid.JID
	for _, a := range s.archives {
		if a.room {
			out = append(out, a.jid)
		}
	}
	return out
}

// Script sets the function that decides the Fault of every MAM query from now
// on; nil restores normal answers. The function is called once per query, from
// the goroutine answering it, possibly concurrently: it must be safe for
// concurrent use and must not call Close or Disconnect.
func (s *Server) Script(f func(q Query) Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = f
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statsLocked()
}

func (s *Server) statsLocked() Stats {
	return Stats{
		Connections:  s.connections,
		Disconnects:  s.disconnects,
		Queries:      s.queries,
		InFlight:     s.inFlight,
		Results:      int(s.results.Load()),
		Fins:         int(s.fins.Load()),
		Errors:       int(s.errs.Load()),
		LiveMessages: int(s.live.Load()),
		OtherIQs:     int(s.otherIQs.Load()),
	}
}

// notifyLocked wakes WaitStats callers. s.mu is held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// WaitStats blocks until cond holds for the server's stats, or ctx ends. The
// condition is re-evaluated whenever a connection starts or ends, a query
// arrives or finishes (including its stragglers), and a live message is sent;
// Results, Fins and Errors are up to date at those points.
func (s *Server) WaitStats(ctx context.Context, cond func(Stats) bool) error {
	for {
		s.mu.Lock()
		st, ch := s.statsLocked(), s.changed
		s.mu.Unlock()
		if cond(st) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("fakeserver: waiting for stats (now %+v): %w", st, ctx.Err())
		}
	}
}

// WaitQueries blocks until the server has received at least n MAM queries
// since New, or ctx ends.
func (s *Server) WaitQueries(ctx context.Context, n int) error {
	return s.WaitStats(ctx, func(st Stats) bool { return st.Queries >= n })
}

// WaitIdle blocks until no MAM query is being answered (InFlight is 0), or ctx
// ends. Held queries (Silence, DropReply) only end with their connection.
func (s *Server) WaitIdle(ctx context.Context) error {
	return s.WaitStats(ctx, func(st Stats) bool { return st.InFlight == 0 })
}

// Queries returns the most recent queries received (at most the query log
// size), oldest first.
func (s *Server) Queries() []Query {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.queryLog)
	out := make([]Query, 0, n)
	if s.queries > n { // the ring has wrapped: oldest entry is at queries%n
		head := s.queries % n
		out = append(out, s.queryLog[head:]...)
		out = append(out, s.queryLog[:head]...)
	} else {
		out = append(out, s.queryLog...)
	}
	return out
}

// queryStarted records q, assigns its sequence number and returns the script.
func (s *Server) queryStarted(q *Query) func(Query) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries++
	s.inFlight++
	q.Seq = s.queries
	if len(s.queryLog) < s.queryLogSize {
		s.queryLog = append(s.queryLog, *q)
	} else {
		s.queryLog[(s.queries-1)%s.queryLogSize] = *q
	}
	s.notifyLocked()
	return s.script
}

func (s *Server) queryDone() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight--
	s.notifyLocked()
}

// Connect negotiates a new client session with the server over net.Pipe and
// returns the client side: negotiated (SASL PLAIN as the account, a bound
// resource) but not served; the caller runs sess.Serve with its own handler.
// The server side is served until the connection ends. A current connection,
// if any, is dropped first, so Connect also reconnects; archives persist across
// connections. ctx bounds the negotiation only.
func (s *Server) Connect(ctx context.Context) (*xmpp.Session, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	old := s.cur
	s.cur = nil
	s.mu.Unlock()
	if old != nil {
		old.close(errors.New("replaced by a new connection"))
	}

	clientEnd, serverEnd := net.Pipe()
	// mellium ties the connection's deadlines to the negotiation context
	// through a goroutine that may still see that context end after the
	// negotiation returned, and then sets a deadline in the past for a moment:
	// a write in that moment fails with "i/o timeout". So negotiate under a
	// context that never ends and let ctx cut the negotiation short by
	// closing the pipe instead.
	nctx := context.WithoutCancel(ctx)
	stopWatch := context.AfterFunc(ctx, func() {
		_ = serverEnd.Close()
		_ = clientEnd.Close()
	})
	type negotiated struct {
		sess *xmpp.Session
		err  error
	}
	done := make(chan negotiated, 1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		sess, err := xmpp.ReceiveSession(nctx, serverEnd, xmpp.Secure, xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{Features: []xmpp.StreamFeature{
				xmpp.SASLServer(func(*sasl.Negotiator) bool { return true }, sasl.Plain),
				xmpp.BindCustom(func(_ jid.JID, resource string) (jid.JID, error) {
					if resource == "" {
						resource = "fakeserver-" + strconv.Itoa(int(s.nextResource.Add(1)))
					}
					return s.account.WithResource(resource)
				}),
			}}
		}))
		done <- negotiated{sess: sess, err: err}
	}()

	client, err := xmpp.NewSession(nctx, s.account.Domain(), s.account, clientEnd, xmpp.Secure, xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
		return xmpp.StreamConfig{Features: []xmpp.StreamFeature{
			xmpp.SASL("", Password, sasl.Plain),
			xmpp.BindResource(),
		}}
	}))
	if err != nil {
		stopWatch()
		_ = serverEnd.Close()
		_ = clientEnd.Close()
		<-done
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return nil, fmt.Errorf("fakeserver: negotiating client session: %w", err)
	}
	srv := <-done // ends with the pipe if ctx does
	if !stopWatch() {
		_ = serverEnd.Close()
		_ = clientEnd.Close()
		return nil, fmt.Errorf("fakeserver: negotiating server session: %w", ctx.Err())
	}
	if srv.err != nil {
		_ = serverEnd.Close()
		_ = clientEnd.Close()
		return nil, fmt.Errorf("fakeserver: negotiating server session: %w", srv.err)
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = serverEnd.Close()
		_ = clientEnd.Close()
		return nil, ErrClosed
	}
	s.connections++
	c := newConn(s, s.connections, srv.sess, serverEnd, client.LocalAddr())
	s.cur = c
	s.wg.Add(1)
	s.notifyLocked()
	s.mu.Unlock()
	s.logger.Debug("fakeserver: client connected", "conn", c.num, "jid", c.full)
	go c.readLoop()
	return client, nil
}

// logOutput copies b to the output log, if any.
func (s *Server) logOutput(b []byte) {
	if s.outputLog == nil {
		return
	}
	s.outputLogMu.Lock()
	defer s.outputLogMu.Unlock()
	_, _ = s.outputLog.Write(b)
}

// connEnded records the end of connection c.
func (s *Server) connEnded(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == c {
		s.cur = nil
	}
	s.disconnects++
	s.notifyLocked()
}

// current returns the current connection, if any.
func (s *Server) current() *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// StallReads makes the current connection stop reading the client's stream
// once it has read the stanza it is reading or waiting for now: the client's
// later writes block, as when a server stops reading its socket, and a write
// deadline on the client side breaks its stream. Answers already under way
// are still written. The connection stays up until Disconnect, Close, a
// failed write, or a new Connect. It returns ErrNotConnected when no client
// is connected.
func (s *Server) StallReads() error {
	c := s.current()
	if c == nil {
		return ErrNotConnected
	}
	c.stalled.Store(true)
	return nil
}

// Freeze makes the current connection stop answering, as a server process
// that hangs: it keeps reading the client's stanzas (so the client's writes
// do not block) but answers none of them, MAM queries and pings included,
// until the connection ends. Answers already under way are still written.
// It returns ErrNotConnected when no client is connected.
func (s *Server) Freeze() error {
	c := s.current()
	if c == nil {
		return ErrNotConnected
	}
	c.frozen.Store(true)
	return nil
}

// Disconnect drops the current connection abruptly: the pipe is closed
// without a stream end, so the client sees its stream fail. Queries in flight
// on it are abandoned. It does nothing when no client is connected.
func (s *Server) Disconnect() {
	if c := s.current(); c != nil {
		c.close(errors.New("Disconnect called"))
	}
}

// Close drops the current connection, stops answering and waits until every
// goroutine the server started has returned. Archives stay readable. Close is
// idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	c := s.cur
	s.mu.Unlock()
	if c != nil {
		c.close(ErrClosed)
	}
	s.wg.Wait()
	return nil
}

// SendLive appends msg to the archive at archive (see Archive.Append) and
// delivers it live to the connected client with a XEP-0359 <stanza-id
// by=archive id=archiveID/>, as groupchat from the occupant JID for rooms (a
// room message without From comes from the room) and as the stored type for
// the user archive. The message is archived even when delivery fails (no
// client: ErrNotConnected). ctx bounds the write; if it ends while the write
// is blocked, the connection is dropped, since a half-written stanza breaks the
// stream.
func (s *Server) SendLive(ctx context.Context, archive jid.JID, msg Message) (archiveID string, err error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return "", ErrClosed
	}
	a := s.Archive(archive)
	a.mu.Lock()
	e := a.appendLocked(msg)
	a.mu.Unlock()
	m := e.msg
	c := s.current()
	if c == nil {
		return m.ID, ErrNotConnected
	}
	if a.room && m.From.Equal(jid.JID{}) {
		m.From = a.jid
	}
	w := xmlWriter{}
	a.writeMessage(&w, &m, m.Body, c.full.String(), false)
	if err := c.write(ctx, w.buf); err != nil {
		return m.ID, fmt.Errorf("fakeserver: live message %s: %w", m.ID, err)
	}
	s.live.Add(1)
	s.mu.Lock()
	s.notifyLocked()
	s.mu.Unlock()
	return m.ID, nil
}

// SendRaw writes b to the current connection as it is, for tests that script
// what no other method sends, such as a stanza cut in the middle. b is not
// checked: bytes that are not well-formed XML break the stream. ctx bounds
// the write as for SendLive.
func (s *Server) SendRaw(ctx context.Context, b []byte) error {
	c := s.current()
	if c == nil {
		return ErrNotConnected
	}
	if err := c.write(ctx, b); err != nil {
		return fmt.Errorf("fakeserver: raw write: %w", err)
	}
	return nil
}
