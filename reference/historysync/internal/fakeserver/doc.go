// Package fakeserver is an in-process fake XMPP server for testing Message
// Archive Management (XEP-0313, urn:xmpp:mam:2) clients built on
// mellium.im/xmpp.
//
// A [Server] serves one client account. It keeps one [Archive] per bare JID:
// the account's own archive (the user archive) and any number of MUC room
// archives. Archives page like Prosody 0.12 with mod_mam / mod_muc_mam:
// RSM (XEP-0059) <max> is clamped to 50 and defaults to 20, <after/>,
// <before/> and the empty <before/> (newest page) are honoured, an unknown RSM
// id is answered with item-not-found, results are sent as messages before the
// IQ result, and <fin complete='true'> is only set when the page reaches the
// end of the archive in the query direction.
//
// [Server.Connect] negotiates a client session over [net.Pipe] (SASL PLAIN and
// resource binding, done by mellium on both sides) and returns the client side,
// ready to be served by the caller:
//
//	srv := fakeserver.New()
//	defer srv.Close()
//	room := srv.Archive(jid.MustParse("room@conference.example.net"))
//	room.Append(fakeserver.Message{From: jid.MustParse("room@conference.example.net/romeo"), Body: "hi"})
//	sess, err := srv.Connect(ctx)
//	...
//	go sess.Serve(mux.New(stanza.NSClient, ...))
//
// After negotiation the server side does not use mellium's Serve: it reads
// stanzas from the session's token reader and writes raw XML, so that every
// misbehaviour a real server (or a network) can show is scriptable per query
// with [Server.Script] and a [Fault]: stanza errors, missing or malformed
// <fin/>, pretty-printed XML, late results, results with unknown query ids or
// from spoofed JIDs, replies from spoofed JIDs, silence, slow replies,
// disconnects in the middle of a page and floods. [Server.StallReads] makes the
// server stop reading the client's stream, so that the client's writes block;
// [Server.Freeze] makes it read but answer nothing, pings included, as a hung
// server process.
//
// Tests synchronise with the server without sleeping through
// [Server.WaitQueries] and [Server.WaitStats], and check its behaviour through
// [Server.Stats] and [Server.Queries]. [Server.Close] ends every connection and
// waits for every goroutine the server started, so goleak-checked tests stay
// clean.
//
// The server never panics on odd client input: a stanza it cannot parse is
// logged and ends that connection.
package fakeserver
