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
		return fmt.Errorf("archive %q: unknown kind %d", a.JID.String(), a.Kind)
	}
	if a.JID.Domainpart() == "" {
		return fmt.Errorf("archive of kind %s has an empty JID", a.Kind)
	}
	if a.JID.Resourcepart() != "" {
		return fmt.Errorf("archive %s: JID must be bare", a.JID.String())
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

// Policy is the synchronisation policy for one kind of archive. Its zero
// fields stand for the kind's defaults (DefaultPolicy): WithPolicy changes
// only the fields that are set.
type Policy struct {
	// FirstSync says how far back the first synchronisation goes, and with it
	// how far back later runs back-fill.
	FirstSync FirstSync
	// Since is the history depth for FirstSyncSince (for example 5 days).
	Since time.Duration
	// MaxMessages caps the number of archive results one CatchUp run fetches
	// for gap filling and back-filling (the newest messages are always
	// fetched). Progress is committed page by page, so the next run continues
	// where this one stopped. Unlimited means no cap.
	MaxMessages int
	// LiveExtend (On or Off) says whether live messages carrying a stanza-id
	// by this archive extend the newest stored range once a CatchUp on this
	// session reached the archive's end. It is sound when every message the
	// archive stores is also delivered to this session in archive order: true
	// for a room while the client is joined (the room reflects every message,
	// including our own, with its stanza-id; call Syncer.Detach when leaving
	// it), false for the account archive (messages this client sends and
	// carbons of other clients are archived without being seen here with their
	// stanza-id).
	LiveExtend Switch
}

// Unlimited is the Policy.MaxMessages of no cap.
const Unlimited = -1

// Switch is an on/off setting whose zero value keeps the default.
type Switch uint8

const (
	// On turns the setting on.
	On Switch = iota + 1
	// Off turns the setting off.
	Off
)

// String returns "on", "off" or "default".
func (s Switch) String() string {
	switch s {
	case 0:
		return "default"
	case On:
		return "on"
	case Off:
		return "off"
	default:
		return fmt.Sprintf("switch(%d)", uint8(s))
	}
}

// DefaultPolicy returns the policy of archives of kind k unless WithPolicy
// changes it. Both kinds are kept complete, down to the start of the
// archive: the account archive in one run, without cap and without live
// extension; a room 1000 gap-fill and back-fill results per run (the newest
// messages come first, a large room's history over several runs; see
// Report.Complete), with live extension.
func DefaultPolicy(k Kind) Policy {
	if k == RoomArchive {
		return Policy{FirstSync: FirstSyncAll, MaxMessages: 1000, LiveExtend: On}
	}
	return Policy{FirstSync: FirstSyncAll, MaxMessages: Unlimited, LiveExtend: Off}
}

// merge returns p with the set fields of over.
func (p Policy) merge(over Policy) Policy {
	if over.FirstSync != 0 {
		p.FirstSync = over.FirstSync
	}
	if over.Since != 0 {
		p.Since = over.Since
	}
	if over.MaxMessages != 0 {
		p.MaxMessages = over.MaxMessages
	}
	if over.LiveExtend != 0 {
		p.LiveExtend = over.LiveExtend
	}
	return p
}

// check reports a field set to a value out of range.
func (p Policy) check() error {
	switch {
	case p.FirstSync > FirstSyncAll:
		return fmt.Errorf("unknown FirstSync %d", p.FirstSync)
	case p.Since < 0:
		return fmt.Errorf("negative Since %v", p.Since)
	case p.MaxMessages < Unlimited:
		return fmt.Errorf("MaxMessages %d (use Unlimited for no cap)", p.MaxMessages)
	case p.LiveExtend > Off:
		return fmt.Errorf("unknown LiveExtend %d", p.LiveExtend)
	}
	return nil
}

// validate reports whether a merged policy is complete and consistent.
func (p Policy) validate() error {
	if err := p.check(); err != nil {
		return err
	}
	if p.FirstSync == FirstSyncSince && p.Since <= 0 {
		return fmt.Errorf("FirstSync %s needs a positive Since", p.FirstSync)
	}
	return nil
}

// budget is the run's result budget: negative for no cap.
func (p Policy) budget() int {
	if p.MaxMessages > 0 {
		return p.MaxMessages
	}
	return -1
}
