package submission

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/smtptest"
)

// Security issue 22, defect 5: 2,000 connections at once from 2,000
// untrusted addresses (127.1.x.y, 20 in each of 100 /24s) while only
// 127.0.0.1 is trusted. Every refused one gets a 421 (none is closed
// unanswered), and a client from the trusted network is still served.
func TestUntrustedFloodLeavesTrustedSlots(t *testing.T) {
	e := start(t, func(o *Options) {
		o.Trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		o.ReadTimeout = time.Minute
	})
	const n, workers = 2000, 50
	var mu sync.Mutex
	var held []*rawConn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	firsts := map[string]int{}
	var silent []string
	sessions := 0
	work := make(chan string)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for from := range work {
				c, first, err := tryDialFrom(e.addr, from)
				mu.Lock()
				switch {
				case err != nil:
					silent = append(silent, fmt.Sprintf("%s: %v", from, err))
				case strings.HasPrefix(first, "220 "):
					held = append(held, c)
					firsts["220"]++
					sessions++
				default:
					firsts[first]++
					held = append(held, c) // a flood does not hang up
				}
				mu.Unlock()
			}
		}()
	}
	began := time.Now()
	for i := range n {
		work <- fmt.Sprintf("127.1.%d.%d", i/20, 1+i%20)
	}
	close(work)
	wg.Wait()
	t.Logf("%d untrusted connections in %v: %d silent, first lines %v", n, time.Since(began).Round(time.Millisecond), len(silent), firsts)
	if len(silent) > 0 {
		t.Errorf("%d connections got no reply, e.g. %s", len(silent), silent[0])
	}
	for first, count := range firsts {
		if first != "220" && !strings.HasPrefix(first, "421 ") {
			t.Errorf("%d connections got %q", count, first)
		}
	}
	began = time.Now()
	id := smtptest.Submit(t, e.addr, "app@sender.test", "x@example.test")
	t.Logf("trusted client served in %v while %d untrusted sessions are held", time.Since(began).Round(time.Millisecond), sessions)
	if id == "" {
		t.Fatal("trusted client not served")
	}
}

// keepAlive sends line every tick until the server answers with a 421 (and
// closes), for at most limit; it returns that reply and when it came.
func keepAlive(t *testing.T, c *client, line string, tick, limit time.Duration) (string, time.Duration) {
	t.Helper()
	began := time.Now()
	tk := time.NewTicker(tick)
	defer tk.Stop()
	c.c.SetDeadline(began.Add(limit + 5*time.Second))
	for time.Since(began) < limit {
		c.write(line + "\r\n")
		if got := c.read(); strings.HasPrefix(got, "421 ") {
			return got, time.Since(began)
		}
		<-tk.C
	}
	t.Fatalf("session still open after %v of %q", limit, line)
	return "", 0
}

// NOOP, RSET and HELP are no progress: a session sending only them is idle
// and times out after ReadTimeout (it used to be kept open by each one).
func TestNoopDoesNotResetIdle(t *testing.T) {
	e := start(t, func(o *Options) { o.ReadTimeout, o.MaxSessionDuration = time.Second, -1 })
	for _, cmd := range []string{"NOOP", "RSET", "HELP"} {
		c := e.dial(t)
		c.cmd("EHLO client.test", "250 ")
		got, after := keepAlive(t, c, cmd, 100*time.Millisecond, 10*time.Second)
		t.Logf("%s every 100ms: %q after %v (read timeout 1s)", cmd, got, after.Round(time.Millisecond))
		if !strings.HasPrefix(got, "421 4.4.2 ") {
			t.Fatalf("got %q", got)
		}
		c.closed()
	}
}

// Even a session making progress (MAIL, RCPT, RSET from a trusted client)
// ends at MaxSessionDuration.
func TestMaxSessionDuration(t *testing.T) {
	e := start(t, func(o *Options) { o.ReadTimeout, o.MaxSessionDuration = 10*time.Second, time.Second })
	c := e.dial(t)
	c.cmd("EHLO client.test", "250 ")
	began := time.Now()
	var got string
	for time.Since(began) < 10*time.Second && !strings.HasPrefix(got, "421 ") {
		c.write("MAIL FROM:<a@b.test>\r\nRCPT TO:<x@example.test>\r\nRSET\r\n")
		for range 3 {
			if got = c.read(); strings.HasPrefix(got, "421 ") {
				break
			}
		}
	}
	t.Logf("progressing session ended with %q after %v (max 1s)", got, time.Since(began).Round(time.Millisecond))
	if !strings.HasPrefix(got, "421 4.4.2 ") {
		t.Fatalf("got %q", got)
	}
	c.closed()
}

// An untrusted client that authenticates leaves the untrusted share: with
// a share of one, a second outsider is refused until the first has
// authenticated, then served.
func TestAuthenticatedLeavesUntrustedShare(t *testing.T) {
	e := startAuth(t, func(o *Options) { o.MaxConnectionsUntrusted = 1 })
	first := e.dialKind(t, ImplicitTLS)
	first.cmd("EHLO client.test", "250 ")
	c, err := tls.Dial("tcp", e.addr(ImplicitTLS), e.clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if line != refusedTotal+"\r\n" {
		t.Fatalf("second outsider while the share is taken: %q", line)
	}
	first.cmd("AUTH PLAIN "+plainIR("", "app1", "secret"), "235 ")
	second := e.dialKind(t, ImplicitTLS) // expects its 220
	second.cmd("EHLO client.test", "250 ")
	first.cmd("QUIT", "221 ")
}

// The rest of a refused body is drained by go-smtp after Data returns;
// a client still sending it is active, not idle, and gets its reply.
func TestRefusedBodyDrainedNotIdle(t *testing.T) {
	e := start(t, func(o *Options) { o.ReadTimeout, o.MaxMessageBytes = 500*time.Millisecond, 1024 })
	c := e.dial(t)
	c.envelope("a@b.test", "x@example.test")
	c.cmd("DATA", "354 ")
	line := strings.Repeat("x", 98) + "\r\n"
	began := time.Now()
	for time.Since(began) < 1500*time.Millisecond { // three idle timeouts, over the limit from the first second
		c.write(strings.Repeat(line, 5))
		time.Sleep(100 * time.Millisecond)
	}
	c.write(".\r\n")
	c.expectReply("552 5.3.4 ")
	c.cmd("NOOP", "250 ")
}

// On the implicit-TLS port a refusal needs a handshake first: 300 refused
// clients that do not hang up, more than the 256 handled at once, each
// still read a 421 under TLS (Accept waits for a slot instead of closing).
func TestImplicitTLSFloodAllAnswered(t *testing.T) {
	e := startAuth(t, func(o *Options) { o.MaxConnectionsUntrusted, o.MaxConnectionsUntrustedPerIP = 2, -1 })
	const n, workers = 302, 30
	var mu sync.Mutex
	firsts := map[string]int{}
	var held []*tls.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	work := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				d := &net.Dialer{Timeout: 20 * time.Second}
				c, err := tls.DialWithDialer(d, "tcp", e.addr(ImplicitTLS), e.clientTLS)
				first := ""
				if err == nil {
					c.SetDeadline(time.Now().Add(30 * time.Second))
					first, err = bufio.NewReader(c).ReadString('\n')
				}
				mu.Lock()
				if err != nil {
					firsts["error: "+err.Error()]++
				} else {
					firsts[strings.TrimRight(first, "\r\n")[:9]]++
					held = append(held, c) // a flood does not hang up
				}
				mu.Unlock()
			}
		}()
	}
	began := time.Now()
	for range n {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	t.Logf("%d TLS connections in %v: first lines %v", n, time.Since(began).Round(time.Millisecond), firsts)
	if firsts["220 mx.te"] != 2 || firsts["421 4.3.2"] != n-2 {
		t.Fatalf("first lines %v, want 2 greetings and %d × 421 4.3.2", firsts, n-2)
	}
}
