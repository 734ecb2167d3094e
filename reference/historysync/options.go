package historysync

import (
	"log/slog"
	"time"

	"mellium.im/xmpp/stanza"
)

// Option configures a Syncer.
type Option func(*config)

// Defaults of the options.
const (
	DefaultPageSize     = 50
	DefaultPageTimeout  = 30 * time.Second
	DefaultConcurrency  = 4
	DefaultOverlap      = 5 * time.Minute
	DefaultEventQueue   = 256
	DefaultMaxAttempts  = 4
	DefaultBackoffBase  = 500 * time.Millisecond
	DefaultBackoffMax   = 30 * time.Second
	DefaultResultBytes  = 256 << 10
	DefaultQueryBytes   = 4 << 20
	DefaultTotalResults = 10000
	DefaultTotalBytes   = 32 << 20
)

// RetryPolicy says which failed queries are retried and how long to wait.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts per page, the first included
	// (1 disables retries).
	MaxAttempts int
	// BaseDelay is the backoff before the second attempt; it doubles with
	// every attempt up to MaxDelay. The actual wait is drawn uniformly from
	// [delay/2, delay] (jitter), so that many archives failing together do
	// not retry in lockstep.
	BaseDelay, MaxDelay time.Duration
	// Conditions are the stanza error conditions treated as transient. Page
	// timeouts and a full global buffer are always transient.
	Conditions []stanza.Condition
}

// DefaultRetryPolicy returns the retry policy used unless WithRetry says
// otherwise: 4 attempts, 500ms doubling up to 30s, and the conditions
// resource-constraint, policy-violation, internal-server-error and
// service-unavailable.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxAttempts: DefaultMaxAttempts,
		BaseDelay:   DefaultBackoffBase,
		MaxDelay:    DefaultBackoffMax,
		Conditions: []stanza.Condition{
			stanza.ResourceConstraint,
			stanza.PolicyViolation,
			stanza.InternalServerError,
			stanza.ServiceUnavailable,
		},
	}
}

// BufferLimits bound the memory the Syncer uses for results of in-flight
// queries. Results are buffered from the moment they arrive until their page
// is committed to the Store.
type BufferLimits struct {
	// ResultBytes is the largest result kept (approximate serialised size of
	// the <result/> element). A larger result is counted as dropped
	// (oversized) and stored as a placeholder without payload
	// (Message.Omitted), so the range stays exact.
	ResultBytes int
	// QueryResults caps the results buffered for one query; zero means the
	// page size asked for. A server sending more results than asked floods:
	// the extra results are dropped (counted) and the page fails with
	// ErrFlood.
	QueryResults int
	// QueryBytes caps the bytes buffered for one query; beyond it results are
	// dropped (counted as overflow) and the page fails with ErrBufferFull and
	// is retried with half the page size, so that large messages slow a sync
	// down but do not stop it. Buffered bytes count the results' text plus a
	// fixed overhead per XML token; keep QueryBytes well above ResultBytes.
	QueryBytes int
	// TotalResults and TotalBytes cap what all in-flight queries of the
	// Syncer buffer together. A query is sent only when its page fits
	// beside the pages in flight (page size times the average result size
	// seen so far); otherwise it waits for one to end, or is sent with a
	// smaller page when nothing else is in flight. The caps are hard: a
	// result that would still exceed them is dropped (counted as overflow)
	// and its page fails with ErrBufferFull, retried with half the page
	// size.
	TotalResults int
	TotalBytes   int64
}

// DefaultBufferLimits returns the limits used unless WithBufferLimits says
// otherwise: 256 KiB per result, the page size and 4 MiB per query, 10,000
// results and 32 MiB in total.
func DefaultBufferLimits() BufferLimits {
	return BufferLimits{
		ResultBytes:  DefaultResultBytes,
		QueryBytes:   DefaultQueryBytes,
		TotalResults: DefaultTotalResults,
		TotalBytes:   DefaultTotalBytes,
	}
}

type config struct {
	pageSize    int
	pageTimeout time.Duration
	concurrency int
	overlap     time.Duration
	retry       RetryPolicy
	limits      BufferLimits
	policies    map[Kind]Policy
	logger      *slog.Logger
	onEvent     func(Event)
	eventQueue  int
	clock       Clock
	keepRaw     bool
}

func defaultConfig() config {
	return config{
		pageSize:    DefaultPageSize,
		pageTimeout: DefaultPageTimeout,
		concurrency: DefaultConcurrency,
		overlap:     DefaultOverlap,
		retry:       DefaultRetryPolicy(),
		limits:      DefaultBufferLimits(),
		policies: map[Kind]Policy{
			AccountArchive: DefaultPolicy(AccountArchive),
			RoomArchive:    DefaultPolicy(RoomArchive),
		},
		logger:     slog.New(slog.DiscardHandler),
		eventQueue: DefaultEventQueue,
		clock:      SystemClock(),
		keepRaw:    true,
	}
}

// WithPageSize sets the RSM <max> of every query (default 50, Prosody's
// maximum). Values below 1 are ignored.
func WithPageSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.pageSize = n
		}
	}
}

// WithPageTimeout sets how long a page may take from sending the query to
// receiving its <fin/> (default 30s). The timeout cannot be turned off:
// mellium never fails a pending IQ when the stream ends, so a page without a
// deadline could wait forever. Values below 1 are ignored.
func WithPageTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.pageTimeout = d
		}
	}
}

// WithConcurrency limits the MAM queries in flight at once, across all
// archives (default 4; a single Prosody gains little beyond 2-4). CatchUpAll
// works on at most that many archives at a time. Values below 1 are ignored.
func WithConcurrency(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.concurrency = n
		}
	}
}

// WithOverlap sets how far before the newest stored message the newest-page
// query starts (default 5 minutes), so that the newest stored archive id is
// seen again and the new messages are known to follow it without a hole.
func WithOverlap(d time.Duration) Option {
	return func(c *config) {
		if d >= 0 {
			c.overlap = d
		}
	}
}

// WithRetry sets the retry policy. Zero fields keep their defaults.
func WithRetry(p RetryPolicy) Option {
	return func(c *config) {
		if p.MaxAttempts > 0 {
			c.retry.MaxAttempts = p.MaxAttempts
		}
		if p.BaseDelay > 0 {
			c.retry.BaseDelay = p.BaseDelay
		}
		if p.MaxDelay > 0 {
			c.retry.MaxDelay = p.MaxDelay
		}
		if p.Conditions != nil {
			c.retry.Conditions = append([]stanza.Condition(nil), p.Conditions...)
		}
	}
}

// WithBufferLimits sets the buffer caps. Zero fields keep their defaults.
func WithBufferLimits(l BufferLimits) Option {
	return func(c *config) {
		if l.ResultBytes > 0 {
			c.limits.ResultBytes = l.ResultBytes
		}
		if l.QueryResults > 0 {
			c.limits.QueryResults = l.QueryResults
		}
		if l.QueryBytes > 0 {
			c.limits.QueryBytes = l.QueryBytes
		}
		if l.TotalResults > 0 {
			c.limits.TotalResults = l.TotalResults
		}
		if l.TotalBytes > 0 {
			c.limits.TotalBytes = l.TotalBytes
		}
	}
}

// WithPolicy sets the synchronisation policy for archives of kind k. An
// invalid policy makes New panic, like an invalid mux registration.
func WithPolicy(k Kind, p Policy) Option {
	return func(c *config) {
		if err := p.validate(); err != nil {
			panic(err)
		}
		if k != AccountArchive && k != RoomArchive {
			panic("historysync: WithPolicy: unknown archive kind " + k.String())
		}
		c.policies[k] = p
	}
}

// WithLogger sets the logger (default: discard). Pages are logged at debug
// level, retries and failures at warn level.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithEvents registers f to receive progress events. Events are queued
// (queue entries, default 256 when queue < 1) and delivered in order by one
// goroutine; emitting never blocks the Syncer: when the queue is full the
// event is dropped and counted in Stats.EventsDropped.
func WithEvents(f func(Event), queue int) Option {
	return func(c *config) {
		c.onEvent = f
		if queue > 0 {
			c.eventQueue = queue
		}
	}
}

// WithClock sets the clock (default SystemClock), for tests.
func WithClock(clock Clock) Option {
	return func(c *config) {
		if clock != nil {
			c.clock = clock
		}
	}
}

// WithoutRawXML stops the Syncer from keeping each archived <message/> as XML
// in Message.Raw (body, addresses, ids and stamp are still kept).
func WithoutRawXML() Option {
	return func(c *config) { c.keepRaw = false }
}
