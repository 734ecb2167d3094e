//go:build !unix && !windows

package main

import (
	"fmt"
	"os"
	"runtime"
)

// lockFile fails: this platform has no file locks that mamsync knows, and
// syncing without one could let two runs write the same archives.
func lockFile(path string) (*os.File, error) {
	return nil, fmt.Errorf("cannot lock %s: file locks are not supported on %s", path, runtime.GOOS)
}
