// Package historysync keeps local copies of XMPP message archives (XEP-0313,
// Message Archive Management) complete, on top of mellium.im/xmpp.
//
// It is a catch-up engine: a Syncer bound to one session fetches what is
// missing from the account's archive and from room archives (what is new,
// forward from the newest stored message; older history and gaps, backwards)
// and commits every page to a Store together with the archive's "ranges", so
// that a restarted client resumes without gaps and without duplicates. It is also the reference implementation of the
// pattern the mapleak analyzer checks: results are buffered per query id, and
// every buffer is released by exactly one owner on every path.
//
// # Using it
//
//	store, err := sqlitestore.Open(ctx, "history.db") // or historysync.NewMemStore()
//	syncer, err := historysync.New(session, store)
//	defer syncer.Close()
//	go syncer.Serve(mux.New(stanza.NSClient, syncer.Handle(), yourHandlers...))
//	reports, err := syncer.CatchUpAll(ctx, []historysync.Archive{
//		historysync.Account(session.LocalAddr()),
//		historysync.Room(jid.MustParse("room@conference.example.net")),
//	})
//	msgs, err := store.Messages(ctx, archive, historysync.AllMessages())
//
// The package Example is a complete client to copy; Example_dial shows the
// details of a plaintext login to a Prosody on loopback, for tests.
//
// Handle registers a synchronous mux handler for {urn:xmpp:mam:2}result
// messages and one for live messages carrying a stanza-id. Syncer.Serve wraps
// Session.Serve so that the end of the session fails every in-flight query
// at once (mellium itself never fails a pending IQ when the stream ends).
//
// Options follow one rule (see Option): a zero value keeps the default, a
// value out of range makes New fail with an error naming the option. With
// the default policies (DefaultPolicy) both the account's archive and rooms'
// archives are kept complete, down to their start; a Report says what a run
// fetched (every result is counted once, as inserted or as already stored),
// whether gaps are left, whether the start of the archive was reached and
// whether the run did all its policy asks for. Errors of a run name the
// package and the archive once: "historysync: sync ARCHIVE: mam query Q:
// ...".
//
// # The range model
//
// The model is Dino's. Per archive the store keeps ranges {from_id,
// from_time, from_end, to_id, to_time}: spans of the archive known to be
// stored without holes; the spaces between ranges are gaps. CatchUp:
//
//  1. fetches what is new: forward from the newest range's to_id (RSM
//     <after/>), page by page, each page extending the newest range, until
//     the archive says complete. A run with nothing new costs one empty
//     page; a run with n new messages fetches n results. If
//     Policy.MaxMessages runs out first, the newest page (RSM <before/>) is
//     fetched instead: it becomes a new range and a gap is recorded. With
//     nothing stored yet, the newest page is the first page.
//  2. fills every gap backwards from the newer range's from_id, with
//     start = the older range's to_time, until the older range's to_id
//     appears (or the archive says complete), then merges the two ranges.
//  3. back-fills older history down to the bound of the archive kind's
//     Policy (everything, a duration, or nothing beyond the first page).
//
// If the archive no longer knows a stored cursor (item-not-found, for
// example after expiry), the query is asked by time instead of by id and an
// EventCursorReset is emitted: a backwards page is retried with an end time;
// the forward catch-up falls back to Dino's newest page starting Overlap (5
// minutes) before the newest range's to_time, where the messages after the
// newest stored id extend the newest range (if that id is not in the page
// either, the page becomes a new range above a gap). Every page after a run's
// first counts against Policy.MaxMessages; the next run continues. Live messages
// with a stanza-id by an archive extend its newest range (Policy.LiveExtend)
// once a CatchUp on this session has reached the archive's newest message,
// until something breaks the live sequence: a delayed message, a store error,
// or Syncer.Detach, which a client calls when it leaves a room. Messages not
// stored live are fetched by the next CatchUp.
//
// # Ordering
//
// Archive ids are opaque and Prosody stamps have second precision, so
// neither orders messages. Each stored message gets an int64 position, Pos,
// in its archive: sorting by Pos gives archive order. The first page of an
// archive ends at position 0 (FirstPos); forward extensions take the
// positions above the newest range's to_pos; backwards pages (gap fills,
// back-fills) take the positions just below the range they extend; a new
// range opened above a gap starts PosStride (2^32) above the newest range,
// which leaves room for a gap of up to 2^32-1 messages (a larger gap fails
// with ErrPositions rather than misorder). Positions inside the span of one
// range are in archive order because every page is in archive order and
// pages are attached at the range's ends; ranges never overlap.
//
// # Dedupe
//
// Stores dedupe by archive id, so commits are idempotent. Prosody archives a
// message an account sends to itself twice, under two archive ids; when both
// copies carry the same origin-id (and sender), the store keeps one message
// and records the second archive id as an alias (Message.Aliases); it counts
// as a duplicate.
//
// # Memory safety
//
// A query's buffer exists only from just before the query is sent until its
// page is committed or it fails: one function owns it and releases it with a
// deferred call on every path (success, IQ error, malformed reply, missing
// <fin/>, page timeout, context cancellation, session end, store error or
// panic). Results are accepted only for a query id this Syncer issued and
// still tracks, and only from that query's archive; late, unknown, spoofed,
// oversized, malformed and excess results are dropped and counted without
// allocating. The mux handler, which runs on the Serve goroutine, only routes:
// it appends the result's tokens to its query's buffer, and the query's own
// goroutine parses them once the <fin/> arrived and checks them against the
// <fin/>'s RSM first and last ids.
//
// Results are capped per query and in total (BufferLimits). A query is sent
// only when its page fits the total caps beside the pages in flight, using a
// running average of result sizes; the caps themselves are hard, so the
// buffered bytes never exceed them. The page timeout is always on. The
// Syncer keeps a few fields per archive and a fixed ring of recent query ids,
// nothing per message: Stats.TrackedQueries is 0 whenever no query is in
// flight.
//
// # Sessions
//
// A Syncer serves one session. Syncer.Serve fails every in-flight query with
// ErrSessionClosed when the session ends; if a query cannot be written (the
// stream may then hold a partial stanza) the Syncer closes the session's
// connection for the same reason. After that, create a new session and a new
// Syncer over the same Store: it resumes from the stored ranges.
//
// After a page timeout the Syncer pings the server (XEP-0199) before it
// retries: a server that does not answer within the ping timeout
// (WithPingTimeout, 5 seconds) is taken for dead, and the Syncer closes the
// session at once (ErrServerUnresponsive, Stats.Unresponsive,
// EventServerUnresponsive), so that neither the retries nor the next calls
// wait for another page timeout each.
//
// The Syncer also closes the session when the server stops for a page
// timeout in the middle of a stanza the Syncer is reading (a stalled stream
// blocks Serve where no context reaches): operations then fail with an error
// wrapping ErrStreamStalled, counted in Stats.Stalls and reported by an
// EventStreamStalled. ErrStreamStalled says what is watched and what the
// client must guard itself.
//
// mellium (v0.22.0) watches every write's context from a goroutine that, if
// the context ends after the write returned but before that goroutine ran,
// may still set a write deadline in the past for a moment and fail a
// concurrent write on the same session with "i/o timeout". The Syncer never
// lets the context of a query it wrote end after SendIQ returned, so its
// queries do not trigger this. A client should do the same for its own
// writes on the session: pass a context that is not cancelled right after
// the write (for example context.WithoutCancel, bounded by the connection's
// own deadlines), or a failing client write may break a query and close the
// session.
//
// # Observability
//
// Stats returns counters and gauges (queries, pages, messages, duplicates,
// drops by reason, retries, timeouts, pings, stalled streams, in-flight and
// tracked queries, buffered results and bytes); Var exposes them to expvar.
// WithEvents delivers progress events (pages, gaps, retries, failures, cursor
// resets, dropped results, finished runs, live extensions, stalled streams,
// unresponsive servers) through a bounded queue that never blocks the
// Syncer; a CatchUp, LoadOlder or CatchUpAll returns after its events were
// delivered, and Close may be called from the callback (see Event).
package historysync
