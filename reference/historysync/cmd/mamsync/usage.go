package main

// usageText is what -h prints; doc.go says the same at more length.
const usageText = `Usage:
  mamsync -jid JID [-rooms ROOM,...] [-db FILE]     catch up the archives of JID and ROOMs
  mamsync -db FILE -export jsonl -archive JID       write a stored archive as JSON lines

The password is read from MAMSYNC_PASSWORD, or from the terminal.

Flags:
  -jid JID            account to log in as and to sync (required to sync)
  -rooms LIST         comma-separated room JIDs to sync as well
  -nick NICK          nickname to join the rooms with (default: the JID's local part)
  -room-history H     how much of a room's archive to fetch the first time:
                      all (default), latest (the newest page only), or a
                      duration such as 720h; later runs fetch what is new
  -db FILE            SQLite database (default history.db; created if missing)
  -server HOST:PORT   address to connect to instead of the domain's SRV records
  -ca FILE            PEM file of the roots to trust for the server's certificate
  -insecure-plain     no TLS, for a test server on a loopback address only
  -export jsonl       write the stored messages of -archive to standard output
  -archive JID        archive to export (with -export)

Exit status: 0 success, 1 failure (one line says why), 2 bad command line,
130 interrupted (run again to resume).
`
