//go:build unix

package prosodytest

import (
	"syscall"
	"testing"
)

// Freeze stops the Prosody process (SIGSTOP), as a server that hangs: its
// connections stay open and the kernel still accepts what clients write
// (until the socket buffers fill), but nothing is read or answered. Thaw
// resumes it; a frozen server is thawed before it is stopped at the end of
// the test.
func (s *Server) Freeze(t testing.TB) {
	t.Helper()
	s.signal(t, syscall.SIGSTOP)
	t.Cleanup(func() { s.signal(t, syscall.SIGCONT) })
}

// Thaw resumes a frozen Prosody process (SIGCONT).
func (s *Server) Thaw(t testing.TB) {
	t.Helper()
	s.signal(t, syscall.SIGCONT)
}

// signal sends sig to the running process.
func (s *Server) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	s.mu.Lock()
	proc := s.proc
	s.mu.Unlock()
	if proc == nil {
		return
	}
	if err := proc.cmd.Process.Signal(sig); err != nil {
		t.Errorf("prosodytest: signal %v: %v", sig, err)
	}
}
