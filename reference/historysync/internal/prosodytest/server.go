package prosodytest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
)

// InstallHint is the message a test is skipped with when Prosody is missing.
const InstallHint = "prosody not installed: apt-get install -y prosody lua-dbi-sqlite3; .ci/run installs it"

// Environment variables read by Start. See the package documentation.
const (
	EnvDisable  = "PROSODYTEST_DISABLE"
	EnvLog      = "PROSODYTEST_LOG"
	EnvLogLevel = "PROSODYTEST_LOGLEVEL"
)

const (
	defaultDomain       = "localhost"
	defaultStartTimeout = 30 * time.Second
	defaultStopTimeout  = 10 * time.Second
	defaultLogLimit     = 4 << 20
	// portAttempts is how often Start picks a new port when the one it chose
	// was taken by someone else between probing and Prosody binding it.
	portAttempts = 5
)

// Storage selects Prosody's storage backend.
type Storage string

// The storage backends Start can configure.
const (
	// StorageSQL is SQLite through mod_storage_sql (needs lua-dbi-sqlite3).
	// Archive ids are UUIDs.
	StorageSQL Storage = "sql"
	// StorageInternal is Prosody's file storage. Archive ids are short random
	// strings, and each archive holds at most storage_archive_item_limit
	// (default 10000) items.
	StorageInternal Storage = "internal"
)

type config struct {
	domain       string
	storage      Storage
	logLevel     string
	startTimeout time.Duration
	stopTimeout  time.Duration
	extra        []string
	verboseLog   bool
	parentDir    string
}

// Option configures a server started by Start.
type Option func(*config)

// WithStorage selects the storage backend (default StorageSQL).
func WithStorage(s Storage) Option { return func(c *config) { c.storage = s } }

// WithInternalStorage is WithStorage(StorageInternal): Prosody's file storage.
func WithInternalStorage() Option { return WithStorage(StorageInternal) }

// WithDomain sets the account domain (default "localhost"); the MUC service is
// "conference." followed by the domain.
func WithDomain(domain string) Option { return func(c *config) { c.domain = domain } }

// WithExtraConfig appends Lua lines to the global section of the generated
// configuration, after the harness's own settings (so they override them).
// mamsync's tests use it for TLS and for a server without MAM.
func WithExtraConfig(lua string) Option {
	return func(c *config) { c.extra = append(c.extra, lua) }
}

// WithParentDir sets the directory in which the server's temporary directory
// is made. By default it is /dev/shm when that is a writable directory, else
// the test's t.TempDir(): Prosody's SQLite storage commits (and fsyncs) one
// transaction per archived message, which costs ~14 ms on a virtual disk and
// ~0.1 ms on tmpfs. Data on tmpfs survives Restart but not a reboot. The
// directory is removed when the test ends.
func WithParentDir(dir string) Option { return func(c *config) { c.parentDir = dir } }

// Server is a Prosody instance started by Start. Its methods may be called from
// several goroutines, but Restart must not run concurrently with anything else
// that uses the server.
type Server struct {
	cfg        config
	dir        string
	configPath string
	prosody    string
	prosodyctl string
	log        *logBuffer

	mu   sync.Mutex
	port int
	proc *process
}

// Start starts a Prosody server for the test and stops it in t.Cleanup. It
// skips the test when Prosody is not installed (fails it when CI=true), and
// fails it when Prosody does not come up within the start timeout, with
// Prosody's log in the test output.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg := config{
		domain:       defaultDomain,
		storage:      StorageSQL,
		logLevel:     "info",
		startTimeout: defaultStartTimeout,
		stopTimeout:  defaultStopTimeout,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if lvl := os.Getenv(EnvLogLevel); lvl != "" {
		cfg.logLevel = lvl
	}
	if cfg.logLevel != "debug" {
		cfg.logLevel = "info"
	}
	if v, _ := strconv.ParseBool(os.Getenv(EnvLog)); v {
		cfg.verboseLog = true
	}
	switch cfg.storage {
	case StorageSQL, StorageInternal:
	default:
		t.Fatalf("prosodytest: unknown storage %q", cfg.storage)
	}
	if _, err := jid.New("", cfg.domain, ""); err != nil {
		t.Fatalf("prosodytest: invalid domain %q: %v", cfg.domain, err)
	}

	prosody, prosodyctl, err := findBinaries()
	if err != nil {
		missingInstall(t, err)
	}

	dir, err := makeServerDir(t, cfg.parentDir)
	if err != nil {
		t.Fatalf("prosodytest: %v", err)
	}
	s := &Server{
		cfg:        cfg,
		dir:        dir,
		prosody:    prosody,
		prosodyctl: prosodyctl,
		log:        newLogBuffer(defaultLogLimit),
	}
	s.configPath = filepath.Join(s.dir, "prosody.cfg.lua")
	for _, sub := range []string{"data", "certs"} {
		if err := os.Mkdir(filepath.Join(s.dir, sub), 0o700); err != nil {
			t.Fatalf("prosodytest: %v", err)
		}
	}
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() || s.cfg.verboseLog {
			s.dumpLog(t)
		}
	})
	if err := s.start(0); err != nil {
		if errors.Is(err, errNoDBI) {
			missingInstall(t, err)
		}
		t.Fatalf("prosodytest: %v", err)
	}
	return s
}

// missingInstall skips the test, or fails it when CI=true.
func missingInstall(t testing.TB, err error) {
	t.Helper()
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("%s (%v); CI=true, so the Prosody tests must not be skipped", InstallHint, err)
	}
	t.Skipf("%s (%v)", InstallHint, err)
}

// shmDir is the tmpfs used by default for server directories.
const shmDir = "/dev/shm"

// makeServerDir creates the server's directory below parent (default: shmDir
// when usable, else t.TempDir()) and removes it in t.Cleanup.
func makeServerDir(t testing.TB, parent string) (string, error) {
	if parent == "" {
		if st, err := os.Stat(shmDir); err == nil && st.IsDir() {
			parent = shmDir
		}
	}
	if parent == "" {
		return t.TempDir(), nil
	}
	dir, err := os.MkdirTemp(parent, "prosodytest-")
	if err != nil {
		if parent == shmDir {
			return t.TempDir(), nil
		}
		return "", fmt.Errorf("server directory: %w", err)
	}
	// Registered before the server's own cleanup, so it runs after it.
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("prosodytest: remove %s: %v", dir, err)
		}
	})
	return dir, nil
}

// findBinaries locates prosody and prosodyctl in PATH.
func findBinaries() (prosody, prosodyctl string, err error) {
	if v, _ := strconv.ParseBool(os.Getenv(EnvDisable)); v {
		return "", "", fmt.Errorf("%s is set", EnvDisable)
	}
	prosody, err = exec.LookPath("prosody")
	if err != nil {
		return "", "", err
	}
	prosodyctl, err = exec.LookPath("prosodyctl")
	if err != nil {
		return "", "", err
	}
	return prosody, prosodyctl, nil
}

// Domain is the account domain (default "localhost").
func (s *Server) Domain() string { return s.cfg.domain }

// MUCDomain is the domain of the MUC service, "conference." + Domain().
func (s *Server) MUCDomain() string { return "conference." + s.cfg.domain }

// Addr is the client-to-server address, "127.0.0.1:PORT". It can change when
// Restart has to pick a new port.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Dir is the server's temporary directory (configuration, data, log).
func (s *Server) Dir() string { return s.dir }

// ConfigPath is the path of the generated Prosody configuration file.
func (s *Server) ConfigPath() string { return s.configPath }

// Storage is the storage backend the server runs with.
func (s *Server) Storage() Storage { return s.cfg.storage }

// Log returns what Prosody has logged so far (the last 4 MiB).
func (s *Server) Log() string { return s.log.String() }

// JID returns localpart@Domain(); it fails the test on an invalid localpart.
func (s *Server) JID(t testing.TB, localpart string) jid.JID {
	t.Helper()
	j, err := jid.New(localpart, s.cfg.domain, "")
	if err != nil {
		t.Fatalf("prosodytest: invalid localpart %q: %v", localpart, err)
	}
	return j
}

// RoomJID returns name@MUCDomain(); it fails the test on an invalid name.
func (s *Server) RoomJID(t testing.TB, name string) jid.JID {
	t.Helper()
	j, err := jid.New(name, s.MUCDomain(), "")
	if err != nil {
		t.Fatalf("prosodytest: invalid room name %q: %v", name, err)
	}
	return j
}

// Register creates the account localpart@Domain() with prosodyctl and returns
// its bare JID. It works while the server runs; it fails the test when the
// account cannot be created (for example when it exists).
func (s *Server) Register(t testing.TB, localpart, password string) jid.JID {
	t.Helper()
	j := s.JID(t, localpart)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.prosodyctl, "--config", s.configPath, "register", j.Localpart(), j.Domainpart(), password)
	cmd.Dir = s.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("prosodytest: prosodyctl register %s: %v\n%s", j, err, out)
	}
	return j
}

// Restart stops the server (SIGTERM; every client session ends) and starts it
// again on the same configuration and data, for resume tests. Sessions must be
// dialled again afterwards. Restart keeps the port unless another process took
// it in between; use Addr after Restart.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.stop(t)
	s.mu.Lock()
	port := s.port
	s.mu.Unlock()
	if err := s.start(port); err != nil {
		t.Fatalf("prosodytest: restart: %v", err)
	}
}

// start writes the configuration and starts Prosody, on port when it is not 0,
// else on a free port. When the port turns out to be taken, it tries another.
func (s *Server) start(port int) error {
	var lastErr error
	for attempt := 0; attempt < portAttempts; attempt++ {
		if port == 0 {
			p, err := freePort()
			if err != nil {
				return err
			}
			port = p
		}
		if err := os.WriteFile(s.configPath, []byte(s.configText(port)), 0o600); err != nil {
			return fmt.Errorf("write config: %w", err)
		}
		err := s.launch(port)
		if err == nil {
			return nil
		}
		lastErr = err
		if !errors.Is(err, errPortInUse) {
			return err
		}
		port = 0
	}
	return lastErr
}

var (
	errPortInUse = errors.New("client port in use")
	errNoDBI     = errors.New("lua-dbi-sqlite3 is missing: Prosody cannot load LuaDBI for SQL storage")
)

// launch starts the process and waits until it accepts connections on port.
func (s *Server) launch(port int) error {
	ready := make(chan readiness, 1)
	s.log.watch(port, ready)
	proc, err := startProcess(s.prosody, s.configPath, s.dir, s.log, s.cfg.stopTimeout)
	if err != nil {
		return err
	}
	deadline := time.NewTimer(s.cfg.startTimeout)
	defer deadline.Stop()
	fail := func(err error) error {
		proc.stop()
		return err
	}
	select {
	case r := <-ready:
		if !r.ok {
			return fail(fmt.Errorf("port %d: %w", port, errPortInUse))
		}
	case <-proc.done:
		return fail(fmt.Errorf("prosody exited during start-up: %w", proc.err))
	case <-deadline.C:
		return fail(fmt.Errorf("prosody did not open port %d within %v", port, s.cfg.startTimeout))
	}
	// The log says the port is bound; confirm it accepts.
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	dialer := net.Dialer{Timeout: time.Second}
	backoff := time.Millisecond
	for {
		c, err := dialer.DialContext(context.Background(), "tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-proc.done:
			return fail(fmt.Errorf("prosody exited during start-up: %w", proc.err))
		case <-deadline.C:
			return fail(fmt.Errorf("prosody port %d does not accept: %w", port, err))
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 50*time.Millisecond)
	}
	// Storage modules load before the ports open, so a missing LuaDBI has
	// been logged by now.
	if s.cfg.storage == StorageSQL && strings.Contains(s.log.String(), "module 'DBI' not found") {
		return fail(errNoDBI)
	}
	s.mu.Lock()
	s.port, s.proc = port, proc
	s.mu.Unlock()
	return nil
}

// stop terminates the running process, if any.
func (s *Server) stop(t testing.TB) {
	s.mu.Lock()
	proc := s.proc
	s.proc = nil
	s.mu.Unlock()
	if proc == nil {
		return
	}
	if killed := proc.stop(); killed {
		t.Errorf("prosodytest: prosody did not stop within %v of SIGTERM and was killed", s.cfg.stopTimeout)
	}
}

func (s *Server) dumpLog(t testing.TB) {
	t.Logf("prosodytest: log of prosody in %s:\n%s", s.dir, s.log.String())
}

// freePort asks the kernel for a free loopback TCP port.
func freePort() (int, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// configText renders the Prosody configuration for port.
func (s *Server) configText(port int) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	path := func(name string) string { return luaString(filepath.Join(s.dir, name)) }
	line("-- Generated by prosodytest; one test server, loopback only.")
	line("run_as_root = true")
	line("pidfile = %s", path("prosody.pid"))
	line("data_path = %s", path("data"))
	line("certificates = %s", path("certs"))
	line(`log = { { levels = { min = %s }, to = "stdout", timestamps = "%%H:%%M:%%S" } }`, luaString(s.cfg.logLevel))
	line(`interfaces = { "127.0.0.1" }`)
	line(`local_interfaces = { "127.0.0.1" }`)
	line(`c2s_interfaces = { "127.0.0.1" }`)
	line("use_ipv6 = false")
	line("c2s_ports = { %d }", port)
	line("c2s_direct_tls_ports = { }")
	line("legacy_ssl_ports = { }")
	line("s2s_ports = { }")
	line("component_ports = { }")
	line("http_ports = { }")
	line("https_ports = { }")
	// With Nagle on, the <fin/> IQ that follows a page of results waits for
	// the client's delayed ACK: ~40 ms more per page on loopback.
	line("network_settings = { nagle = false }")
	line(`modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "ping"; "mam" }`)
	line(`modules_disabled = { "s2s"; "offline" }`)
	line(`authentication = "internal_hashed"`)
	line("c2s_require_encryption = false")
	line("allow_unencrypted_plain_auth = true")
	line("default_archive_policy = true")
	line(`archive_expires_after = "never"`)
	line(`muc_log_expires_after = "never"`)
	line("max_archive_query_results = 50")
	line("mam_include_total = true")
	line("muc_log_include_total = true")
	switch s.cfg.storage {
	case StorageSQL:
		line(`storage = "sql"`)
		line(`sql = { driver = "SQLite3", database = "prosody.sqlite" }`)
	case StorageInternal:
		line(`storage = "internal"`)
	}
	for _, extra := range s.cfg.extra {
		line("%s", extra)
	}
	line("")
	line("VirtualHost %s", luaString(s.cfg.domain))
	line("")
	line("Component %s %q", luaString(s.MUCDomain()), "muc")
	line(`	modules_enabled = { "muc_mam" }`)
	line("	muc_log_by_default = true")
	line("	muc_room_default_persistent = true")
	return b.String()
}

// luaString quotes s as a Lua string literal.
func luaString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\%03d", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// process is a running prosody.
type process struct {
	cmd      *exec.Cmd
	stopping context.CancelFunc
	done     chan struct{} // closed when the process has exited and its log is read
	err      error         // the exit status, set before done is closed
}

// startProcess runs `prosody --config cfg -F` with its output copied into log.
// Stopping it sends SIGTERM, and SIGKILL after stopTimeout.
func startProcess(prosody, cfg, dir string, log *logBuffer, stopTimeout time.Duration) (*process, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start prosody: %w", err)
	}
	ctx, stopping := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, prosody, "--config", cfg, "-F")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopTimeout
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		stopping()
		r.Close()
		w.Close()
		return nil, fmt.Errorf("start prosody: %w", err)
	}
	w.Close()
	p := &process{cmd: cmd, stopping: stopping, done: make(chan struct{})}
	var copied sync.WaitGroup
	copied.Add(1)
	go func() {
		defer copied.Done()
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			log.addLine(sc.Text())
		}
	}()
	go func() {
		err := cmd.Wait()
		copied.Wait()
		stopping()
		p.err = err
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM and waits; os/exec kills the process when it is still
// running after the stop timeout. It reports whether it had to be killed.
func (p *process) stop() (killed bool) {
	p.stopping()
	<-p.done
	status, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && status.Signaled() && status.Signal() == syscall.SIGKILL
}

// readiness is what the log said about the client port.
type readiness struct{ ok bool }

// logBuffer keeps the tail of Prosody's log and watches it for the line that
// says whether the client port is open.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
	size  int
	limit int

	watchPort int
	ready     chan<- readiness
	portBusy  bool
}

func newLogBuffer(limit int) *logBuffer { return &logBuffer{limit: limit} }

// watch arranges for ready to receive the outcome of opening port.
func (l *logBuffer) watch(port int, ready chan<- readiness) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.watchPort, l.ready, l.portBusy = port, ready, false
}

func (l *logBuffer) addLine(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	l.size += len(line) + 1
	for l.size > l.limit && len(l.lines) > 1 {
		l.size -= len(l.lines[0]) + 1
		l.lines[0] = ""
		l.lines = l.lines[1:]
	}
	if l.ready == nil {
		return
	}
	// portmanager logs "Failed to open server port N on 127.0.0.1, ..." for
	// each port it cannot bind, then "Activated service 'c2s' on ..." with the
	// ports it did bind (or "no ports").
	if strings.Contains(line, fmt.Sprintf("Failed to open server port %d ", l.watchPort)) {
		l.portBusy = true
	}
	if strings.Contains(line, "Activated service 'c2s' on") {
		ok := !l.portBusy && listsPort(line, l.watchPort)
		l.ready <- readiness{ok: ok}
		l.ready = nil
	}
}

// listsPort reports whether an "Activated service" line lists [addr]:port.
func listsPort(line string, port int) bool {
	needle := fmt.Sprintf("]:%d", port)
	for rest := line; ; {
		i := strings.Index(rest, needle)
		if i < 0 {
			return false
		}
		rest = rest[i+len(needle):]
		if rest == "" || rest[0] == ',' || rest[0] == ' ' {
			return true
		}
	}
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}
