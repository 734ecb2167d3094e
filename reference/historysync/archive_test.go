package historysync

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync/internal/fakeserver"
)

// TestAccountOfAnotherUser: the archive of another account is queried at
// that account's JID, never as the session's own archive: the server refuses
// (as Prosody does, service-unavailable) and nothing is stored under either
// key.
func TestAccountOfAnotherUser(t *testing.T) {
	e := newEnv(t, nil, fastRetry(1)) // service-unavailable is retried by default
	own := e.account()
	e.fill(own, 0, 20, stamps(base, 10))
	other := Account(jid.MustParse("nobody@example.net"))

	_, err := e.syncer.CatchUp(e.ctx, other)
	var se stanza.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, stanza.ServiceUnavailable, se.Condition)
	q := e.srv.Queries()
	require.Len(t, q, 1)
	assert.Equal(t, other.JID, q[0].To, "the query goes to the other account")
	assert.Empty(t, e.storedIDs(other))
	assert.Empty(t, e.ranges(other))
	assert.Empty(t, e.storedIDs(own))
	e.requireIdle()

	// The own account, named with or without a resource, is the session's
	// archive, queried without a to.
	withResource, err := e.srv.Account().WithResource("balcony")
	require.NoError(t, err)
	_, err = e.syncer.CatchUp(e.ctx, Account(withResource))
	require.NoError(t, err)
	e.requireInSync(own)
	assert.Equal(t, jid.JID{}, e.srv.Queries()[1].To)
}

// TestResultsOfAnotherAccountAuthenticated: results for another account's
// archive must come from that account: a result without from (which the
// session's own archive may send) is dropped as spoofed.
func TestResultsOfAnotherAccountAuthenticated(t *testing.T) {
	e := newEnv(t, nil)
	other := Account(jid.MustParse("nobody@elsewhere.example"))
	// A server that answers for another account (an admin's view of it).
	e.srv.Archive(other.JID).Append(fakeserver.Message{From: jid.MustParse("romeo@example.net/x"), To: other.JID, Body: "hi", Stamp: base})
	q := &query{id: "q", archive: other, from: other.JID, acceptZero: false}
	assert.False(t, q.acceptsFrom(jid.JID{}), "no from is the session's own account")
	assert.True(t, q.acceptsFrom(other.JID))
	rep, err := e.syncer.CatchUp(e.ctx, other)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Inserted)
	e.requireInSync(other)
}

// TestRoomAtTheAccountJIDRefused: a "room" at the session's own bare JID
// would be answered with the account's archive, stored under the room's key:
// it is refused before any query.
func TestRoomAtTheAccountJIDRefused(t *testing.T) {
	e := newEnv(t, nil)
	_, err := e.syncer.CatchUp(e.ctx, Room(e.srv.Account()))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a room")
	assert.Zero(t, e.srv.Stats().Queries)
}

// TestErrorNamesArchiveOnce: a failed archive's error names it once and the
// package once, also in CatchUpAll's joined error.
func TestErrorNamesArchiveOnce(t *testing.T) {
	e := newEnv(t, nil, fastRetry(1))
	a, r := e.account(), room("failing")
	e.fill(a, 0, 5, stamps(base, 10))
	e.fill(r, 0, 5, stamps(base, 10))
	e.faultAlways(fakeserver.Fault{ErrorCondition: stanza.Forbidden})
	reports, err := e.syncer.CatchUpAll(e.ctx, []Archive{a, r})
	require.Error(t, err)
	for _, rep := range reports {
		msg := rep.Err.Error()
		assert.Equal(t, 1, strings.Count(msg, rep.Archive.JID.String()), "%q names the archive once", msg)
		assert.Equal(t, 1, strings.Count(msg, "historysync:"), "%q names the package once", msg)
		assert.True(t, strings.HasPrefix(msg, fmt.Sprintf("historysync: sync %s: mam query ", rep.Archive)), "%q", msg)
	}
	joined := err.Error()
	assert.Equal(t, 2, strings.Count(joined, "historysync:"), "%q", joined)
	assert.Equal(t, 1, strings.Count(joined, r.JID.String()), "%q", joined)

	// Errors before any query, and after the session ended, too.
	_, err = e.syncer.LoadOlder(e.ctx, a, 0)
	assert.Equal(t, 1, strings.Count(err.Error(), "historysync:"), "%q", err)
	require.NoError(t, e.syncer.Close())
	_, err = e.syncer.CatchUp(e.ctx, a)
	require.ErrorIs(t, err, ErrClosed)
	assert.Equal(t, fmt.Sprintf("historysync: sync %s: syncer closed", a), err.Error())
}
