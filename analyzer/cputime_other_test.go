//go:build !linux

package analyzer_test

import "time"

// CPU times are not measured outside Linux: the benchmarks then report
// wall-clock figures only.

func threadCPUTime() time.Duration  { return 0 }
func processCPUTime() time.Duration { return 0 }
