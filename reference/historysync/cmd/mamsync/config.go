package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/mapleak/mapleak/reference/historysync"
)

// config is what the command line asks for, validated.
type config struct {
	// Sync mode.
	account       jid.JID   // -jid, bare
	rooms         []jid.JID // -rooms, bare, in the order given
	nick          string    // -nick: the nickname used to join the rooms
	server        string    // -server: host:port to dial instead of the domain's SRV records
	caFile        string    // -ca: PEM file of the only roots trusted for the server's certificate
	insecurePlain bool      // -insecure-plain: no TLS, for a test server on loopback
	roomPolicy    historysync.Policy

	// Export mode.
	export  string  // -export: "jsonl", or empty to sync
	archive jid.JID // -archive: the archive to export

	dbPath string // -db
}

// exportJSONL is the only -export format.
const exportJSONL = "jsonl"

// defaultXMPPPort is the client port used when -server has none.
const defaultXMPPPort = "5222"

// usageError is a command line that cannot be run: run prints it with a hint
// to -h and exits with status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf returns a *usageError.
func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// parseConfig parses and validates the command line (without the program
// name). Its errors are *usageError, or flag.ErrHelp when -h was given.
func parseConfig(args []string) (config, error) {
	var (
		cfg                                 config
		account, rooms, archive, roomPolicy string
	)
	fs := flag.NewFlagSet("mamsync", flag.ContinueOnError)
	// run prints the errors and the usage text (usageText, which describes
	// the flags) itself.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&account, "jid", "", "")
	fs.StringVar(&rooms, "rooms", "", "")
	fs.StringVar(&cfg.nick, "nick", "", "")
	fs.StringVar(&cfg.dbPath, "db", "history.db", "")
	fs.StringVar(&cfg.server, "server", "", "")
	fs.StringVar(&cfg.caFile, "ca", "", "")
	fs.BoolVar(&cfg.insecurePlain, "insecure-plain", false, "")
	fs.StringVar(&roomPolicy, "room-history", "all", "")
	fs.StringVar(&cfg.export, "export", "", "")
	fs.StringVar(&archive, "archive", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config{}, err
		}
		return config{}, &usageError{err}
	}
	if fs.NArg() > 0 {
		return config{}, usageErrorf("unexpected argument %q (rooms go in -rooms, comma-separated)", fs.Arg(0))
	}
	if cfg.dbPath == "" {
		return config{}, usageErrorf("-db must name the database file")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.export != "" {
		return cfg.validateExport(archive, set)
	}
	return cfg.validateSync(account, rooms, roomPolicy, set)
}

// validateExport checks the flags of export mode.
func (cfg config) validateExport(archive string, set map[string]bool) (config, error) {
	if cfg.export != exportJSONL {
		return config{}, usageErrorf("-export %q: the only format is %q", cfg.export, exportJSONL)
	}
	for _, name := range []string{"jid", "rooms", "nick", "server", "ca", "insecure-plain", "room-history"} {
		if set[name] {
			return config{}, usageErrorf("-%s is for syncing; -export only reads the database", name)
		}
	}
	if archive == "" {
		return config{}, usageErrorf("-export needs -archive JID (the account's or a room's)")
	}
	j, err := parseBareJID(archive)
	if err != nil {
		return config{}, usageErrorf("-archive: %w", err)
	}
	cfg.archive = j
	return cfg, nil
}

// validateSync checks the flags of sync mode.
func (cfg config) validateSync(account, rooms, roomPolicy string, set map[string]bool) (config, error) {
	if set["archive"] {
		return config{}, usageErrorf("-archive selects what -export writes; it needs -export jsonl")
	}
	if account == "" {
		return config{}, usageErrorf("-jid is required: the account to sync, such as alice@example.net")
	}
	j, err := parseBareJID(account)
	if err != nil {
		return config{}, usageErrorf("-jid: %w", err)
	}
	if j.Localpart() == "" {
		return config{}, usageErrorf("-jid %s: an account JID has a local part (user@domain)", j)
	}
	cfg.account = j
	if cfg.rooms, err = parseRooms(rooms, j); err != nil {
		return config{}, usageErrorf("-rooms: %w", err)
	}
	if cfg.nick == "" {
		cfg.nick = j.Localpart()
	}
	if cfg.roomPolicy, err = parseRoomHistory(roomPolicy); err != nil {
		return config{}, usageErrorf("-room-history: %w", err)
	}
	if cfg.server != "" {
		if cfg.server, err = serverAddress(cfg.server); err != nil {
			return config{}, usageErrorf("-server: %w", err)
		}
	}
	if cfg.insecurePlain {
		if cfg.caFile != "" {
			return config{}, usageErrorf("-ca and -insecure-plain exclude each other: -insecure-plain uses no TLS")
		}
		if cfg.server == "" {
			return config{}, usageErrorf("-insecure-plain needs -server with a loopback address, such as 127.0.0.1:5222")
		}
		if err := requireLoopbackHost(cfg.server); err != nil {
			return config{}, usageErrorf("-insecure-plain: %w", err)
		}
	}
	return cfg, nil
}

// parseBareJID parses s as a JID without a resource part.
func parseBareJID(s string) (jid.JID, error) {
	j, err := jid.Parse(s)
	if err != nil {
		return jid.JID{}, fmt.Errorf("invalid JID %q: %w", s, err)
	}
	if j.Resourcepart() != "" {
		return jid.JID{}, fmt.Errorf("%q has a resource part; give the bare JID %s", s, j.Bare())
	}
	return j, nil
}

// parseRooms parses the comma-separated room JIDs of -rooms.
func parseRooms(list string, account jid.JID) ([]jid.JID, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var rooms []jid.JID
	for field := range strings.SplitSeq(list, ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			return nil, fmt.Errorf("empty room in %q", list)
		}
		room, err := parseBareJID(field)
		if err != nil {
			return nil, err
		}
		if room.Localpart() == "" {
			return nil, fmt.Errorf("%s is not a room JID (room@service)", room)
		}
		if room.Equal(account) {
			return nil, fmt.Errorf("%s is the account itself; its archive is always synced", room)
		}
		for _, seen := range rooms {
			if seen.Equal(room) {
				return nil, fmt.Errorf("%s is listed twice", room)
			}
		}
		rooms = append(rooms, room)
	}
	return rooms, nil
}

// parseRoomHistory turns -room-history into the room archives' Policy:
// "all" fetches the whole archive, "latest" the newest page (then only what
// is newer), a duration such as 720h what is newer than that.
func parseRoomHistory(s string) (historysync.Policy, error) {
	// Zero fields keep the library's defaults (live extension while joined).
	// No cap per run: one run catches the room up completely.
	p := historysync.Policy{MaxMessages: historysync.Unlimited}
	switch s {
	case "all":
		p.FirstSync = historysync.FirstSyncAll
	case "latest":
		p.FirstSync = historysync.FirstSyncLatest
	default:
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return historysync.Policy{}, fmt.Errorf("%q is not all, latest or a positive duration such as 720h", s)
		}
		p.FirstSync, p.Since = historysync.FirstSyncSince, d
	}
	return p, nil
}

// serverAddress checks -server and adds the default port when it has none.
func serverAddress(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// No port (or a bare IPv6 address): use the default one.
		host, port = strings.Trim(s, "[]"), defaultXMPPPort
	}
	if host == "" {
		return "", fmt.Errorf("%q has no host", s)
	}
	return net.JoinHostPort(host, port), nil
}

// requireLoopbackHost refuses a -server whose host is not a loopback IP
// address or "localhost". connect checks the address it actually reached as
// well.
func requireLoopbackHost(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("refusing to send the password without TLS to %s: not a loopback address", host)
}
