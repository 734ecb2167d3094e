package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/mapleak/mapleak/reference/historysync"
	"github.com/mapleak/mapleak/reference/historysync/internal/prosodytest"
	"github.com/mapleak/mapleak/reference/historysync/sqlitestore"
)

const testPassword = "mamsync pass"

// prosodyEnv is a real Prosody with alice (whose archives mamsync syncs)
// and bob, seeding sessions for both, and alice's database file.
type prosodyEnv struct {
	t          *testing.T
	ctx        context.Context
	srv        *prosodytest.Server
	ca         testCA // zero without TLS
	alice, bob jid.JID
	dbPath     string

	aliceSeed, bobSeed *xmpp.Session
	reader             *prosodytest.ArchiveReader // on aliceSeed: the ground truth
}

// startProsody starts Prosody, offering StartTLS when withTLS (with a
// certificate for localhost signed by a test CA; plaintext logins stay
// allowed for the seeding sessions), registers alice and bob and connects
// their seeding sessions.
func startProsody(t *testing.T, withTLS bool, opts ...prosodytest.Option) *prosodyEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	e := &prosodyEnv{t: t, ctx: ctx, dbPath: filepath.Join(t.TempDir(), "history.db")}
	if withTLS {
		e.ca = newTestCA(t, t.TempDir(), "localhost", "conference.localhost")
		opts = append(opts, prosodytest.WithExtraConfig(fmt.Sprintf("ssl = { certificate = %q; key = %q }", e.ca.certFile, e.ca.keyFile)))
	}
	e.srv = prosodytest.Start(t, opts...)
	e.alice = e.srv.Register(t, "alice", testPassword)
	e.bob = e.srv.Register(t, "bob", testPassword)
	e.reader = prosodytest.NewArchiveReader()
	e.aliceSeed = e.srv.Connect(t, e.alice, testPassword, mux.New(stanza.NSClient, e.reader.Option()))
	e.bobSeed = e.srv.Connect(t, e.bob, testPassword, nil)
	return e
}

// syncArgs are the arguments of a run that syncs alice's archive and rooms:
// with StartTLS and the test CA when the server has TLS, else plaintext.
func (e *prosodyEnv) syncArgs(rooms ...jid.JID) []string {
	args := []string{"-jid", e.alice.String(), "-db", e.dbPath, "-server", e.srv.Addr()}
	if e.ca.caFile != "" {
		args = append(args, "-ca", e.ca.caFile)
	} else {
		args = append(args, "-insecure-plain")
	}
	if len(rooms) > 0 {
		names := make([]string, len(rooms))
		for i, r := range rooms {
			names[i] = r.String()
		}
		args = append(args, "-rooms", strings.Join(names, ","))
	}
	return args
}

// seedChats sends n chats from bob to alice and waits until alice's archive
// holds them.
func (e *prosodyEnv) seedChats(prefix string, n int) {
	e.t.Helper()
	before, err := prosodytest.ArchiveCount(e.ctx, e.aliceSeed, e.alice)
	require.NoError(e.t, err)
	require.NoError(e.t, prosodytest.SendChat(e.ctx, e.bobSeed, e.alice, numbered(prefix, n)...))
	require.NoError(e.t, prosodytest.WaitArchiveCount(e.ctx, e.aliceSeed, e.alice, before+n))
}

// seedRoom sends n groupchats from alice's seeding session to room and waits
// until the room's archive holds them.
func (e *prosodyEnv) seedRoom(room jid.JID, prefix string, n int) {
	e.t.Helper()
	before, err := prosodytest.ArchiveCount(e.ctx, e.aliceSeed, room)
	require.NoError(e.t, err)
	require.NoError(e.t, prosodytest.SendGroupchat(e.ctx, e.aliceSeed, room, numbered(prefix, n)...))
	require.NoError(e.t, prosodytest.WaitArchiveCount(e.ctx, e.aliceSeed, room, before+n))
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s %04d", prefix, i)
	}
	return out
}

// expectedIDs reads archive j from the server and returns the archive ids a
// complete local copy holds, in archive order: every message once (Prosody
// archives a note to self twice, with one origin-id; the second copy is an
// alias of the first).
func (e *prosodyEnv) expectedIDs(j jid.JID) []string {
	e.t.Helper()
	truth, err := e.reader.ReadAll(e.ctx, e.aliceSeed, j)
	require.NoError(e.t, err)
	var ids []string
	seen := map[string]bool{}
	for _, m := range truth {
		if m.OriginID != "" && seen[m.OriginID] {
			continue
		}
		seen[m.OriginID] = true
		ids = append(ids, m.ID)
	}
	return ids
}

// storedIDs returns the archive ids stored for a, in archive order.
func (e *prosodyEnv) storedIDs(a historysync.Archive) []string {
	e.t.Helper()
	store, err := sqlitestore.Open(e.ctx, e.dbPath)
	require.NoError(e.t, err)
	defer store.Close()
	msgs, err := store.Messages(e.ctx, a, historysync.AllMessages())
	require.NoError(e.t, err)
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ArchiveID
	}
	return ids
}

// requireExact checks that the database holds exactly the server's archive
// of a: every message once, in archive order.
func (e *prosodyEnv) requireExact(a historysync.Archive) {
	e.t.Helper()
	want := e.expectedIDs(a.JID)
	require.Equal(e.t, want, e.storedIDs(a), "%s: stored messages, in archive order", a)
}

// summaryRow returns the cells of the summary row of archive a.
func summaryRow(t *testing.T, stdout string, a historysync.Archive) []string {
	t.Helper()
	for line := range strings.Lines(stdout) {
		if cells := strings.Fields(line); len(cells) > 0 && cells[0] == a.String() {
			return cells
		}
	}
	t.Fatalf("no summary row for %s in:\n%s", a, stdout)
	return nil
}

// subprocess is a mamsync running as a child process; its standard error is
// read line by line.
type subprocess struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	lines  chan string // standard error, closed at its end
	stderr strings.Builder
}

// start starts mamsync as a subprocess with args.
func (e *prosodyEnv) start(args ...string) *subprocess {
	e.t.Helper()
	p := &subprocess{cmd: mamsyncCommand(e.ctx, e.t, testPassword, args...), lines: make(chan string, 1024)}
	p.cmd.Stdout = &p.stdout
	pipe, err := p.cmd.StderrPipe()
	require.NoError(e.t, err)
	require.NoError(e.t, p.cmd.Start())
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	return p
}

// waitLine returns the first line of standard error that matches re.
func (p *subprocess) waitLine(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("mamsync ended without printing a line matching %v; it printed:\n%s", re, p.stderr.String())
			}
			p.stderr.WriteString(line + "\n")
			if re.MatchString(line) {
				return line
			}
		case <-timeout:
			t.Fatalf("no line matching %v within a minute; mamsync printed:\n%s", re, p.stderr.String())
		}
	}
}

// wait waits for the subprocess to end and returns how it ended.
func (p *subprocess) wait(t *testing.T) result {
	t.Helper()
	for line := range p.lines {
		p.stderr.WriteString(line + "\n")
	}
	err := p.cmd.Wait()
	if err != nil && p.cmd.ProcessState == nil {
		t.Fatalf("wait for mamsync: %v", err)
	}
	return result{code: p.cmd.ProcessState.ExitCode(), stdout: p.stdout.String(), stderr: p.stderr.String()}
}

// firstPage matches the progress line of an archive's first page.
var firstPage = regexp.MustCompile(`^(account|room):\S+: 1 page, `)

// requireOneLine checks that a failed run printed nothing on standard output
// and exactly one line on standard error, "mamsync: " and the cause.
func requireOneLine(t *testing.T, r result, cause string) {
	t.Helper()
	assert.Equal(t, exitFailed, r.code, "exit status; stderr:\n%s", r.stderr)
	assert.Empty(t, r.stdout)
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line:\n%s", r.stderr)
	assert.True(t, strings.HasPrefix(r.stderr, "mamsync: "), r.stderr)
	assert.Contains(t, r.stderr, cause)
}

// TestProsodySync runs mamsync against a real Prosody 0.12 with StartTLS
// (skipped without Prosody, fatal without it when CI=true): a first run
// killed midway (SIGKILL) leaves whole pages only, the next run resumes
// exactly, the export writes the archive, an incremental run stores only the
// new messages, a run interrupted with SIGINT exits 130 and resumes (and a
// second mamsync on the same database meanwhile fails at once), and login
// and room errors end the run with one line.
func TestProsodySync(t *testing.T) {
	e := startProsody(t, true)
	coven := e.srv.RoomJID(t, "coven")
	require.NoError(t, prosodytest.CreateRoom(e.ctx, e.aliceSeed, coven, "Alice"))
	account, room := historysync.Account(e.alice), historysync.Room(coven)
	// Notes to self first (Prosody archives them twice), then enough pages
	// that a kill after the first one lands midway.
	require.NoError(t, prosodytest.SendChat(e.ctx, e.aliceSeed, e.alice, "note to self 1", "note to self 2"))
	e.seedChats("first", 1200)
	e.seedRoom(coven, "first", 300)

	// 1. A first run killed as soon as a page is stored: what is stored is
	// whole pages, the newest messages of each archive.
	p := e.start(e.syncArgs(coven)...)
	p.waitLine(t, firstPage)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	r := p.wait(t)
	require.Equal(t, -1, r.code, "killed")
	stored := 0
	for _, a := range []historysync.Archive{account, room} {
		want, got := e.expectedIDs(a.JID), e.storedIDs(a)
		require.LessOrEqual(t, len(got), len(want))
		require.Equal(t, want[len(want)-len(got):], got, "%s: the newest messages, without holes", a)
		require.Zero(t, len(got)%50, "%s: whole pages of 50", a)
		stored += len(got)
	}
	require.Positive(t, stored, "a page was stored before the kill")
	require.Less(t, stored, 1202+300, "killed midway")
	t.Logf("killed after %d of %d messages were stored", stored, 1202+300)

	// 2. The next run resumes and completes both archives exactly.
	r = runSubprocess(e.ctx, t, testPassword, e.syncArgs(coven)...)
	require.Equal(t, exitOK, r.code, r.stderr)
	e.requireExact(account)
	e.requireExact(room)
	assert.Equal(t, "yes", summaryRow(t, r.stdout, account)[6], "complete")
	assert.Contains(t, r.stderr, "room:coven@conference.localhost: done, ")

	// 3. The export writes each archive in archive order.
	for _, a := range []historysync.Archive{account, room} {
		x := runInProcess(t, "", "-db", e.dbPath, "-export", "jsonl", "-archive", a.JID.String())
		require.Equal(t, exitOK, x.code, x.stderr)
		var ids []string
		for line := range strings.Lines(x.stdout) {
			var m exportedMessage
			require.NoError(t, json.Unmarshal([]byte(line), &m))
			require.Equal(t, a.String(), m.Archive)
			ids = append(ids, m.ArchiveID)
		}
		require.Equal(t, e.expectedIDs(a.JID), ids, "%s: exported", a)
	}

	// 4. An incremental run stores only the new messages.
	e.seedChats("second", 30)
	e.seedRoom(coven, "second", 10)
	r = runSubprocess(e.ctx, t, testPassword, e.syncArgs(coven)...)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "30", summaryRow(t, r.stdout, account)[3], "new messages in the account archive")
	assert.Equal(t, "10", summaryRow(t, r.stdout, room)[3], "new messages in the room")
	e.requireExact(account)
	e.requireExact(room)

	// 5. SIGINT midway: exit 130, and the next run resumes. Meanwhile, a
	// second mamsync on the same database fails at once.
	e.seedChats("third", 1000)
	p = e.start(e.syncArgs(coven)...)
	p.waitLine(t, firstPage)
	second := runInProcess(t, testPassword, e.syncArgs(coven)...)
	requireOneLine(t, second, "in use by another mamsync")
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGINT))
	r = p.wait(t)
	assert.Equal(t, exitInterrupted, r.code, r.stderr)
	assert.Contains(t, r.stderr, "mamsync: interrupted")
	t.Logf("interrupted after storing %d of %d account messages", len(e.storedIDs(account)), len(e.expectedIDs(e.alice)))
	r = runSubprocess(e.ctx, t, testPassword, e.syncArgs(coven)...)
	require.Equal(t, exitOK, r.code, r.stderr)
	e.requireExact(account)
	e.requireExact(room)

	// 6. Errors: one line naming the cause, nothing written.
	before := len(e.storedIDs(account))
	nomam := e.srv.RoomJID(t, "nomam")
	require.NoError(t, prosodytest.CreateRoom(e.ctx, e.aliceSeed, nomam, "Alice", prosodytest.WithoutArchive()))
	closed := e.srv.RoomJID(t, "closed")
	require.NoError(t, prosodytest.CreateRoom(e.ctx, e.bobSeed, closed, "Bob", prosodytest.MembersOnly()))
	e.seedChats("fourth", 5)
	for _, tc := range []struct {
		name     string
		password string
		args     []string
		cause    string
	}{
		{"bad password", "wrong", e.syncArgs(), "authentication failed"},
		{"unknown CA", testPassword, []string{"-jid", e.alice.String(), "-db", e.dbPath, "-server", e.srv.Addr()}, "TLS failed: tls: failed to verify certificate"},
		{"no such room", testPassword, e.syncArgs(coven, e.srv.RoomJID(t, "nosuch")), "room nosuch@conference.localhost does not exist"},
		{"room without MAM", testPassword, e.syncArgs(nomam), "room nomam@conference.localhost does not archive messages"},
		{"members-only room", testPassword, e.syncArgs(closed), "join room closed@conference.localhost as alice: registration-required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireOneLine(t, runSubprocess(e.ctx, t, tc.password, tc.args...), tc.cause)
			assert.Len(t, e.storedIDs(account), before, "nothing stored")
		})
	}
}

// TestProsodyPlain runs mamsync with -insecure-plain against a Prosody
// without TLS, and checks that without it mamsync refuses to log in there.
func TestProsodyPlain(t *testing.T) {
	e := startProsody(t, false)
	coven := e.srv.RoomJID(t, "coven")
	require.NoError(t, prosodytest.CreateRoom(e.ctx, e.aliceSeed, coven, "Alice"))
	e.seedChats("plain", 70)
	e.seedRoom(coven, "plain", 20)

	r := runSubprocess(e.ctx, t, testPassword, e.syncArgs(coven)...)
	require.Equal(t, exitOK, r.code, r.stderr)
	e.requireExact(historysync.Account(e.alice))
	e.requireExact(historysync.Room(coven))

	r = runSubprocess(e.ctx, t, testPassword, "-jid", e.alice.String(), "-db", e.dbPath, "-server", e.srv.Addr())
	requireOneLine(t, r, "TLS failed")
}

// TestProsodyWithoutMAM checks the error for a server that keeps no archive.
func TestProsodyWithoutMAM(t *testing.T) {
	e := startProsody(t, false, prosodytest.WithExtraConfig(`modules_disabled = { "s2s"; "offline"; "mam" }`))
	r := runSubprocess(e.ctx, t, testPassword, e.syncArgs()...)
	requireOneLine(t, r, "the server of alice@localhost does not archive messages")
}
