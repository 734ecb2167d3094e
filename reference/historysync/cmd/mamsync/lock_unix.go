//go:build unix

package main

import (
	"errors"
	"os"
	"syscall"
)

// lockFile creates (if needed) and locks the file at path for this process
// (flock, exclusive, without waiting). Closing the file releases the lock,
// as does the end of the process, however it ends.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errInUse
		}
		return nil, err
	}
	return f, nil
}
