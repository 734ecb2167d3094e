package historysync_test

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mapleak/mapleak/reference/historysync"
)

// costCycles is the number of incremental catch-ups TestProsodyIncrementalCost
// measures: HISTORYSYNC_COST_CYCLES, or 300 (30 with -short).
func costCycles(t *testing.T) int {
	if v := os.Getenv("HISTORYSYNC_COST_CYCLES"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "HISTORYSYNC_COST_CYCLES")
		return n
	}
	if testing.Short() {
		return 30
	}
	return 300
}

// TestProsodyIncrementalCost measures what an incremental catch-up costs
// against a real Prosody: over many cycles, each adding a few messages (none
// in some cycles, three pages' worth in a few) to the account archive and to
// a room, it counts the results fetched and the queries sent per new message.
// A catch-up must fetch what is new, not the archive's recent past again:
// at most 1.2 results per new message overall, and one empty page per archive
// in a cycle that adds nothing. docs/performance.md reports the figures.
func TestProsodyIncrementalCost(t *testing.T) {
	cycles := costCycles(t)
	e := newProsodyEnv(t, 10*time.Minute)
	ctx := e.ctx
	archives := []historysync.Archive{historysync.Account(e.alice), historysync.Room(e.coven)}

	e.seed("initial", 130, 120)
	e.startClient()
	defer e.stopClient()
	_, err := e.syncer.CatchUpAll(ctx, archives)
	require.NoError(t, err)

	var newMessages, fetched, queries, quietCycles, quietQueries, quietFetched int
	start := time.Now()
	for cycle := range cycles {
		chats, groupchats := 5*(cycle%4), 5*(cycle%3)
		if cycle%50 == 49 {
			chats = 140 // more than two pages: the newest page cannot reach the stored tail
		}
		if chats+groupchats > 0 {
			e.seed("cycle "+strconv.Itoa(cycle), chats, groupchats)
		}
		before := e.syncer.Stats()
		reports, err := e.syncer.CatchUpAll(ctx, archives)
		require.NoError(t, err, "cycle %d", cycle)
		after := e.syncer.Stats()
		f, q := int(after.Messages-before.Messages), int(after.Queries-before.Queries)
		require.Equal(t, chats, reports[0].Inserted, "cycle %d: new messages of the account", cycle)
		require.Equal(t, groupchats, reports[1].Inserted, "cycle %d: new messages of the room", cycle)
		newMessages += chats + groupchats
		fetched += f
		queries += q
		if chats+groupchats == 0 {
			quietCycles++
			quietQueries += q
			quietFetched += f
		}
	}
	elapsed := time.Since(start)
	e.requireExactlyOnce(historysync.Account(e.alice))
	e.requireExactlyOnce(historysync.Room(e.coven))
	e.requireIdle()

	perNew := float64(fetched) / float64(newMessages)
	t.Logf("%d cycles in %v: %d new messages, %d results fetched (%.3f per new message), %d queries (%.2f per cycle); "+
		"%d cycles without new messages: %d queries, %d results",
		cycles, elapsed.Round(time.Millisecond), newMessages, fetched, perNew, queries, float64(queries)/float64(cycles),
		quietCycles, quietQueries, quietFetched)
	assert.LessOrEqual(t, perNew, 1.2, "results fetched per new message")
	assert.Equal(t, len(archives)*quietCycles, quietQueries, "one empty page per archive when nothing is new")
	assert.Zero(t, quietFetched, "no result fetched when nothing is new")
}
