package prosodytest

import "syscall"

// sysProcAttr makes the kernel send SIGTERM to Prosody when the test process
// dies without running its cleanups (a panic, a timeout, a kill), so that no
// server outlives the test binary.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
