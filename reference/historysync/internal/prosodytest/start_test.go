package prosodytest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mellium.im/sasl"

	"github.com/mapleak/mapleak/reference/historysync/internal/prosodytest"
)

// recordingTB intercepts Skip and Fatal so that Start's decision can be
// checked without ending the real test.
type recordingTB struct {
	testing.TB
	mu      sync.Mutex
	skipped string
	fatal   string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Skipf(format string, args ...any) {
	r.mu.Lock()
	r.skipped = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.fatal = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

// startRecorded runs Start with a recordingTB and returns what it reported.
func startRecorded(t *testing.T) (skipped, fatal string) {
	r := &recordingTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		prosodytest.Start(r)
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.skipped, r.fatal
}

func TestStartWithoutProsody(t *testing.T) {
	for _, how := range []struct {
		name string
		env  map[string]string
	}{
		{"disabled", map[string]string{prosodytest.EnvDisable: "1"}},
		{"not in PATH", map[string]string{"PATH": t.TempDir()}},
	} {
		t.Run(how.name, func(t *testing.T) {
			for k, v := range how.env {
				t.Setenv(k, v)
			}
			t.Setenv("CI", "")
			skipped, fatal := startRecorded(t)
			assert.Empty(t, fatal)
			assert.True(t, strings.HasPrefix(skipped, prosodytest.InstallHint), "skip message %q", skipped)

			t.Setenv("CI", "true")
			skipped, fatal = startRecorded(t)
			assert.Empty(t, skipped, "CI must not skip")
			assert.Contains(t, fatal, prosodytest.InstallHint)
			assert.Contains(t, fatal, "CI=true")
		})
	}
}

func TestStartRejectsBadOptions(t *testing.T) {
	t.Setenv(prosodytest.EnvDisable, "1") // the options are checked first
	r := &recordingTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		prosodytest.Start(r, prosodytest.WithStorage("memory"))
	}()
	<-done
	assert.Contains(t, r.fatal, `unknown storage "memory"`)
}

// TestServersAreIsolated runs two servers at once with the same accounts.
func TestServersAreIsolated(t *testing.T) {
	one := prosodytest.Start(t)
	parent := t.TempDir()
	two := prosodytest.Start(t, prosodytest.WithInternalStorage(), prosodytest.WithDomain("example.test"),
		prosodytest.WithParentDir(parent))
	require.NotEqual(t, one.Addr(), two.Addr())
	require.NotEqual(t, one.Dir(), two.Dir())
	assert.True(t, strings.HasPrefix(two.Dir(), parent+string(filepath.Separator)), "dir %s in %s", two.Dir(), parent)
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		assert.True(t, strings.HasPrefix(one.Dir(), "/dev/shm/"), "default dir %s on tmpfs", one.Dir())
	}
	assert.Equal(t, "conference.example.test", two.MUCDomain())
	ctx := testCtx(t)

	a1 := connect(t, one, one.Register(t, "alice", password))
	a2 := connect(t, two, two.Register(t, "alice", password))
	assert.Equal(t, "alice@example.test", a2.jid.String())
	require.NoError(t, prosodytest.SendChat(ctx, a1.sess, a1.jid, "only on one"))
	require.NoError(t, prosodytest.WaitArchiveCount(ctx, a1.sess, a1.jid, 2))
	n, err := prosodytest.ArchiveCount(ctx, a2.sess, a2.jid)
	require.NoError(t, err)
	assert.Zero(t, n)
}

func TestLoginFailures(t *testing.T) {
	srv := prosodytest.Start(t)
	ctx := testCtx(t)
	alice := srv.Register(t, "alice", password)
	_, err := srv.Dial(ctx, alice, "wrong password")
	require.Error(t, err)
	_, err = srv.Dial(ctx, srv.JID(t, "nobody"), password)
	require.Error(t, err)
	// Prosody 0.12 with internal_hashed offers SCRAM-SHA-1 and PLAIN only.
	_, err = srv.Dial(ctx, alice, password, prosodytest.Mechanisms(sasl.ScramSha256))
	require.ErrorContains(t, err, "no matching SASL mechanisms")
	for _, mech := range []sasl.Mechanism{sasl.Plain, sasl.ScramSha1} {
		sess, err := srv.Dial(ctx, alice, password, prosodytest.Mechanisms(mech))
		require.NoError(t, err, mech.Name)
		assert.Equal(t, alice.String(), sess.LocalAddr().Bare().String())
		assert.NotEmpty(t, sess.LocalAddr().Resourcepart())
		require.NoError(t, sess.Close())
		require.NoError(t, sess.Conn().Close())
	}
}

// TestStartWithoutLuaDBI hides LuaDBI from Prosody (Debian's Lua path minus
// DBI.lua): SQL storage cannot work, and Start must say so like a missing
// install, while file storage still works.
func TestStartWithoutLuaDBI(t *testing.T) {
	const luaShare = "/usr/share/lua/5.4"
	if _, err := os.Stat(filepath.Join(luaShare, "DBI.lua")); err != nil {
		t.Skipf("needs Debian's %s/DBI.lua: %v", luaShare, err)
	}
	entries, err := os.ReadDir(luaShare)
	require.NoError(t, err)
	dir := t.TempDir()
	for _, e := range entries {
		if e.Name() != "DBI.lua" {
			require.NoError(t, os.Symlink(filepath.Join(luaShare, e.Name()), filepath.Join(dir, e.Name())))
		}
	}
	t.Setenv("LUA_PATH_5_4", dir+"/?.lua;"+dir+"/?/init.lua")

	t.Setenv("CI", "")
	skipped, fatal := startRecorded(t)
	assert.Empty(t, fatal)
	assert.Contains(t, skipped, "lua-dbi-sqlite3 is missing")

	t.Setenv("CI", "true")
	skipped, fatal = startRecorded(t)
	assert.Empty(t, skipped)
	assert.Contains(t, fatal, "lua-dbi-sqlite3 is missing")

	srv := prosodytest.Start(t, prosodytest.WithInternalStorage())
	srv.Register(t, "alice", password)
}
