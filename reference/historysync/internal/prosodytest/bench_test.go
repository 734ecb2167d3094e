package prosodytest_test

import (
	"testing"
	"time"

	"mellium.im/sasl"

	"github.com/mapleak/mapleak/reference/historysync/internal/prosodytest"
)

// storages are the backends the benchmarks compare. File storage reads a whole
// archive for every query (counts included), so its figures fall as the
// archive grows: compare with a fixed -benchtime, e.g. 10x.
var storages = []prosodytest.Storage{prosodytest.StorageSQL, prosodytest.StorageInternal}

// BenchmarkLogin measures a full client login: TCP, stream, SASL, bind.
func BenchmarkLogin(b *testing.B) {
	srv := prosodytest.Start(b)
	alice := srv.Register(b, "alice", password)
	for _, mech := range []sasl.Mechanism{sasl.ScramSha1, sasl.Plain} {
		b.Run(mech.Name, func(b *testing.B) {
			ctx := testCtx(b)
			start := time.Now()
			for b.Loop() {
				sess, err := srv.Dial(ctx, alice, password, prosodytest.Mechanisms(mech))
				if err != nil {
					b.Fatal(err)
				}
				sess.Close()
				sess.Conn().Close()
			}
			b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/login")
		})
	}
}

const seedBatch = 500

// BenchmarkSeedChat measures seeding one-to-one chats until they are in the
// recipient's archive (each lands in two archives).
func BenchmarkSeedChat(b *testing.B) {
	for _, storage := range storages {
		b.Run(string(storage), func(b *testing.B) {
			srv := prosodytest.Start(b, prosodytest.WithStorage(storage))
			ctx := testCtx(b)
			alice := connect(b, srv, srv.Register(b, "alice", password))
			bob := connect(b, srv, srv.Register(b, "bob", password))
			batch := numbered("seed", seedBatch)
			total := 0
			start := time.Now()
			for b.Loop() {
				if err := prosodytest.SendChat(ctx, alice.sess, bob.jid, batch...); err != nil {
					b.Fatal(err)
				}
				total += seedBatch
				if err := prosodytest.WaitArchiveCount(ctx, bob.sess, bob.jid, total); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(total)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// BenchmarkSeedGroupchat measures seeding groupchat messages until they are in
// the room's archive.
func BenchmarkSeedGroupchat(b *testing.B) {
	for _, storage := range storages {
		b.Run(string(storage), func(b *testing.B) {
			srv := prosodytest.Start(b, prosodytest.WithStorage(storage))
			ctx := testCtx(b)
			alice := connect(b, srv, srv.Register(b, "alice", password))
			room := srv.RoomJID(b, "bench")
			if err := prosodytest.CreateRoom(ctx, alice.sess, room, "Alice"); err != nil {
				b.Fatal(err)
			}
			batch := numbered("seed", seedBatch)
			total := 0
			start := time.Now()
			for b.Loop() {
				if err := prosodytest.SendGroupchat(ctx, alice.sess, room, batch...); err != nil {
					b.Fatal(err)
				}
				total += seedBatch
				if err := prosodytest.WaitArchiveCount(ctx, alice.sess, room, total); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(total)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// BenchmarkReadAll measures sequential MAM paging (pages of 50) over an
// archive of 1000 messages.
func BenchmarkReadAll(b *testing.B) {
	for _, storage := range storages {
		b.Run(string(storage), func(b *testing.B) {
			srv := prosodytest.Start(b, prosodytest.WithStorage(storage))
			ctx := testCtx(b)
			alice := connect(b, srv, srv.Register(b, "alice", password))
			room := srv.RoomJID(b, "bench")
			if err := prosodytest.CreateRoom(ctx, alice.sess, room, "Alice"); err != nil {
				b.Fatal(err)
			}
			if err := prosodytest.SendGroupchat(ctx, alice.sess, room, numbered("m", 1000)...); err != nil {
				b.Fatal(err)
			}
			if err := prosodytest.WaitArchiveCount(ctx, alice.sess, room, 1000); err != nil {
				b.Fatal(err)
			}
			pages := 0
			start := time.Now()
			for b.Loop() {
				msgs, err := alice.reader.ReadAll(ctx, alice.sess, room)
				if err != nil || len(msgs) != 1000 {
					b.Fatalf("read %d messages: %v", len(msgs), err)
				}
				pages += 20
			}
			elapsed := time.Since(start).Seconds()
			b.ReportMetric(float64(pages)/elapsed, "pages/s")
			b.ReportMetric(float64(pages*50)/elapsed, "msgs/s")
		})
	}
}
