// Package prosodytest runs a real Prosody 0.12 XMPP server on loopback for
// tests, and seeds it with real message archives (XEP-0313 MAM).
//
// It exists so that the history sync engine in reference/historysync can be
// tested against the archive behaviour of a real server (paging, RSM counts,
// stanza ids, error conditions) and not only against a fake.
//
// # Starting a server
//
// Each call to Start generates a configuration in its own temporary directory
// (on /dev/shm when available, see WithParentDir; loopback only, a free port, SQLite storage by default, MAM for accounts and
// for MUC rooms, archives that never expire), starts `prosody -F` as a child
// process and waits until the client port accepts connections. The server is
// stopped by t.Cleanup. A test may start several servers; they share nothing.
//
//	srv := prosodytest.Start(t)
//	alice := srv.Register(t, "alice", "secret")
//	sess := srv.Connect(t, alice, "secret", mux.New(stanza.NSClient, myOptions...))
//	err := prosodytest.SendChat(ctx, sess, bob, "hello", "world")
//	err = prosodytest.WaitArchiveCount(ctx, sess, alice.Bare(), 2)
//
// When prosody or prosodyctl is not installed, Start skips the test with a
// message telling how to install it. When the environment variable CI is
// "true", a missing Prosody fails the test instead, so that CI never skips the
// integration tests silently.
//
// # Sessions
//
// Server.Dial returns a negotiated client session (SASL SCRAM or PLAIN over
// plaintext loopback, resource bound). The caller serves it with its own
// handler, because the helpers in this package (CreateRoom, ArchiveCount, ...)
// send IQs whose replies are only delivered while Serve runs. Server.Connect
// does the dialling, serving and closing for a test.
//
// # Environment
//
//   - PROSODYTEST_DISABLE=1 makes Start behave as if Prosody were not
//     installed (to check the skip path: `PROSODYTEST_DISABLE=1 go test`).
//   - PROSODYTEST_LOG=1 copies Prosody's log into the test log even when the
//     test passes (it is always copied when the test fails).
//   - PROSODYTEST_LOGLEVEL=debug|info overrides the log level of every server.
//   - CI=true turns a missing Prosody into a test failure.
//
// # Prosody 0.12 behaviour worth knowing
//
// TestProsodyBehaviour pins these down for SQL and file storage:
//
//   - Archive ids are UUIDs with SQL storage and 24-character URL-safe random
//     strings with file storage. Delay stamps have a resolution of one second,
//     so within a second only the archive order (not the stamp) orders messages.
//   - <max> defaults to 20 and is clamped to 50 (max_archive_query_results).
//   - A chat is archived for the sender and for the recipient, even when the
//     recipient has no available session (it is then not delivered, and no
//     error comes back). A message to one's own bare JID is archived twice in
//     that archive, under two ids with the same origin-id and body.
//   - Live messages carry <stanza-id by=ARCHIVE id=ARCHIVE-ID>: by the
//     recipient's bare JID for chats (only delivered to an available session,
//     see Available), by the room for groupchat echoes. The id equals the
//     archive id.
//   - MUC archive results come from the room with from=room/nick; the
//     archived message has no to, and the <x> with the real JID is stripped
//     unless the room shows real JIDs to everyone. Groupchat is not archived in
//     the accounts' own archives.
//   - <fin> has complete='true' on the last page in the paging direction and
//     omits it otherwise; with <before/> the newest page arrives in archive
//     order and is complete only if it reaches the start. An empty archive
//     gives complete='true', count 0 and no first/last.
//   - A count-only query (<max>0</max>, see ArchiveCount) returns no results
//     and the total in the RSM <count>; the account archive then says
//     complete='true' even when it holds messages, a non-empty MUC archive
//     omits complete.
//   - Errors: an RSM <after>/<before> id the archive does not hold is
//     item-not-found of type modify (account and MUC archives alike); a room
//     that does not exist is item-not-found of type cancel; a members-only room
//     queried by a non-member is forbidden (auth); another account's archive
//     or an unknown account is service-unavailable (cancel).
//   - A restart (SIGTERM) ends every session, usually with a system-shutdown
//     stream error, sometimes by closing the connection before that error is
//     flushed (Serve then returns an XML "unexpected EOF" error).
//   - File storage keeps at most 10000 items per archive
//     (storage_archive_item_limit) and then truncates the oldest; SQL storage
//     has no limit (from the 0.12 source; not exercised by the tests).
//   - internal_hashed offers SCRAM-SHA-1 and PLAIN, not SCRAM-SHA-256.
package prosodytest
