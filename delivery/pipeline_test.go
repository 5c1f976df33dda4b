package delivery

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/smtptest"
)

// turnDialer counts the client's turns: each time it waits for the server
// after writing. The greeting (read before any write) is not a turn.
type turnDialer struct {
	net.Dialer
	mu    sync.Mutex
	turns int
}

func (d *turnDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := d.Dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &turnConn{Conn: c, d: d}, nil
}

func (d *turnDialer) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.turns
}

type turnConn struct {
	net.Conn
	d     *turnDialer
	wrote bool
}

func (c *turnConn) Write(p []byte) (int, error) {
	c.wrote = true
	return c.Conn.Write(p)
}

func (c *turnConn) Read(p []byte) (int, error) {
	if c.wrote {
		c.d.mu.Lock()
		c.d.turns++
		c.d.mu.Unlock()
		c.wrote = false
	}
	return c.Conn.Read(p)
}

func rcpts(n int, domain string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("user%d@%s", i, domain)
	}
	return out
}

// TestRoundTrips50Recipients shows what PIPELINING buys: a 50-recipient
// transaction costs MAIL + 50 RCPT + DATA + body = 53 round trips in
// lock-step and 2 pipelined (MAIL..DATA in one write, then the body).
func TestRoundTrips50Recipients(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      []smtptest.Option
		wantTxn   int
		wantTotal int
	}{
		{"lock-step", []smtptest.Option{smtptest.WithoutExtension("PIPELINING")}, 53, 54},
		{"pipelined", nil, 2, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, mx := oneMX(t, tc.opts...)
			td := &turnDialer{}
			d := e.deliverer(func(o *Options) { o.Dialer = td })
			rs := d.Deliver(ctxT(t), job("x.test", rcpts(50, "x.test")...))
			wantAll(t, rs, 50, 250, "2.0.0", StageData)
			if m := mx.Messages(); len(m) != 1 || len(m[0].To) != 50 {
				t.Fatalf("server got %d messages", len(m))
			}
			total := td.count() // EHLO + the transaction; QUIT comes later (idle pool)
			t.Logf("%s: %d round trips for a 50-recipient transaction (%d with EHLO)", tc.name, total-1, total)
			if total-1 != tc.wantTxn || total != tc.wantTotal {
				t.Errorf("%d round trips, want %d (+1 for EHLO)", total-1, tc.wantTxn)
			}
			if tc.name == "pipelined" && total > 4 {
				t.Errorf("pipelined: %d round trips, want at most 4", total)
			}
		})
	}
}

// TestTooManyRecipientsNewTransaction: a server that takes 10 recipients
// per transaction answers 452 4.5.3 to the rest; they go in further
// transactions on the same connection, none bounced.
func TestTooManyRecipientsNewTransaction(t *testing.T) {
	for _, mode := range []string{"pipelined", "lock-step"} {
		t.Run(mode, func(t *testing.T) {
			opts := []smtptest.Option{smtptest.WithMaxRecipients(10)}
			if mode == "lock-step" {
				opts = append(opts, smtptest.WithoutExtension("PIPELINING"))
			}
			e, mx := oneMX(t, opts...)
			rs := e.deliverer().Deliver(ctxT(t), job("x.test", rcpts(25, "x.test")...))
			wantAll(t, rs, 25, 250, "2.0.0", StageData)
			m := mx.Messages()
			if len(m) != 3 || len(m[0].To) != 10 || len(m[1].To) != 10 || len(m[2].To) != 5 || mx.Conns() != 1 {
				t.Errorf("%d messages on %d connections; want 10+10+5 on 1", len(m), mx.Conns())
			}
		})
	}
}

// TestTooManyRecipientsNoProgress: a server that takes no recipient at
// all leaves everyone a soft 452, after one transaction, not a loop.
func TestTooManyRecipientsNoProgress(t *testing.T) {
	e, mx := oneMX(t, smtptest.WithRcpt(func(string) error {
		return smtptest.Reply(452, "4.5.3", "too many recipients")
	}))
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "a@x.test", "b@x.test"))
	wantAll(t, rs, 2, 452, "4.5.3", StageRcpt)
	if len(mx.Messages()) != 0 {
		t.Error("a message was sent")
	}
}

func TestOver100RecipientsTwoTransactions(t *testing.T) {
	e, mx := oneMX(t, smtptest.WithMaxRecipients(1000))
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", rcpts(150, "x.test")...))
	wantAll(t, rs, 150, 250, "2.0.0", StageData)
	if m := mx.Messages(); len(m) != 2 || len(m[0].To) != 100 || len(m[1].To) != 50 {
		t.Errorf("server got %d messages", len(m))
	}
}

// TestPipelinedMailRefusedThenReuse: a refused MAIL is everyone's result;
// the replies to the pipelined RCPTs and DATA are read and the connection
// stays in step: the next job on it (after RSET) is delivered.
func TestPipelinedMailRefusedThenReuse(t *testing.T) {
	var mu sync.Mutex
	n := 0
	e, mx := oneMX(t, smtptest.WithMail(func(string) error {
		mu.Lock()
		defer mu.Unlock()
		if n++; n == 1 {
			return smtptest.Reply(550, "5.7.1", "sender blocked")
		}
		return nil
	}))
	d := e.deliverer()
	rs := d.Deliver(ctxT(t), job("x.test", "a@x.test", "b@x.test"))
	wantAll(t, rs, 2, 550, "5.7.1", StageMail)
	rs = d.Deliver(ctxT(t), job("x.test", "a@x.test", "b@x.test"))
	wantAll(t, rs, 2, 250, "2.0.0", StageData)
	if mx.Conns() != 1 || len(mx.Messages()) != 1 {
		t.Errorf("%d connections, %d messages; want 1, 1", mx.Conns(), len(mx.Messages()))
	}
}

// TestPipelinedNoRecipientThenReuse: every RCPT refused, so the pipelined
// DATA is refused too and no body is sent; the connection is reused.
func TestPipelinedNoRecipientThenReuse(t *testing.T) {
	e, mx := oneMX(t, smtptest.WithRcpt(func(to string) error {
		if strings.HasPrefix(to, "bad") {
			return smtptest.Reply(550, "5.1.1", "no such user")
		}
		return nil
	}))
	d := e.deliverer()
	rs := d.Deliver(ctxT(t), job("x.test", "bad1@x.test", "bad2@x.test"))
	wantAll(t, rs, 2, 550, "5.1.1", StageRcpt)
	rs = d.Deliver(ctxT(t), job("x.test", "good@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if mx.Conns() != 1 || len(mx.Messages()) != 1 {
		t.Errorf("%d connections, %d messages; want 1, 1", mx.Conns(), len(mx.Messages()))
	}
}

func TestMidSession421LockStep(t *testing.T) {
	e, mx := oneMX(t, smtptest.WithoutExtension("PIPELINING"), smtptest.WithRcpt(func(to string) error {
		if to == "b@x.test" {
			return smtptest.Reply(421, "4.7.0", "closing")
		}
		return nil
	}))
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "a@x.test", "b@x.test", "c@x.test"))
	wantAll(t, rs, 3, 421, "4.7.0", StageRcpt)
	if len(mx.Messages()) != 0 {
		t.Error("a message was sent")
	}
}

// TestEightBitMIME: BODY=8BITMIME only for an 8-bit body, SIZE always,
// SMTPUTF8 for a non-ASCII address.
func TestEightBitMIME(t *testing.T) {
	e, mx := oneMX(t)
	d := e.deliverer()
	j := job("x.test", "a@x.test")
	j.Body = []byte("Subject: caf\xc3\xa9\r\n\r\nd\xc3\xa9j\xc3\xa0 vu\r\n")
	wantAll(t, d.Deliver(ctxT(t), j), 1, 250, "2.0.0", StageData)
	wantAll(t, d.Deliver(ctxT(t), job("x.test", "a@x.test")), 1, 250, "2.0.0", StageData)
	wantAll(t, d.Deliver(ctxT(t), job("x.test", "jörg@x.test")), 1, 250, "2.0.0", StageData)
	m := mx.Messages()
	if len(m) != 3 {
		t.Fatalf("%d messages", len(m))
	}
	if m[0].Body != "8BITMIME" || m[1].Body != "" || m[0].Size != int64(len(j.Body)) {
		t.Errorf("BODY %q then %q, SIZE %d (body %d)", m[0].Body, m[1].Body, m[0].Size, len(j.Body))
	}
	if m[1].UTF8 || !m[2].UTF8 {
		t.Errorf("SMTPUTF8: %v, %v; want false, true", m[1].UTF8, m[2].UTF8)
	}
}

// TestEightBitWithout8BITMIME: an 8-bit body is never sent raw to a
// server without 8BITMIME: 5.6.3, nothing sent; a 7-bit one goes.
func TestEightBitWithout8BITMIME(t *testing.T) {
	e, mx := oneMX(t, smtptest.WithoutExtension("8BITMIME"))
	d := e.deliverer()
	j := job("x.test", "a@x.test", "b@x.test")
	j.Body = []byte("Subject: x\r\n\r\n\xff\xfe\r\n")
	rs := d.Deliver(ctxT(t), j)
	wantAll(t, rs, 2, 0, "5.6.3", StageMail)
	if len(mx.Messages()) != 0 {
		t.Fatal("8-bit body sent to a server without 8BITMIME")
	}
	wantAll(t, d.Deliver(ctxT(t), job("x.test", "a@x.test")), 1, 250, "2.0.0", StageData)
}

// TestBodyWriteDeadline: a server that stops reading in the middle of the
// body is dropped after CommandTimeout of silence (go-smtp sets no
// deadline while the body is written).
func TestBodyWriteDeadline(t *testing.T) {
	e := newEnv(t)
	e.dns.MX("x.test", 10, "mx.x.test")
	e.dns.A("mx.x.test", "127.0.0.2")
	stuck := stuckServer(t, fmt.Sprintf("127.0.0.2:%d", e.port))
	// A long DataTimeout: only the write deadline can end this quickly.
	d := e.deliverer(func(o *Options) { o.CommandTimeout, o.DataTimeout = 300*time.Millisecond, time.Minute })
	j := job("x.test", "a@x.test")
	j.Body = bytes.Repeat([]byte(strings.Repeat("x", 76)+"\r\n"), 200_000) // 15.6 MB: more than socket buffers hold
	start := time.Now()
	rs := d.Deliver(ctxT(t), j)
	wantAll(t, rs, 1, 0, "4.4.2", StageData)
	// Ended by the write deadline, not the minute-long DataTimeout (the
	// bound is loose: under -race on a loaded machine writing the 15.6 MB
	// into the socket buffers alone takes seconds).
	if took := time.Since(start); took > 40*time.Second {
		t.Errorf("took %v with a 300ms command timeout and a 1m data timeout", took)
	}
	close(stuck)
}

// stuckServer answers up to 354 and then never reads again.
func stuckServer(t *testing.T, addr string) chan struct{} {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.(*net.TCPConn).SetReadBuffer(16 << 10)
		r := bufio.NewReader(c)
		fmt.Fprint(c, "220 stuck ESMTP\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch strings.ToUpper(strings.TrimSpace(line))[:4] {
			case "EHLO":
				fmt.Fprint(c, "250-stuck\r\n250 8BITMIME\r\n")
			case "DATA":
				fmt.Fprint(c, "354 go on\r\n")
				<-done
				return
			default:
				fmt.Fprint(c, "250 ok\r\n")
			}
		}
	}()
	return done
}
