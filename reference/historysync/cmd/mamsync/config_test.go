package main

import (
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mellium.im/xmpp/jid"

	"github.com/mapleak/mapleak/reference/historysync"
)

func TestParseConfigSync(t *testing.T) {
	cfg, err := parseConfig([]string{"-jid", "alice@example.net", "-rooms", "a@conf.example.net, b@conf.example.net", "-db", "x.db"})
	require.NoError(t, err)
	assert.True(t, cfg.account.Equal(jid.MustParse("alice@example.net")))
	require.Len(t, cfg.rooms, 2)
	assert.True(t, cfg.rooms[0].Equal(jid.MustParse("a@conf.example.net")))
	assert.True(t, cfg.rooms[1].Equal(jid.MustParse("b@conf.example.net")))
	assert.Equal(t, "x.db", cfg.dbPath)
	assert.Equal(t, "alice", cfg.nick, "the nick defaults to the local part")
	assert.Empty(t, cfg.server, "the server comes from SRV records")
	assert.False(t, cfg.insecurePlain)
	assert.Empty(t, cfg.export)
	assert.Equal(t, historysync.FirstSyncAll, cfg.roomPolicy.FirstSync, "rooms are fetched whole by default")
	assert.Equal(t, historysync.Unlimited, cfg.roomPolicy.MaxMessages, "no cap per run")
}

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := parseConfig([]string{"-jid", "alice@example.net"})
	require.NoError(t, err)
	assert.Equal(t, "history.db", cfg.dbPath)
	assert.Empty(t, cfg.rooms)
}

func TestParseConfigOptions(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, cfg config)
	}{
		{"server with port", []string{"-jid", "a@b.c", "-server", "xmpp.b.c:5223"}, func(t *testing.T, cfg config) {
			assert.Equal(t, "xmpp.b.c:5223", cfg.server)
		}},
		{"server without port", []string{"-jid", "a@b.c", "-server", "xmpp.b.c"}, func(t *testing.T, cfg config) {
			assert.Equal(t, "xmpp.b.c:5222", cfg.server)
		}},
		{"IPv6 server without port", []string{"-jid", "a@b.c", "-server", "[::1]"}, func(t *testing.T, cfg config) {
			assert.Equal(t, "[::1]:5222", cfg.server)
		}},
		{"insecure on IPv4 loopback", []string{"-jid", "a@b.c", "-server", "127.0.0.1:5222", "-insecure-plain"}, func(t *testing.T, cfg config) {
			assert.True(t, cfg.insecurePlain)
		}},
		{"insecure on IPv6 loopback", []string{"-jid", "a@b.c", "-server", "[::1]:5222", "-insecure-plain"}, func(t *testing.T, cfg config) {
			assert.True(t, cfg.insecurePlain)
		}},
		{"insecure on localhost", []string{"-jid", "a@b.c", "-server", "localhost", "-insecure-plain"}, func(t *testing.T, cfg config) {
			assert.Equal(t, "localhost:5222", cfg.server)
		}},
		{"CA file", []string{"-jid", "a@b.c", "-ca", "ca.pem"}, func(t *testing.T, cfg config) {
			assert.Equal(t, "ca.pem", cfg.caFile)
		}},
		{"nick", []string{"-jid", "a@b.c", "-nick", "Alice W."}, func(t *testing.T, cfg config) {
			assert.Equal(t, "Alice W.", cfg.nick)
		}},
		{"latest room history", []string{"-jid", "a@b.c", "-room-history", "latest"}, func(t *testing.T, cfg config) {
			assert.Equal(t, historysync.FirstSyncLatest, cfg.roomPolicy.FirstSync)
		}},
		{"room history by duration", []string{"-jid", "a@b.c", "-room-history", "720h"}, func(t *testing.T, cfg config) {
			assert.Equal(t, historysync.FirstSyncSince, cfg.roomPolicy.FirstSync)
			assert.Equal(t, 720*time.Hour, cfg.roomPolicy.Since)
		}},
		{"export", []string{"-db", "h.db", "-export", "jsonl", "-archive", "room@conf.b.c"}, func(t *testing.T, cfg config) {
			assert.Equal(t, "jsonl", cfg.export)
			assert.True(t, cfg.archive.Equal(jid.MustParse("room@conf.b.c")))
			assert.Equal(t, "h.db", cfg.dbPath)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig(tc.args)
			require.NoError(t, err)
			tc.check(t, cfg)
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no jid", nil, "-jid is required"},
		{"invalid jid", []string{"-jid", "a@b@c"}, "-jid: invalid JID"},
		{"jid with resource", []string{"-jid", "a@b.c/phone"}, "has a resource part; give the bare JID a@b.c"},
		{"jid without local part", []string{"-jid", "b.c"}, "an account JID has a local part"},
		{"unknown flag", []string{"-jid", "a@b.c", "-verbose"}, "flag provided but not defined: -verbose"},
		{"positional argument", []string{"-jid", "a@b.c", "room@conf.b.c"}, `unexpected argument "room@conf.b.c"`},
		{"empty db", []string{"-jid", "a@b.c", "-db", ""}, "-db must name the database file"},
		{"empty room", []string{"-jid", "a@b.c", "-rooms", "r@conf.b.c,,s@conf.b.c"}, "-rooms: empty room"},
		{"room without local part", []string{"-jid", "a@b.c", "-rooms", "conf.b.c"}, "conf.b.c is not a room JID"},
		{"room with resource", []string{"-jid", "a@b.c", "-rooms", "r@conf.b.c/nick"}, "has a resource part"},
		{"room twice", []string{"-jid", "a@b.c", "-rooms", "r@conf.b.c,R@conf.b.c"}, "r@conf.b.c is listed twice"},
		{"account as room", []string{"-jid", "a@b.c", "-rooms", "a@b.c"}, "is the account itself"},
		{"bad room history", []string{"-jid", "a@b.c", "-room-history", "forever"}, `-room-history: "forever" is not all, latest or a positive duration`},
		{"negative room history", []string{"-jid", "a@b.c", "-room-history", "-5h"}, "positive duration"},
		{"server without host", []string{"-jid", "a@b.c", "-server", ":5222"}, "-server: \":5222\" has no host"},
		{"insecure without server", []string{"-jid", "a@b.c", "-insecure-plain"}, "-insecure-plain needs -server with a loopback address"},
		{"insecure to a remote host", []string{"-jid", "a@b.c", "-server", "xmpp.b.c:5222", "-insecure-plain"}, "refusing to send the password without TLS to xmpp.b.c"},
		{"insecure to a LAN address", []string{"-jid", "a@b.c", "-server", "192.168.1.2", "-insecure-plain"}, "not a loopback address"},
		{"insecure with CA", []string{"-jid", "a@b.c", "-server", "127.0.0.1", "-insecure-plain", "-ca", "ca.pem"}, "-ca and -insecure-plain exclude each other"},
		{"archive without export", []string{"-jid", "a@b.c", "-archive", "a@b.c"}, "-archive selects what -export writes"},
		{"unknown export format", []string{"-export", "csv", "-archive", "a@b.c"}, `-export "csv": the only format is "jsonl"`},
		{"export without archive", []string{"-export", "jsonl"}, "-export needs -archive"},
		{"export with sync flags", []string{"-export", "jsonl", "-archive", "a@b.c", "-jid", "a@b.c"}, "-jid is for syncing"},
		{"export of a full JID", []string{"-export", "jsonl", "-archive", "a@b.c/x"}, "-archive: \"a@b.c/x\" has a resource part"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig(tc.args)
			var usage *usageError
			require.ErrorAs(t, err, &usage)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestParseConfigHelp(t *testing.T) {
	_, err := parseConfig([]string{"-h"})
	require.ErrorIs(t, err, flag.ErrHelp)
	var usage *usageError
	assert.NotErrorAs(t, err, &usage)
}

// TestRunUsage checks what a bad command line and -h print, and their exit
// statuses.
func TestRunUsage(t *testing.T) {
	r := runInProcess(t, "", "-h")
	assert.Equal(t, exitOK, r.code)
	assert.Equal(t, usageText, r.stdout)
	assert.Empty(t, r.stderr)

	r = runInProcess(t, "", "-rooms", "r@conf.b.c")
	assert.Equal(t, exitUsage, r.code)
	assert.Empty(t, r.stdout)
	assert.Equal(t, "mamsync: -jid is required: the account to sync, such as alice@example.net\nRun mamsync -h for usage.\n", r.stderr)
}
