//go:build !unix

package prosodytest

import "testing"

// Freeze stops the Prosody process; only on Unix, elsewhere it skips the
// test.
func (s *Server) Freeze(t testing.TB) { t.Skip("prosodytest: Freeze needs Unix signals") }

// Thaw resumes a frozen Prosody process; only on Unix.
func (s *Server) Thaw(t testing.TB) { t.Skip("prosodytest: Thaw needs Unix signals") }
