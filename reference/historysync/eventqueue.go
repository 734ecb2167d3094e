package historysync

import (
	"context"
	"sync"
)

// eventQueue delivers events to the WithEvents callback: in order, one at a
// time, on its own goroutine, without ever blocking the code that emits
// them. It also lets a run wait until the events it queued were delivered
// (flush), and lets Close stop delivery from any goroutine, the callback's
// included (stop): the callback is user code that may call back into the
// Syncer, so nothing here waits for a callback that may be waiting for the
// waiter.
type eventQueue struct {
	// deliver calls the callback (with panics contained).
	deliver func(Event)
	ch      chan Event
	stopped chan struct{} // closed by stop
	done    chan struct{} // closed when the delivery goroutine returned

	mu sync.Mutex
	// queued counts the events put into ch and handled those taken out of
	// it and delivered: ch is FIFO, so every event queued before a moment
	// when queued was n is delivered once handled reaches n.
	queued, handled uint64
	// started counts the callbacks started; running is set while one runs.
	started uint64
	running bool
	stop    bool // no callback starts any more
	waiters []eventWaiter
}

// eventWaiter is a flush waiting for handled to reach target.
type eventWaiter struct {
	target uint64
	ready  chan struct{}
}

// callbackMark identifies the callback running at some moment; zero if none
// was running.
type callbackMark uint64

// newEventQueue starts the delivery goroutine of a queue of size events.
func newEventQueue(size int, deliver func(Event)) *eventQueue {
	q := &eventQueue{deliver: deliver, ch: make(chan Event, size), stopped: make(chan struct{}), done: make(chan struct{})}
	go q.run()
	return q
}

// run delivers events until stop.
func (q *eventQueue) run() {
	defer close(q.done)
	defer func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		q.stop = true
		q.releaseLocked(true)
	}()
	for {
		select {
		case ev := <-q.ch:
			q.mu.Lock()
			if q.stop {
				q.mu.Unlock()
				return
			}
			q.running = true
			q.started++
			q.mu.Unlock()
			q.deliver(ev)
			q.mu.Lock()
			q.running = false
			q.handled++
			q.releaseLocked(false)
			q.mu.Unlock()
		case <-q.stopped:
			return
		}
	}
}

// releaseLocked wakes the flushes whose events were delivered, or all of
// them.
func (q *eventQueue) releaseLocked(all bool) {
	kept := q.waiters[:0]
	for _, w := range q.waiters {
		if all || w.target <= q.handled {
			close(w.ready)
		} else {
			kept = append(kept, w)
		}
	}
	clear(q.waiters[len(kept):])
	q.waiters = kept
}

// put queues ev unless the queue is full (it reports false: the event is
// dropped) or stopped (the event is discarded). It never blocks.
func (q *eventQueue) put(ev Event) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stop {
		return true
	}
	select {
	case q.ch <- ev:
		q.queued++
		return true
	default:
		return false
	}
}

// mark returns the callback running now (zero if none), for flush.
func (q *eventQueue) mark() callbackMark {
	if q == nil {
		return 0
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.running {
		return callbackMark(q.started)
	}
	return 0
}

// flush waits until every event queued so far was delivered, or ctx ends, or
// the queue stops. It does not wait when the callback m, running when the
// caller started, still runs: the caller may be that callback (a run started
// from the callback), which cannot return before the caller does.
func (q *eventQueue) flush(ctx context.Context, m callbackMark) {
	if q == nil {
		return
	}
	q.mu.Lock()
	if q.stop || q.handled >= q.queued || m != 0 && q.running && callbackMark(q.started) == m {
		q.mu.Unlock()
		return
	}
	w := eventWaiter{target: q.queued, ready: make(chan struct{})}
	q.waiters = append(q.waiters, w)
	q.mu.Unlock()
	select {
	case <-w.ready:
	case <-ctx.Done():
	}
}

// close stops delivery: no callback starts after it returns, the events
// still queued are dropped and flushes return. It waits for the delivery
// goroutine to end unless a callback is running (which may be the caller).
func (q *eventQueue) close() {
	if q == nil {
		return
	}
	q.mu.Lock()
	if q.stop {
		q.mu.Unlock()
		return
	}
	q.stop = true
	wait := !q.running
	close(q.stopped)
	q.releaseLocked(true)
	q.mu.Unlock()
	if wait {
		<-q.done
	}
}
