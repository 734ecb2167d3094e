package historysync

import (
	"fmt"
	"log/slog"
	"slices"
	"time"

	"mellium.im/xmpp/stanza"
)

// Option configures a Syncer. Every option follows one rule: a zero value (a
// zero argument, a zero field of a struct argument, nil) keeps the default,
// and a value out of range makes New return an error that names the option.
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
	DefaultPingTimeout  = 5 * time.Second
)

// RetryPolicy says which failed queries are retried and how long to wait.
// With WithRetry, zero fields keep their defaults.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts per page, the first included
	// (1 disables retries).
	MaxAttempts int
	// BaseDelay is the backoff before the second attempt; it doubles with
	// every attempt up to MaxDelay. The actual wait is drawn uniformly from
	// [delay/2, delay] (jitter), so that many archives failing together do
	// not retry in lockstep.
	BaseDelay, MaxDelay time.Duration
	// Conditions are the stanza error conditions treated as transient (nil
	// keeps the default list; an empty list makes none transient). Page
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
// is committed to the Store. With WithBufferLimits, zero fields keep their
// defaults.
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
	pingTimeout time.Duration
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
	// errs are the options' errors, which New returns.
	errs []error
}

func defaultConfig() config {
	return config{
		pageSize:    DefaultPageSize,
		pageTimeout: DefaultPageTimeout,
		pingTimeout: DefaultPingTimeout,
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

// invalid records that option got a value out of range.
func (c *config) invalid(option, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s: "+format, append([]any{option}, args...)...))
}

// setPositive sets *v to n if n is positive, keeps it if n is zero, and
// records an error naming option if n is negative.
func setPositive[T int | int64 | time.Duration](c *config, option string, v *T, n T) {
	switch {
	case n > 0:
		*v = n
	case n < 0:
		c.invalid(option, "%v is negative", n)
	}
}

// WithPageSize sets the RSM <max> of every query (default 50, Prosody's
// maximum).
func WithPageSize(n int) Option {
	return func(c *config) { setPositive(c, "WithPageSize", &c.pageSize, n) }
}

// WithPageTimeout sets how long a page may take from sending the query to
// receiving its <fin/> (default 30s). The timeout cannot be turned off:
// mellium never fails a pending IQ when the stream ends, so a page without a
// deadline could wait forever.
func WithPageTimeout(d time.Duration) Option {
	return func(c *config) { setPositive(c, "WithPageTimeout", &c.pageTimeout, d) }
}

// WithPingTimeout sets how long the Syncer waits for the answer to the
// XEP-0199 ping it sends to the server after a page timed out (default 5s).
// A server that does not answer in time is taken for dead: the Syncer closes
// the session at once (ErrServerUnresponsive) rather than spend another page
// timeout on every retry and every later call.
func WithPingTimeout(d time.Duration) Option {
	return func(c *config) { setPositive(c, "WithPingTimeout", &c.pingTimeout, d) }
}

// WithConcurrency limits the MAM queries in flight at once, across all
// archives (default 4; a single Prosody gains little beyond 2-4). CatchUpAll
// works on at most that many archives at a time.
func WithConcurrency(n int) Option {
	return func(c *config) { setPositive(c, "WithConcurrency", &c.concurrency, n) }
}

// WithOverlap sets how far before the newest stored message the catch-up
// looks for it when the archive no longer knows its id (default 5 minutes):
// CatchUp normally pages forward from the newest stored archive id, and falls
// back to the newest page starting Overlap before the newest stored message,
// where it recognises the stored tail, only when the archive answers
// item-not-found for that id.
func WithOverlap(d time.Duration) Option {
	return func(c *config) { setPositive(c, "WithOverlap", &c.overlap, d) }
}

// WithRetry sets the retry policy. Zero fields keep their defaults.
func WithRetry(p RetryPolicy) Option {
	return func(c *config) {
		setPositive(c, "WithRetry: MaxAttempts", &c.retry.MaxAttempts, p.MaxAttempts)
		setPositive(c, "WithRetry: BaseDelay", &c.retry.BaseDelay, p.BaseDelay)
		setPositive(c, "WithRetry: MaxDelay", &c.retry.MaxDelay, p.MaxDelay)
		if c.retry.MaxDelay < c.retry.BaseDelay {
			c.invalid("WithRetry", "MaxDelay %v is below BaseDelay %v", c.retry.MaxDelay, c.retry.BaseDelay)
		}
		if p.Conditions != nil {
			c.retry.Conditions = slices.Clone(p.Conditions)
		}
	}
}

// WithBufferLimits sets the buffer caps. Zero fields keep their defaults.
func WithBufferLimits(l BufferLimits) Option {
	return func(c *config) {
		setPositive(c, "WithBufferLimits: ResultBytes", &c.limits.ResultBytes, l.ResultBytes)
		setPositive(c, "WithBufferLimits: QueryResults", &c.limits.QueryResults, l.QueryResults)
		setPositive(c, "WithBufferLimits: QueryBytes", &c.limits.QueryBytes, l.QueryBytes)
		setPositive(c, "WithBufferLimits: TotalResults", &c.limits.TotalResults, l.TotalResults)
		setPositive(c, "WithBufferLimits: TotalBytes", &c.limits.TotalBytes, l.TotalBytes)
	}
}

// WithPolicy sets the synchronisation policy for archives of kind k. Zero
// fields keep the kind's defaults (DefaultPolicy), so that
//
//	historysync.WithPolicy(historysync.RoomArchive, historysync.Policy{FirstSync: historysync.FirstSyncLatest})
//
// changes how far back rooms go and nothing else.
func WithPolicy(k Kind, p Policy) Option {
	return func(c *config) {
		if k != AccountArchive && k != RoomArchive {
			c.invalid("WithPolicy", "unknown archive kind %v", k)
			return
		}
		option := "WithPolicy(" + k.String() + ")"
		if err := p.check(); err != nil {
			c.invalid(option, "%v", err)
			return
		}
		merged := c.policies[k].merge(p)
		if err := merged.validate(); err != nil {
			c.invalid(option, "%v", err)
			return
		}
		c.policies[k] = merged
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

// WithEvents registers f to receive progress events, queued up to queue
// entries (default 256). See Event for when they are delivered.
func WithEvents(f func(Event), queue int) Option {
	return func(c *config) {
		c.onEvent = f
		setPositive(c, "WithEvents", &c.eventQueue, queue)
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
