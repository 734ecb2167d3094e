// Package analyzer defines mapleak, an analyzer that reports entries put
// into long-lived maps under a request or query ID that some return path
// leaves behind.
//
// Use [Analyzer] (configured by command-line flags) from a driver such as
// cmd/mapleak, or [New] for an analyzer with a fixed [Config], as the
// golangci-lint plugin does.
//
// # Analyzer mapleak
//
// mapleak: report request-ID map entries that some return path leaves behind
//
// Long-running programs keep per-request state in maps keyed by an ID:
// pending calls by sequence number, in-flight queries by query ID,
// waiters by token. The success path deletes the entry when the reply
// comes; the error, timeout or cancel path forgets to, and the map grows
// until the process restarts. mapleak follows every path from each write
// into such a map to the function's returns and reports the paths that
// leave the entry behind.
//
// For example, in
//
//	type Client struct {
//		conn    interface{ Write(id uint64) error }
//		pending map[uint64]chan []byte // replies by request ID
//	}
//
//	func (c *Client) Call(ctx context.Context, id uint64) ([]byte, error) {
//		ch := make(chan []byte, 1)
//		c.pending[id] = ch
//		if err := c.conn.Write(id); err != nil {
//			return nil, err
//		}
//		select {
//		case reply := <-ch:
//			return reply, nil
//		case <-ctx.Done():
//			return nil, ctx.Err()
//		}
//	}
//
// with a reader goroutine that deletes c.pending[id] when the reply
// comes, mapleak reports
//
//	client.go:12:11: pending[id] is not deleted when returning at client.go:14 (error path) and client.go:20 (cancellation)
//
// The suggested fix deletes the entry before both returns (under the
// map's mutex, when the map has one).
//
// What is tracked. A write m[k] = v (or sync.Map Store, LoadOrStore,
// Swap, or a call of a function that inserts m[k] for its argument) is
// tracked when the map is long-lived and holds per-request state. A map
// is long-lived when it is reached through a package-level variable, a
// field (at any depth) of a receiver or parameter, or a variable captured
// by a closure; a map made in the function is tracked only if it outlives
// the call (stored in a field or global, sent on a channel, returned, or
// captured by a closure that is returned or stored; a map that is only
// returned dies on a failing return that returns nothing). It holds
// per-request state when the key's name or type matches -keys (id, ID,
// seq, token, queryID, requestID, ...) and the key's type can be an ID
// (a string, a number, a byte array; not a pointer), when the map's name
// matches -maps (pending, inflight, waiters, calls, stanzas, ...), when
// -track-all is set, or when its declaration says //mapleak:track. Two
// kinds of maps are left alone: caches filled on a miss (if v, ok :=
// m[k]; ok { return v }; m[k] = ...), and maps of the package that
// nothing ever deletes single entries from (tables bounded by design;
// rule 3 covers those named like per-request state).
//
// When an entry is released. On a path, the entry m[k] is released by
// delete(m, k) for the same map (the same field of the same value, the
// same global or captured variable, however often it is reloaded) and
// the same key (the same value, or the same expression over the same
// values: req.ID loaded twice, string(b) converted twice, req.ID() called
// twice; id+1, and a generator like c.nextID(), are other keys); by
// clear(m), by assigning a new map, by range-and-delete; by sync.Map
// Delete, LoadAndDelete, CompareAndDelete and Clear; by any of these in a
// defer registered on the path, before or after the write (a deferred
// closure that deletes only when the named error result is non-nil counts
// on the failing paths); by a call of a function that releases m[k] for
// its argument, in the same package or in another one (mapleak exports
// facts), including through an interface whose implementations mapleak
// can see; by receiving from the entry's own reply channel (the code that
// sent or closed it completed the entry); by handing the key off to code
// that releases it later: a goroutine, time.AfterFunc, a closure stored
// or passed on, a channel or struct field that the package's release code
// reads keys from, or a value sent on a channel that carries the key in
// such a field (code started that way releases the entry only if it
// names the key: a reconnect watcher that empties the whole map, or a
// reply handler that deletes whatever key a reply carries, is no
// hand-off); by a check of a "closed" marker that the package sets
// where it empties the map (sets it to nil, clears it, deletes every
// entry): a bool field set to true, a channel closed, or a field set to
// a constant state that is kept until the map is emptied (nc.status =
// CLOSED ... nc.subs = nil, c.open = false; c.pending = nil; a state
// overwritten later in that function, or set only after the emptying, is
// no marker), checked in place (c.closed, !c.open, nc.status != CLOSED)
// or through a one-line predicate of the package (nc.isClosed()).
// Assigning a fresh map readies the map for new requests rather than
// closing it: a flag or state set by a function that only gives the map
// a fresh one (c.connected = true; c.pending = make(...), or c.state =
// connected) is the open value, true or false alike, and marks nothing.
// A map swept by a periodic reaper (a range loop deleting expired
// entries, run by a timer) loses its entries on every path. Paths that
// end in panic, os.Exit, log.Fatal, runtime.Goexit or another function
// that never returns are not return paths. The -cleanup flag names more functions (regular expression over
// pkgpath.Func or pkgpath.Type.Method) that release their key argument.
//
// Rule 1, failure path (category failure-path). In a function that
// inserts m[k], a path from the insert to a return that fails without
// releasing or handing off the entry. A return fails when its error
// result may be non-nil on that path (return err, return f(),
// return fmt.Errorf(...); a constant nil, or an error known to be nil on
// that branch, is success), when it leaves through a timeout or
// cancellation branch (a select case on ctx.Done(), time.After or a
// timer's channel, a ctx.Err() != nil check), or, in a function without
// an error result, when it lies on an err != nil branch. It is reported
// at the insert and names the leaking returns:
//
//	pending[seq] is not deleted when returning at client.go:88 (error path)
//
// A successful return that keeps the entry is not reported: the reply
// handler owns the entry now. Neither is a return reached straight from
// the insert, with no branch and nothing that can fail in between (return
// errSkip right after it, or return problems.err() where err() only joins
// the errors collected before: a validator that records the entry and
// reports what it found), a helper's failure when all its callers clean
// up after it, nor a failing exit of an owner loop (for { ... } or
// for x := range ch, a connection's reader) which abandons its state as a
// whole. When a helper inserted the entry under a key it made itself
// (send() registering a fresh sequence number), the caller can only be
// responsible when it stops waiting for that entry's reply: a timeout or
// cancellation case of a select that also waits on the entry's channel. A
// helper that inserts and fails leaves nothing in its caller.
//
// Rule 2, incomplete cleanup (category incomplete-cleanup). A function
// that releases m[k] (directly, or through a helper that always does when
// it succeeds) on every successful path is the entry's completer. A
// failing return of the completer that does not release the entry is
// reported at that return, naming where the other paths release it,
// unless the path keeps the entry on purpose (re-inserts it, or reads it
// and uses the value, as a streaming handler forwarding a partial
// response does), has found the entry absent (comma-ok lookup, nil
// check), or decided on the key itself (if id == "" { return }, if s ==
// nil { return }). A function that releases the entry on one case of a
// dispatch only, or only on a timeout or cancellation branch (a waiter
// giving up), or only after inserting it itself, is not a completer.
//
//	stanzas[queryID] is not deleted when returning here (error path); on other paths it is released by sendMessagesBackIntoPipeline at history.go:52
//
// Rule 3, never removed (category never-removed). Inserts under an
// ID-like key into an unexported map named like per-request state (a
// field or package variable) that nothing in the package ever removes
// from, directly or through helpers, are reported at each insert:
//
//	entries of inflight are never deleted; it grows with every request
//
// An exported map, or one whose value is passed where mapleak cannot
// follow it, may be cleaned elsewhere and is not reported.
//
// Directives. //mapleak:track on a map's declaration tracks it whatever
// its name and key. //mapleak:ignore <reason> suppresses findings: on a
// map's declaration (an intentional cache), on a function's doc comment
// (all findings in it), or on the reported line (or the line just above
// it). The reason is required; a directive without one is reported. With
// -report-stale-ignores, ignore directives that suppress nothing are
// reported.
//
// Suggested fixes. For rules 1 and 2 mapleak offers delete(m, k) (or
// m.Delete(k)) before the leaking return, spelled like the existing
// insert or delete, when those expressions mean the same at the return
// and the fix cannot introduce a data race: if the map is guarded by a
// mutex, the fix takes the same lock (or relies on it being held), and
// when that cannot be decided no fix is offered.
//
// Flags: -keys and -maps (regular expressions), -track-all, -cleanup,
// -report-stale-ignores. They are spelled the same in the standalone
// command, under go vet -vettool, and as golangci-lint settings.
//
// Debugging: MAPLEAK_DEBUG=summaries prints every function summary (also
// exported as facts); MAPLEAK_DEBUG=ops:NAME prints the map operations of
// the functions whose name contains NAME.
package analyzer
