package historysync

import (
	"context"
	"encoding/xml"
	"slices"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

type liveHandler struct{ s *Syncer }

// HandleMessage implements mux.MessageHandler. It reads the message to its
// end inside the stall watch (see stallWatch), and only then stores it, so
// that a slow store never looks like a stalled stream.
func (h liveHandler) HandleMessage(msg stanza.Message, t xmlstream.TokenReadEncoder) error {
	s := h.s
	s.watch.enter(readingLive)
	st, m, act := s.readLive(msg, t)
	drain(t)
	s.watch.leave(readingLive)
	s.applyLive(st, m, act)
	return nil
}

// liveAction is what to do with a live message once it was read.
type liveAction uint8

const (
	liveIgnore liveAction = iota // not for an archive extended live
	liveExtend                   // store it and extend the archive's newest range
	liveDetach                   // a delayed message: stop extending the archive
)

// ObserveLive looks at a live message (r starts at the message's start
// token; msg is its header as parsed by mux) and, if it carries a XEP-0359
// stanza-id by an archive whose Policy has LiveExtend and whose newest page
// was fetched by a CatchUp on this session, stores it and extends that
// archive's newest range to it, so that the next CatchUp does not fetch it
// again. A message larger than BufferLimits.ResultBytes is stored without
// its payload (Message.Omitted), as CatchUp does. A message with a delay
// (room history, offline delivery) is not the archive's tail seen in order:
// it is not stored, and it detaches the archive (see Detach). It reports
// whether the message was stored.
//
// HandleLive does the same for every message with a stanza-id (and reads the
// message to its end first); call ObserveLive yourself only if you route such
// messages with your own handler. It runs synchronously and returns quickly
// when no archive accepts live extension. Its read of r is watched: if r
// stalls, the Syncer closes the session. Only the tokens read through r are
// watched, not what your mux read before calling your handler (see
// ErrStreamStalled).
func (s *Syncer) ObserveLive(msg stanza.Message, r xml.TokenReader) bool {
	s.watch.enter(readingLive)
	st, m, act := s.readLive(msg, r)
	s.watch.leave(readingLive)
	return s.applyLive(st, m, act)
}

// applyLive carries out what readLive decided, and reports whether the
// message was stored.
func (s *Syncer) applyLive(st *archiveState, m Message, act liveAction) bool {
	switch act {
	case liveExtend:
		return s.extendLive(st, m)
	case liveDetach:
		// Room history or an offline copy: the archive holds messages this
		// session did not see live in order, so its newest range must not
		// be extended over them.
		s.detach(st, "delayed message")
	}
	return false
}

// readLive reads a live message (r starts at its start token) and decides
// what to do with it. It only reads: it takes no lock that a commit holds.
func (s *Syncer) readLive(msg stanza.Message, r xml.TokenReader) (*archiveState, Message, liveAction) {
	if s.attached.Load() == 0 {
		return nil, Message{}, liveIgnore
	}
	tok, _ := r.Token()
	start, ok := tok.(xml.StartElement)
	if !ok || start.Name.Local != "message" {
		return nil, Message{}, liveIgnore
	}
	var res Result
	p := resultParser{r: r, opts: ParseOptions{MaxBytes: s.cfg.limits.ResultBytes, KeepRaw: s.cfg.keepRaw}, raw: &rawWriter{}}
	if err := p.message(start, &res); err != nil {
		return nil, Message{}, liveIgnore
	}
	m := res.Message
	for _, sid := range res.StanzaIDs {
		if sid.ID == "" {
			continue
		}
		by, err := jid.Parse(sid.By)
		if err != nil {
			continue
		}
		var a Archive
		switch {
		case msg.Type == stanza.GroupChatMessage && msg.From.Bare().Equal(by):
			a = Room(by)
		case msg.Type != stanza.GroupChatMessage && by.Equal(s.account):
			a = Account(by)
		default:
			continue
		}
		st := s.existingArchive(a)
		if st == nil {
			continue
		}
		if p.sawDelay {
			return st, Message{}, liveDetach
		}
		m.ArchiveID = sid.ID
		if p.tooLarge {
			m.Omitted = DropOversized
			s.dropped(DropOversized, "", a)
		}
		return st, m, liveExtend
	}
	return nil, Message{}, liveIgnore
}

// Detach stops live extension of archive a until a CatchUp on this session
// reaches the archive's newest message again; live messages are then left to
// that CatchUp. Call it when the session stops receiving the archive's
// messages live, for example when the client leaves a room: messages the
// room receives while the client is away are never delivered to it, and a
// live message after a rejoin must not extend the stored range over them.
// (A new session starts detached; the Syncer detaches by itself on a delayed
// message and when a live message cannot be stored.)
func (s *Syncer) Detach(a Archive) {
	if st := s.existingArchive(a); st != nil {
		s.detach(st, "Detach")
	}
}

// detach stops live extension of st.
func (s *Syncer) detach(st *archiveState, reason string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s.detachLocked(st, reason)
}

// detachLocked is detach with st.mu held.
func (s *Syncer) detachLocked(st *archiveState, reason string) {
	if !st.attached {
		return
	}
	st.attached = false
	s.attached.Add(-1)
	s.cfg.logger.Debug("historysync: live extension stopped until the next catch-up", "archive", st.archive.String(), "reason", reason)
}

// extendLive appends m to the newest range of st if it is attached.
func (s *Syncer) extendLive(st *archiveState, m Message) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.attached || len(st.ranges) == 0 {
		return false
	}
	ranges := slices.Clone(st.ranges)
	newest := &ranges[len(ranges)-1]
	if newest.ToID == m.ArchiveID {
		return false
	}
	m.Pos = newest.ToPos + 1
	m.Time = s.cfg.clock.Now().UTC()
	m.Live = true
	if m.Time.Before(newest.ToTime) {
		m.Time = newest.ToTime
	}
	newest.ToID, newest.ToTime, newest.ToPos = m.ArchiveID, m.Time, m.Pos
	ctx, cancel := withTimeout(s.ctx, s.cfg.clock, s.cfg.pageTimeout, ErrPageTimeout)
	defer cancel()
	res, err := s.safeCommit(ctx, st.archive, Commit{Messages: []Message{m}, Ranges: ranges})
	if err != nil {
		// The range can no longer be trusted to follow the archive: stop
		// extending it; the next CatchUp reconciles.
		s.cfg.logger.Warn("historysync: live message not stored", "archive", st.archive.String(), "id", m.ArchiveID, "err", err)
		s.detachLocked(st, "store error")
		return false
	}
	st.ranges = ranges
	s.stats.live.Add(1)
	s.stats.inserted.Add(uint64(res.Inserted))
	s.stats.duplicates.Add(uint64(res.Duplicates))
	s.emit(Event{Kind: EventLiveExtended, Archive: st.archive, Messages: 1, Inserted: res.Inserted, Duplicates: res.Duplicates})
	return true
}

// safeCommit calls Store.Commit, turning a panic into ErrStorePanic.
func (s *Syncer) safeCommit(ctx context.Context, a Archive, c Commit) (res CommitResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.cfg.logger.Error("historysync: store panicked", "panic", r)
			err = ErrStorePanic
		}
	}()
	return s.store.Commit(ctx, a, c)
}
