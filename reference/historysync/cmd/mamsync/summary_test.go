package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mellium.im/xmpp/jid"

	"github.com/mapleak/mapleak/reference/historysync"
)

func TestPrintSummary(t *testing.T) {
	reports := []historysync.Report{
		{Archive: historysync.Account(jid.MustParse("alice@example.net")), Pages: 3, Messages: 136, Inserted: 133, Duplicates: 3, Complete: true},
		{Archive: historysync.Room(jid.MustParse("coven@conference.example.net")), Pages: 1, Messages: 20, Inserted: 20, Gaps: 1, Err: errors.New("page timed out")},
		{Archive: historysync.Room(jid.MustParse("dev@conference.example.net")), Pages: 2, Messages: 100, Inserted: 100, Err: fmt.Errorf("mam query q to room:dev@conference.example.net: %w", context.Canceled)},
	}
	var out bytes.Buffer
	require.NoError(t, printSummary(&out, reports))
	assert.Equal(t, `ARCHIVE                            PAGES  MESSAGES  NEW  DUPLICATES  GAPS  COMPLETE  RESULT
account:alice@example.net          3      136       133  3           0     yes       ok
room:coven@conference.example.net  1      20        20   0           1     no        failed: page timed out
room:dev@conference.example.net    2      100       100  0           0     no        interrupted
total                              6      256       253  3
`, out.String())
}

func TestFailuresOf(t *testing.T) {
	ok := historysync.Report{Archive: historysync.Account(jid.MustParse("alice@example.net"))}
	bad := historysync.Report{Archive: historysync.Room(jid.MustParse("coven@conference.example.net")), Err: errors.New("forbidden")}
	require.NoError(t, failuresOf([]historysync.Report{ok, ok}))
	err := failuresOf([]historysync.Report{ok, bad})
	var failed archiveFailures
	require.ErrorAs(t, err, &failed)
	assert.Equal(t, archiveFailures{bad}, failed)
	assert.EqualError(t, err, "1 archive of the run failed")
}
