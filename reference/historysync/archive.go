package historysync

import (
	"fmt"
	"time"

	"mellium.im/xmpp/jid"
)

// Kind tells which sort of archive an [Archive] is. The kind selects the
// default [Policy] and how results and live messages are authenticated.
type Kind uint8

const (
	// AccountArchive is the account's own archive (the user archive of
	// XEP-0313): queries are sent without a to address and results come from
	// the account's bare JID (or carry no from at all).
	AccountArchive Kind = iota + 1
	// RoomArchive is a multi-user chat room's archive: queries are sent to the
	// room's bare JID and results must come from it.
	RoomArchive
)

// String returns "account" or "room".
func (k Kind) String() string {
	switch k {
	case AccountArchive:
		return "account"
	case RoomArchive:
		return "room"
	default:
		return fmt.Sprintf("kind(%d)", uint8(k))
	}
}

// Archive identifies one message archive: a bare JID and its kind.
type Archive struct {
	// JID is the archive's bare JID: the account's bare JID for the account
	// archive, the room's bare JID for a room.
	JID jid.JID
	// Kind is AccountArchive or RoomArchive.
	Kind Kind
}

// Account returns the account archive of the bare JID j (the resource, if
// any, is dropped).
func Account(j jid.JID) Archive { return Archive{JID: j.Bare(), Kind: AccountArchive} }

// Room returns the archive of the MUC room j (the resource, if any, is
// dropped).
func Room(j jid.JID) Archive { return Archive{JID: j.Bare(), Kind: RoomArchive} }

// String returns a stable key for the archive, "account:alice@example.net" or
// "room:room@conference.example.net". Stores use it as the archive's key.
func (a Archive) String() string { return a.Kind.String() + ":" + a.JID.Bare().String() }

// validate reports whether the archive can be synchronised.
func (a Archive) validate() error {
	if a.Kind != AccountArchive && a.Kind != RoomArchive {
		return fmt.Errorf("historysync: archive %q: unknown kind %d", a.JID.String(), a.Kind)
	}
	if a.JID.Domainpart() == "" {
		return fmt.Errorf("historysync: archive of kind %s has an empty JID", a.Kind)
	}
	if a.JID.Resourcepart() != "" {
		return fmt.Errorf("historysync: archive %s: JID must be bare", a.JID.String())
	}
	return nil
}

// FirstSync says how much history the first synchronisation of an archive
// fetches, when nothing of it is stored yet.
type FirstSync uint8

const (
	// FirstSyncLatest fetches only the newest page (Dino's behaviour for a
	// room joined for the first time). Later runs fill gaps between what is
	// stored but do not back-fill older history; use LoadOlder to scroll back.
	FirstSyncLatest FirstSync = iota + 1
	// FirstSyncSince fetches everything newer than Policy.Since and keeps
	// back-filling down to that moving bound on later runs.
	FirstSyncSince
	// FirstSyncAll fetches the whole archive, newest first, down to its start.
	FirstSyncAll
)

// String returns "latest", "since" or "all".
func (f FirstSync) String() string {
	switch f {
	case FirstSyncLatest:
		return "latest"
	case FirstSyncSince:
		return "since"
	case FirstSyncAll:
		return "all"
	default:
		return fmt.Sprintf("firstsync(%d)", uint8(f))
	}
}

// Policy is the synchronisation policy for one kind of archive.
type Policy struct {
	// FirstSync says how far back the first synchronisation goes, and with it
	// how far back later runs back-fill.
	FirstSync FirstSync
	// Since is the history depth for FirstSyncSince (for example 5 days).
	Since time.Duration
	// MaxMessages caps the number of archive results one CatchUp run fetches
	// for gap filling and back-filling (the newest page is always fetched).
	// Progress is committed page by page, so the next run continues where
	// this one stopped. Zero means no cap.
	MaxMessages int
	// LiveExtend lets live messages carrying a stanza-id by this archive
	// extend the newest stored range once a CatchUp on this session reached
	// the archive's end. It is sound when every message the archive stores is
	// also delivered to this session in archive order: true for a room while
	// the client is joined (the room reflects every message, including our
	// own, with its stanza-id; call Syncer.Detach when leaving it), false for
	// the account archive (messages this client sends and carbons of other
	// clients are archived without being seen here with their stanza-id).
	LiveExtend bool
}

// DefaultPolicy returns the policy used for archives of kind k unless
// WithPolicy says otherwise. For the account archive: fetch everything, no
// cap, no live extension. For rooms: the latest page on first join, at most
// 1000 gap-fill and back-fill results per run, live extension on.
func DefaultPolicy(k Kind) Policy {
	if k == RoomArchive {
		return Policy{FirstSync: FirstSyncLatest, MaxMessages: 1000, LiveExtend: true}
	}
	return Policy{FirstSync: FirstSyncAll}
}

func (p Policy) validate() error {
	switch p.FirstSync {
	case FirstSyncLatest, FirstSyncAll:
	case FirstSyncSince:
		if p.Since <= 0 {
			return fmt.Errorf("historysync: policy %s needs a positive Since, got %v", p.FirstSync, p.Since)
		}
	default:
		return fmt.Errorf("historysync: unknown first-sync policy %d", p.FirstSync)
	}
	if p.MaxMessages < 0 {
		return fmt.Errorf("historysync: negative MaxMessages %d", p.MaxMessages)
	}
	return nil
}
