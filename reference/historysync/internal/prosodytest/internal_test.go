package prosodytest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLuaString(t *testing.T) {
	assert.Equal(t, `"/tmp/a b"`, luaString("/tmp/a b"))
	assert.Equal(t, `"q\"b\\s\010n\010"`, luaString("q\"b\\s\nn\n"))
	assert.Equal(t, `"é"`, luaString("é"))
}

func TestListsPort(t *testing.T) {
	line := "12:00:00 portmanager info\tActivated service 'c2s' on [127.0.0.1]:15222, [::1]:15222"
	assert.True(t, listsPort(line, 15222))
	assert.False(t, listsPort(line, 1522))
	assert.False(t, listsPort(line, 5222))
	assert.True(t, listsPort("Activated service 'c2s' on [127.0.0.1]:80", 80))
	assert.False(t, listsPort("Activated service 'c2s' on no ports", 80))
}

func TestConfigText(t *testing.T) {
	s := &Server{cfg: config{domain: "localhost", storage: StorageSQL, logLevel: "info"}, dir: "/tmp/x"}
	cfg := s.configText(12345)
	for _, want := range []string{
		"run_as_root = true",
		`data_path = "/tmp/x/data"`,
		"c2s_ports = { 12345 }",
		`interfaces = { "127.0.0.1" }`,
		"allow_unencrypted_plain_auth = true",
		`archive_expires_after = "never"`,
		`muc_log_expires_after = "never"`,
		"max_archive_query_results = 50",
		"mam_include_total = true",
		`storage = "sql"`,
		`sql = { driver = "SQLite3", database = "prosody.sqlite" }`,
		`authentication = "internal_hashed"`,
		"network_settings = { nagle = false }",
		`Component "conference.localhost" "muc"`,
		`modules_enabled = { "muc_mam" }`,
		"muc_log_by_default = true",
	} {
		assert.Contains(t, cfg, want)
	}
}

// TestStartAvoidsBusyPort makes the port Prosody should use busy, as if another
// process took it between the probe and Prosody's bind: Prosody keeps running
// without its client port, and start must notice and use another port.
func TestStartAvoidsBusyPort(t *testing.T) {
	s := Start(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port

	s.stop(t)
	require.NoError(t, s.start(busyPort))
	_, port, err := net.SplitHostPort(s.Addr())
	require.NoError(t, err)
	assert.NotEqual(t, strconv.Itoa(busyPort), port)
	assert.Contains(t, s.Log(), "Failed to open server port "+strconv.Itoa(busyPort))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sess, err := s.Dial(ctx, s.Register(t, "alice", "pw"), "pw")
	require.NoError(t, err)
	require.NoError(t, sess.Close())
	require.NoError(t, sess.Conn().Close())
}

// BenchmarkStartStop measures starting Prosody until its client port accepts,
// and stopping it (SIGTERM until exit).
func BenchmarkStartStop(b *testing.B) {
	for _, storage := range []Storage{StorageSQL, StorageInternal} {
		b.Run(string(storage), func(b *testing.B) {
			s := Start(b, WithStorage(storage))
			s.stop(b)
			var starting, stopping time.Duration
			for b.Loop() {
				t0 := time.Now()
				if err := s.start(0); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				s.stop(b)
				starting += t1.Sub(t0)
				stopping += time.Since(t1)
			}
			b.ReportMetric(float64(starting.Milliseconds())/float64(b.N), "ms/start")
			b.ReportMetric(float64(stopping.Milliseconds())/float64(b.N), "ms/stop")
		})
	}
}

// TestProcessStop checks the stop escalation with stand-ins for prosody: one
// that ends on SIGTERM, one that ignores it and must be killed.
func TestProcessStop(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		script string
		killed bool
	}{
		{"obeys SIGTERM", "#!/bin/sh\necho started\nexec sleep 1000\n", false},
		{"ignores SIGTERM", "#!/bin/sh\ntrap '' TERM\necho started\nexec sleep 1000\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			require.NoError(t, os.WriteFile(bin, []byte(tc.script), 0o700))
			log := newLogBuffer(1 << 10)
			p, err := startProcess(bin, "cfg", dir, log, 200*time.Millisecond)
			require.NoError(t, err)
			// Wait for the script to have set up its signal disposition.
			require.Eventually(t, func() bool { return strings.Contains(log.String(), "started") }, 10*time.Second, time.Millisecond)
			start := time.Now()
			assert.Equal(t, tc.killed, p.stop())
			if tc.killed {
				assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
			}
			assert.Equal(t, tc.killed, p.stop(), "stopping again returns at once with the same answer")
		})
	}
}
