package analyzer_test

import (
	"syscall"
	"time"
)

// threadCPUTime returns the CPU time (user and system) the calling thread
// has used.
func threadCPUTime() time.Duration { return rusage(syscall.RUSAGE_THREAD) }

// processCPUTime returns the CPU time (user and system) all the threads of
// the process have used, the garbage collector's included.
func processCPUTime() time.Duration { return rusage(syscall.RUSAGE_SELF) }

func rusage(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
