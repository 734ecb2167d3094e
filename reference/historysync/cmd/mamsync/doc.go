// Mamsync copies the message archives (XEP-0313, Message Archive Management)
// of an XMPP account and of its chat rooms into a local SQLite database, and
// exports them as JSON lines. It is the end-to-end example of package
// historysync: a small client that connects with mellium, catches up with a
// historysync.Syncer into a sqlitestore.Store, and can be stopped at any
// moment and run again.
//
// Usage:
//
//	mamsync -jid alice@example.net [-rooms room@conference.example.net,...] [-db history.db]
//	mamsync -db history.db -export jsonl -archive JID
//
// The first form logs in as the account, catches up the account's own
// archive and each room's archive, and prints a summary per archive. The
// second writes the stored messages of one archive (the account's or a
// room's JID) to standard output, one JSON object per line, in archive order.
//
// # Syncing
//
// The password comes from the MAMSYNC_PASSWORD environment variable, or is
// read from the terminal without echo. The connection uses StartTLS (TLS 1.2
// or later, certificate checked against the system roots, or only against the
// roots in -ca) and SASL SCRAM; the server is found through the domain's SRV
// records unless -server names it. -insecure-plain skips TLS: it is meant for
// a test server on this machine and is refused for any address that is not a
// loopback address.
//
// Before anything is fetched, mamsync checks that the server archives the
// account's messages and that each room exists and archives its messages,
// and joins each room (as -nick, default the account's local part, asking
// for no history: the archive is the history). It then catches up all
// archives, up to four at a time. Every page is committed to the database
// with the archive's ranges in one transaction, so an interrupted run
// (Ctrl-C, a lost connection, a killed process) loses nothing: the next run
// resumes where it stopped, without gaps or duplicates. A second run fetches
// only what is new.
//
// On a terminal, progress is shown as one bar per archive being fetched and
// a total (pages, messages, rate); otherwise as plain lines on standard
// error. The summary goes to standard output.
//
// A sync run locks the database for its whole duration, through the file
// FILE.lock next to it (an operating-system lock, released however the
// process ends): a second mamsync on the same database fails at once instead
// of interleaving its writes. -export only reads, and runs beside a sync.
//
// # Flags
//
//	-jid JID            account to log in as and to sync (required to sync)
//	-rooms LIST         comma-separated room JIDs to sync as well
//	-nick NICK          nickname to join the rooms with (default: the JID's local part)
//	-room-history H     how much of a room's archive to fetch the first time:
//	                    all (default), latest (the newest page only), or a
//	                    duration such as 720h; later runs fetch what is new
//	-db FILE            SQLite database (default history.db; created if missing)
//	-server HOST:PORT   address to connect to instead of the domain's SRV records
//	-ca FILE            PEM file of the roots to trust for the server's certificate
//	-insecure-plain     no TLS, for a test server on a loopback address only
//	-export jsonl       write the stored messages of -archive to standard output
//	-archive JID        archive to export (with -export)
//
// # Exit status
//
// 0 when every archive was synced (or exported); 1 when the run failed (the
// cause is printed on one line: bad credentials, unreachable server, a
// server or room without archives, a locked or corrupt database, ...) or an
// archive failed (the summary says which); 2 for a bad command line; 130
// when interrupted by SIGINT or SIGTERM (run it again to resume).
package main
