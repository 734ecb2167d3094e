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
//   - Archive ids are UUIDs with SQL storage and short random strings with
//     internal (file) storage; delay stamps have a resolution of one second, so
//     the archive id, not the stamp, orders messages within a second.
//   - A message to one's own bare JID is archived twice (the sent and the
//     received copy) under two archive ids with the same origin-id.
//   - A query with <max>0</max> returns the total in the RSM <count>; for the
//     account archive its <fin> then says complete='true' even when the archive
//     is not empty (no item was examined), for a MUC archive it omits complete.
//   - An RSM <after> or <before> id that the archive does not hold is answered
//     with an item-not-found (type modify) IQ error; a query to a room that does
//     not exist with item-not-found (type cancel).
package prosodytest
