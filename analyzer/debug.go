package analyzer

import (
	"os"
	"strings"
)

// debugOps prints the operations of the functions whose name contains it
// (MAPLEAK_DEBUG=ops:name).
var debugOps = func() string {
	if d, ok := strings.CutPrefix(os.Getenv("MAPLEAK_DEBUG"), "ops:"); ok {
		return d
	}
	return ""
}()

// debugSummaries prints every summary (MAPLEAK_DEBUG=summaries).
var debugSummaries = os.Getenv("MAPLEAK_DEBUG") == "summaries"
