package historysync

import (
	"fmt"
	"math"
	"strings"
	"time"

	"mellium.im/xmpp/stanza"
)

// Message is one archived message as the Syncer stores it.
type Message struct {
	// ArchiveID is the id the archive gave the message (the <result id/> of
	// XEP-0313, equal to the XEP-0359 stanza-id by the archive). It is the
	// dedupe key.
	ArchiveID string
	// Pos is the message's ordering key in its archive: messages sorted by Pos
	// are in archive order, including messages stamped in the same second and
	// messages fetched by backwards gap fills. See the package documentation
	// for how positions are assigned.
	Pos int64
	// Time is the archive's timestamp (the XEP-0203 delay stamp of the
	// result). For a message observed live it is the local receive time.
	Time time.Time
	// From, To, Type and ID are the archived stanza's attributes, as sent.
	From, To string
	Type     stanza.MessageType
	ID       string
	// OriginID is the XEP-0359 origin-id set by the sending client, if any.
	OriginID string
	// Body is the text of the first <body/> element, if any.
	Body string
	// Raw is the archived <message/> element as XML (re-encoded, so namespace
	// declarations may differ from the wire form). It is nil when the Syncer
	// runs WithoutRawXML or when the payload was omitted.
	Raw []byte
	// Omitted is set when the archive sent a result the Syncer could identify
	// but not keep (too large or malformed): the message is stored without its
	// payload so that the range stays exact, and Omitted says why.
	Omitted DropReason
	// Live is true for a message observed live (ObserveLive or the live
	// handler) rather than fetched from the archive.
	Live bool
	// Aliases are the other archive ids of the same message, set by stores on
	// read: Prosody archives a message an account sends to itself twice, and
	// both copies map to one message when they share an origin-id.
	Aliases []string
}

// Identity returns the key under which stores merge archived copies of one
// message: the archive, the sender (bare JID for the account archive, the
// occupant JID for rooms) and the XEP-0359 origin-id. It is empty when the
// message has no origin-id: such messages are only deduplicated by archive
// id.
func Identity(a Archive, m *Message) string {
	id, ok := identityOf(a, m)
	if !ok {
		return ""
	}
	return id.sender + "\x00" + id.originID
}

// identity is what Identity makes a string of; stores can key maps with it
// without allocating.
type identity struct{ sender, originID string }

// identityOf returns m's identity in a, and false when m has none (no
// origin-id).
func identityOf(a Archive, m *Message) (identity, bool) {
	if m.OriginID == "" {
		return identity{}, false
	}
	sender := m.From
	if a.Kind == AccountArchive {
		if i := strings.IndexByte(sender, '/'); i >= 0 {
			sender = sender[:i]
		}
	}
	return identity{sender: sender, originID: m.OriginID}, true
}

// Position space. A range created without a stored neighbour starts at
// FirstPos; a new range newer than every stored range (a gap appeared) starts
// PosStride above the newest range's end, leaving room for a backwards gap
// fill of up to PosStride-1 messages between them. Back-fills extend the
// oldest range downwards towards MinPos.
const (
	// FirstPos is the position of the newest message of the first page
	// fetched for an archive.
	FirstPos int64 = 0
	// PosStride is the distance between the end of the newest range and the
	// start of a new, disjoint newer range.
	PosStride int64 = 1 << 32
	// MinPos and MaxPos bound positions; queries use them as open bounds.
	MinPos int64 = math.MinInt64
	MaxPos int64 = math.MaxInt64
)

// Range is a span of an archive known to be stored locally without holes,
// Dino's mam_catchup row with positions added.
type Range struct {
	// FromID, FromTime and FromPos describe the oldest stored message of the
	// span.
	FromID   string
	FromTime time.Time
	FromPos  int64
	// FromEnd is true when the span reaches the start of the archive.
	FromEnd bool
	// ToID, ToTime and ToPos describe the newest stored message of the span.
	ToID   string
	ToTime time.Time
	ToPos  int64
}

// String formats the range for logs and test failures.
func (r Range) String() string {
	end := ""
	if r.FromEnd {
		end = " (archive start)"
	}
	return fmt.Sprintf("[%s@%d %s .. %s@%d %s]%s", r.FromID, r.FromPos, r.FromTime.UTC().Format(time.RFC3339), r.ToID, r.ToPos, r.ToTime.UTC().Format(time.RFC3339), end)
}

// validateRanges checks that ranges are well formed, ordered oldest first and
// disjoint.
func validateRanges(rs []Range) error {
	for i, r := range rs {
		if r.FromID == "" || r.ToID == "" {
			return fmt.Errorf("range %d %v: empty id", i, r)
		}
		if r.FromPos > r.ToPos {
			return fmt.Errorf("range %d %v: from position above to position", i, r)
		}
		if i > 0 {
			if rs[i-1].ToPos >= r.FromPos {
				return fmt.Errorf("ranges %d and %d overlap or are out of order: %v, %v", i-1, i, rs[i-1], r)
			}
			if r.FromEnd {
				return fmt.Errorf("range %d %v: only the oldest range can reach the archive start", i, r)
			}
		}
	}
	return nil
}
