package handoff

import "sync"

// A goroutine that empties the whole map on some later event (a
// reconnect), or releases entries under keys the caller cannot name, is
// not a hand-off of one entry: it does not know the key and runs only if
// that event comes.

type future struct{ id string }

type Publisher struct {
	mu         sync.Mutex
	prefix     string
	futures    map[string]*future
	reconnects chan struct{}
	onMsg      func(*reply)
}

type reply struct{ id string }

// onReply completes the entry a reply names.
func (p *Publisher) onReply(r *reply) {
	p.mu.Lock()
	delete(p.futures, r.id)
	p.mu.Unlock()
}

func (p *Publisher) subscribe(h func(*reply)) { p.onMsg = h }

// inbox subscribes the reply handler the first time: the handler releases
// entries under keys only replies carry, not this one.
func (p *Publisher) inbox() string {
	if p.prefix == "" {
		p.prefix = "_INBOX."
		p.subscribe(p.onReply)
	}
	return p.prefix
}

// Subscribing the reply handler before the insert does not hand the
// entry off either.
func (p *Publisher) publishAsync(id string) error {
	prefix := p.inbox()
	p.mu.Lock()
	p.futures[id] = &future{id: id} // want `futures\[id\] is not deleted when returning at reconnect\.go:\d+ \(error path\)`
	p.mu.Unlock()
	return p.write(prefix, id)
}

func (p *Publisher) resetOnReconnect() {
	for {
		if _, ok := <-p.reconnects; !ok {
			return
		}
		p.mu.Lock()
		clear(p.futures)
		p.mu.Unlock()
	}
}

// replyPrefix starts the reconnect watcher the first time.
func (p *Publisher) replyPrefix() string {
	if p.prefix == "" {
		p.prefix = "_INBOX."
		go p.resetOnReconnect()
	}
	return p.prefix
}

func (p *Publisher) write(prefix, id string) error { return nil }

func (p *Publisher) ack(id string) {
	p.mu.Lock()
	delete(p.futures, id)
	p.mu.Unlock()
}

// The watcher started before the insert does not cover it.
func (p *Publisher) publish(id string) error {
	prefix := p.replyPrefix()
	p.mu.Lock()
	p.futures[id] = &future{id: id} // want `futures\[id\] is not deleted when returning at reconnect\.go:\d+ \(error path\)`
	p.mu.Unlock()
	if err := p.write(prefix, id); err != nil {
		return err
	}
	return nil
}

// Nor does one started after it.
func (p *Publisher) publishThenWatch(id string) error {
	p.mu.Lock()
	p.futures[id] = &future{id: id} // want `futures\[id\] is not deleted when returning at reconnect\.go:\d+ \(error path\)`
	p.mu.Unlock()
	go p.resetOnReconnect()
	return p.write(p.prefix, id)
}
