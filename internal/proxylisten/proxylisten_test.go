package proxylisten

import (
	"bufio"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
)

// The load balancer dials from 127.0.0.2; everyone else from 127.0.0.3.
var balancer = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Wrap(ln, Options{Networks: balancer, HeaderTimeout: 2 * time.Second})
	t.Cleanup(func() { l.Close() })
	return l
}

func dial(t *testing.T, l net.Listener, from string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// accept returns the next accepted connection, failing after 5 s.
func accept(t *testing.T, l net.Listener) net.Conn {
	t.Helper()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := l.Accept(); ch <- res{c, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatal(r.err)
		}
		t.Cleanup(func() { r.c.Close() })
		return r.c
	case <-time.After(5 * time.Second):
		t.Fatal("nothing accepted in 5 s")
		return nil
	}
}

func header(t *testing.T, v byte, client string) []byte {
	t.Helper()
	h := proxyproto.HeaderProxyFromAddrs(v, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(client)),
		&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 25})
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readLine(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	s, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read %q: %v", s, err)
	}
	return s
}

func TestBalancerHeaderNamesTheClient(t *testing.T) {
	t.Parallel()
	for _, v := range []byte{1, 2} {
		l := listen(t)
		c := dial(t, l, "127.0.0.2")
		// The header and the first bytes of the protocol in one segment:
		// what was read past the header must not be lost.
		c.Write(append(header(t, v, "203.0.113.7:40000"), "EHLO client\r\n"...))
		s := accept(t, l)
		if got := s.RemoteAddr().String(); got != "203.0.113.7:40000" {
			t.Errorf("v%d: RemoteAddr %s, want the header's client 203.0.113.7:40000", v, got)
		}
		if got := s.(*Conn).ProxyAddr().(*net.TCPAddr).IP.String(); got != "127.0.0.2" {
			t.Errorf("v%d: ProxyAddr %s", v, got)
		}
		if got := readLine(t, s); got != "EHLO client\r\n" {
			t.Errorf("v%d: read %q after the header", v, got)
		}
		s.Write([]byte("250 ok\r\n"))
		if got := readLine(t, c); got != "250 ok\r\n" {
			t.Errorf("v%d: client read %q", v, got)
		}
	}
}

// P2: a header from outside proxy_networks is the client's own bytes.
func TestHeaderFromOutsiderIsNotBelieved(t *testing.T) {
	t.Parallel()
	l := listen(t)
	c := dial(t, l, "127.0.0.3")
	c.Write([]byte("PROXY TCP4 127.0.0.1 192.0.2.1 1234 25\r\n"))
	s := accept(t, l)
	if got := s.RemoteAddr().(*net.TCPAddr).IP.String(); got != "127.0.0.3" {
		t.Errorf("RemoteAddr %s, want the socket's 127.0.0.3", got)
	}
	if got := readLine(t, s); !strings.HasPrefix(got, "PROXY TCP4 127.0.0.1") {
		t.Errorf("the outsider's header was swallowed: read %q", got)
	}
}

// P1: the balancer without a header is closed, never accepted; P3: while
// one balancer connection is silent, others are accepted.
func TestBalancerWithoutHeaderIsClosed(t *testing.T) {
	t.Parallel()
	l := listen(t)
	silent := dial(t, l, "127.0.0.2")
	plain := dial(t, l, "127.0.0.2")
	plain.Write([]byte("EHLO no-header\r\n"))
	outsider := dial(t, l, "127.0.0.3")
	s := accept(t, l)
	if got := s.RemoteAddr().(*net.TCPAddr).IP.String(); got != "127.0.0.3" {
		t.Fatalf("accepted %s first, want the outsider while the balancer's header is awaited", got)
	}
	outsider.Close()
	for _, c := range []net.Conn{plain, silent} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil || n > 0 {
			t.Errorf("balancer connection without a header: read %d bytes, %v; want it closed", n, err)
		}
	}
	good := dial(t, l, "127.0.0.2")
	good.Write(header(t, 2, "198.51.100.4:5000"))
	if got := accept(t, l).RemoteAddr().String(); got != "198.51.100.4:5000" {
		t.Errorf("after the refusals, accepted %s", got)
	}
}

func TestLocalCommandIsTheBalancerItself(t *testing.T) {
	t.Parallel()
	l := listen(t)
	c := dial(t, l, "127.0.0.2")
	b, err := (&proxyproto.Header{Version: 2, Command: proxyproto.LOCAL}).Format()
	if err != nil {
		t.Fatal(err)
	}
	c.Write(b)
	if got := accept(t, l).RemoteAddr().(*net.TCPAddr).IP.String(); got != "127.0.0.2" {
		t.Errorf("LOCAL: RemoteAddr %s, want the balancer's own", got)
	}
}

func TestWrapWithoutNetworksIsTheListener(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if Wrap(ln, Options{}) != ln {
		t.Error("no proxy_networks: the listener must be unchanged")
	}
}

func TestCloseEndsAccept(t *testing.T) {
	t.Parallel()
	l := listen(t)
	done := make(chan error, 1)
	go func() { _, err := l.Accept(); done <- err }()
	l.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Accept after Close returned no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still blocked 5 s after Close")
	}
}
