package submission

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/queue"
)

// BenchmarkAccept is the acceptance path end to end: SMTP over loopback
// into the real Pebble queue on disk, one synced commit per message before
// the 250, 16×GOMAXPROCS sessions each reusing its connection (RSET-free
// MAIL/RCPT/DATA loops). ns/op is per accepted message.
func BenchmarkAccept(b *testing.B) {
	addr := benchServer(b)
	body := append([]byte("From: app@example.org\r\nTo: rcpt@example.test\r\nSubject: bench\r\n\r\n"),
		bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"), 48)...) // ~3 KB
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.SetParallelism(16)
	smtptest.SubmitParallel(b, addr, body)
}

// BenchmarkGreeting is a session that only says hello: connect, banner,
// EHLO and its eight-line reply, QUIT, over loopback (what smtp-source
// does before every message). ns/op is per session, client included.
func BenchmarkGreeting(b *testing.B) {
	addr := benchServer(b)
	b.ReportAllocs()
	buf := make([]byte, 4096)
	read := func(c net.Conn, last string) {
		var got []byte
		for !bytes.Contains(got, []byte(last)) {
			n, err := c.Read(buf)
			if err != nil {
				b.Fatalf("read: %v (after %q)", err, got)
			}
			got = append(got, buf[:n]...)
		}
	}
	for b.Loop() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		read(c, "\r\n")
		c.Write([]byte("EHLO client.test\r\n"))
		read(c, "250 ")
		c.Write([]byte("QUIT\r\n"))
		read(c, "221 ")
		c.Close()
	}
}

// benchServer starts a submission server on loopback over a real on-disk
// queue, stopped when the benchmark ends, and returns its address.
func benchServer(b *testing.B) string {
	store, err := queue.Open(b.TempDir(), queue.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	srv, err := New(Options{
		Hostname:        "mx.test",
		Listen:          []string{"127.0.0.1:0"},
		Trusted:         []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		MaxMessageBytes: 1 << 20,
		MaxRecipients:   100,
		Store:           store,
		Clock:           clock.Real{},
		Logger:          zap.NewNop(),
		NewID:           queue.NewID,
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck // the benchmark is over
	})
	return srv.Addrs()[0].String()
}

// BenchmarkReceiveBody is one 3 KB DATA body through receiveBody into an
// in-memory spool and out as the queue's copy (load, discard): the
// per-message work and allocations of the body path, without a socket or
// the queue.
func BenchmarkReceiveBody(b *testing.B) {
	body := []byte("From: a@sender.test\r\nTo: b@rcpt.test\r\nSubject: bench\r\n\r\n" +
		string(bytes.Repeat([]byte("0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXY\r\n"), 46)))
	budget := &byteBudget{}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.RunParallel(func(pb *testing.PB) {
		r := bytes.NewReader(body)
		for pb.Next() {
			r.Reset(body)
			sp := newBodySpool("", 1<<20, budget)
			if err := receiveBody(r, sp, 1<<20); err != nil {
				b.Error(err)
				return
			}
			out, err := sp.load(4096)
			if err != nil || len(out) != 4096+len(body) {
				b.Errorf("load: %d bytes, %v", len(out), err)
				return
			}
			if err := sp.discard(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
