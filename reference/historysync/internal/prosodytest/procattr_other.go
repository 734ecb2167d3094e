//go:build !linux

package prosodytest

import "syscall"

// sysProcAttr returns nil: only Linux can tie Prosody's life to the test's.
func sysProcAttr() *syscall.SysProcAttr { return nil }
