package submission

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
)

const (
	refusedPerIP = "421 4.7.0 mx.test Too many connections from your address, try again later"
	refusedTotal = "421 4.3.2 mx.test Too many connections, try again later"
)

// rawConn is a connection from a chosen loopback address and its reader.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

// dialFrom connects to addr from local IP from (any 127.0.0.0/8 address
// is local on Linux) and returns the first line the server sends.
func dialFrom(t testing.TB, addr, from string) (*rawConn, string) {
	t.Helper()
	c, line, err := tryDialFrom(addr, from)
	if err != nil {
		t.Fatal(err)
	}
	return c, line
}

// tryDialFrom is dialFrom for goroutines other than the test's.
func tryDialFrom(addr, from string) (*rawConn, string, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	rc := &rawConn{Conn: c, r: bufio.NewReader(c)}
	line, err := rc.r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, "", fmt.Errorf("first line from %s: %w (%q)", from, err, line)
	}
	return rc, strings.TrimRight(line, "\r\n"), nil
}

// eof reports whether the server closed the connection after what was read.
func (c *rawConn) eof() bool {
	_, err := c.r.ReadString('\n')
	return err != nil
}

// perIP is the server's count of open connections from ip.
func (e *env) perIP(ip string) int {
	l := e.srv.conns
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byClient[clientKey(netip.MustParseAddr(ip))]
}

// A thousand connections from one address: the first 100 get sessions, the
// rest a 421 4.7.0 and EOF, and a client from another address still gets
// its mail accepted while they are held open.
func TestConnectionLimitPerIP(t *testing.T) {
	e := start(t, func(o *Options) { o.ReadTimeout = time.Minute })
	var held []*rawConn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	total := 1000
	if os.Getenv("MTAQ_LONG") == "1" {
		total = 20000
	}
	greeted, refused := 0, 0
	for range total {
		c, first := dialFrom(t, e.addr, "127.0.0.5")
		switch {
		case strings.HasPrefix(first, "220 "):
			greeted++
			held = append(held, c)
		case first == refusedPerIP:
			refused++
			if !c.eof() {
				t.Fatal("refused connection left open")
			}
			c.Close()
		default:
			t.Fatalf("first line %q", first)
		}
	}
	if greeted != 100 || refused != total-100 {
		t.Fatalf("greeted %d, refused %d; want 100 and %d", greeted, refused, total-100)
	}
	if id := smtptest.Submit(t, e.addr, "app@sender.test", "x@example.test"); id == "" {
		t.Fatal("no queue ID")
	}
	if n := e.perIP("127.0.0.5"); n != 100 {
		t.Fatalf("server counts %d connections from 127.0.0.5", n)
	}
	for _, c := range held {
		c.Close()
	}
	held = nil
	waitPerIP(t, e, "127.0.0.5", 0)
}

func waitPerIP(t *testing.T, e *env, ip string, want int) {
	t.Helper()
	waitfor.NoError(t, func() error {
		if n := e.perIP(ip); n != want {
			return fmt.Errorf("%s holds %d slots, want %d", ip, n, want)
		}
		return nil
	})
}

// The same address churning: 50 workers connect, spam junk commands until
// go-smtp hangs up, and reconnect. Every connection is either a session or
// a clean 421, the server never holds more than the limit from that
// address, and a legitimate client's five messages are all accepted.
func TestConnectionLimitJunkSpam(t *testing.T) {
	e := start(t, func(o *Options) { o.MaxConnectionsPerIP = 20 })
	var sessions, refusals, maxSeen atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 40 {
				select {
				case <-stop:
					return
				default:
				}
				c, first, err := tryDialFrom(e.addr, "127.0.0.5")
				if err != nil {
					t.Error(err)
					return
				}
				switch {
				case strings.HasPrefix(first, "220 "):
					sessions.Add(1)
					c.Write([]byte(strings.Repeat("JUNK \x01\xff junk\r\nMAIL FROM:<nope\r\n", 4)))
					for !c.eof() { // go-smtp closes after repeated errors
					}
				case first == refusedPerIP:
					refusals.Add(1)
				default:
					t.Errorf("first line %q", first)
				}
				c.Close()
				if n := int64(e.perIP("127.0.0.5")); n > maxSeen.Load() {
					maxSeen.Store(n)
				}
			}
		}()
	}
	for i := range 5 {
		if id := smtptest.Submit(t, e.addr, "app@sender.test", "x@example.test"); id == "" {
			t.Fatalf("message %d: no queue ID", i)
		}
	}
	close(stop)
	wg.Wait()
	if maxSeen.Load() > 20 {
		t.Fatalf("server held %d connections from one address, limit 20", maxSeen.Load())
	}
	t.Logf("sessions %d, refusals %d, most held %d", sessions.Load(), refusals.Load(), maxSeen.Load())
	if sessions.Load() == 0 {
		t.Fatal("no session was ever started")
	}
	if msgs, _ := e.store.messages(); len(msgs) != 5 {
		t.Fatalf("stored %d messages, want 5", len(msgs))
	}
}

// The total limit counts every address; a slot freed is usable again.
func TestConnectionLimitTotal(t *testing.T) {
	e := start(t, func(o *Options) { o.MaxConnections, o.MaxConnectionsPerIP = 50, -1 })
	var held []*rawConn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	for i := range 60 {
		c, first := dialFrom(t, e.addr, "127.0.0.5")
		want := "220 "
		if i >= 50 {
			want = refusedTotal
		}
		if !strings.HasPrefix(first, want) {
			t.Fatalf("connection %d: %q, want %q", i, first, want)
		}
		held = append(held, c)
	}
	c, first := dialFrom(t, e.addr, "127.0.0.1")
	c.Close()
	if first != refusedTotal {
		t.Fatalf("legitimate client at the total limit: %q", first)
	}
	held[0].Close()
	waitPerIP(t, e, "127.0.0.5", 49)
	if id := smtptest.Submit(t, e.addr, "app@sender.test", "x@example.test"); id == "" {
		t.Fatal("no queue ID")
	}
}

// On the implicit-TLS listener the 421 is sent under TLS, so the client can
// read it.
func TestConnectionLimitImplicitTLS(t *testing.T) {
	e := startAuth(t, func(o *Options) { o.MaxConnectionsPerIP = 2 })
	for i := range 3 {
		c, err := tls.Dial("tcp", e.addr(ImplicitTLS), e.clientTLS)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if want := "220 "; i == 2 && line != refusedPerIP+"\r\n" || i < 2 && !strings.HasPrefix(line, want) {
			t.Fatalf("connection %d: %q", i, line)
		}
	}
}

func TestConnLimitIPv6Per64AndNoLimit(t *testing.T) {
	t.Parallel()
	l := newConnLimit(connLimits{Total: 3, PerIP: 2})
	a, b, other := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff"), netip.MustParseAddr("2001:db8:0:1::1")
	if l.acquire(a, false) != nil || l.acquire(b, false) != nil {
		t.Fatal("first two refused")
	}
	if err := l.acquire(a, false); err != errTooManyFromIP {
		t.Fatalf("third from the /64: %v", err)
	}
	if l.acquire(other, false) != nil {
		t.Fatal("another /64 refused")
	}
	if err := l.acquire(netip.MustParseAddr("192.0.2.1"), false); err != errTooManyConns {
		t.Fatalf("over the total: %v", err)
	}
	l.release(a, false)
	if l.acquire(b, false) != nil {
		t.Fatal("a released slot not reusable")
	}
	free := newConnLimit(connLimits{Total: -1, PerIP: -1, Untrusted: -1, UntrustedPerIP: -1, UntrustedPerNet: -1})
	for range 10000 {
		if free.acquire(a, true) != nil {
			t.Fatal("negative limits refused")
		}
	}
}

// Untrusted connections share part of the total, per address and per
// network (/24, IPv6 /48); trusted ones may use the rest, and a promoted
// (authenticated) one leaves the untrusted counts.
func TestConnLimitUntrustedShare(t *testing.T) {
	t.Parallel()
	l := newConnLimit(connLimits{Total: 10, PerIP: 5, Untrusted: 4, UntrustedPerIP: 2, UntrustedPerNet: 3})
	ip := netip.MustParseAddr
	steps := []struct {
		addr      string
		untrusted bool
		want      error
	}{
		{"192.0.2.1", true, nil},
		{"192.0.2.1", true, nil},
		{"192.0.2.1", true, errTooManyFromIP},
		{"192.0.2.2", true, nil},
		{"192.0.2.3", true, errTooManyFromNet},
		{"2001:db8:1:1::1", true, nil},
		{"2001:db8:1:2::1", true, errTooManyConns}, // the untrusted share (4) is full
		{"2001:db8:2::1", true, errTooManyConns},
		{"198.51.100.1", false, nil}, // trusted: the reserved slots
		{"192.0.2.1", false, nil},    // trusted from the same address: the per-IP limit (5) only
	}
	for i, s := range steps {
		if err := l.acquire(ip(s.addr), s.untrusted); err != s.want {
			t.Fatalf("step %d (%s): %v, want %v", i, s.addr, err, s.want)
		}
	}
	l.promote(ip("192.0.2.1")) // authenticated: its untrusted slot is free again
	if err := l.acquire(ip("2001:db8:1:2::1"), true); err != nil {
		t.Fatalf("after a promotion: %v", err)
	}
	l.release(ip("2001:db8:1:2::1"), true)
	l.release(ip("2001:db8:1:1::1"), true)
	l.release(ip("192.0.2.2"), true)
	l.release(ip("192.0.2.1"), true)
	l.release(ip("192.0.2.1"), false) // the promoted one
	l.release(ip("192.0.2.1"), false)
	l.release(ip("198.51.100.1"), false)
	if l.n != 0 || l.untrusted != 0 || len(l.byClient) != 0 || len(l.untrustedBy) != 0 {
		t.Fatalf("left after releasing all: n %d untrusted %d %v %v", l.n, l.untrusted, l.byClient, l.untrustedBy)
	}
}

// An IPv6 network's share is its /48: two /64s in one /48 are one network.
func TestConnLimitUntrustedPer48(t *testing.T) {
	t.Parallel()
	l := newConnLimit(connLimits{Untrusted: 10, UntrustedPerIP: 5, UntrustedPerNet: 1})
	if err := l.acquire(netip.MustParseAddr("2001:db8:1:1::1"), true); err != nil {
		t.Fatal(err)
	}
	if err := l.acquire(netip.MustParseAddr("2001:db8:1:2::1"), true); err != errTooManyFromNet {
		t.Fatalf("another /64 of the same /48: %v", err)
	}
	if err := l.acquire(netip.MustParseAddr("2001:db8:2::1"), true); err != nil {
		t.Fatalf("another /48: %v", err)
	}
}
