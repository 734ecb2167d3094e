package historysync_test

import (
	"testing"

	"github.com/mapleak/mapleak/reference/historysync"
	"github.com/mapleak/mapleak/reference/historysync/storetest"
)

func TestMemStoreConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) historysync.Store { return historysync.NewMemStore() })
}
