package submission

import (
	"bufio"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
)

// Behind a load balancer (127.0.0.2, with every client outside the
// trusted networks) the per-IP limit counts the client the PROXY header
// names, not the balancer: a second connection for one client gets
// 421 4.7.0 while another client behind the same balancer gets in.
func TestProxiedClientsHaveTheirOwnLimits(t *testing.T) {
	e := start(t, func(o *Options) {
		o.Trusted = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
		o.ProxyNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}
		o.MaxConnectionsUntrustedPerIP = 1
	})
	via := func(client string) string {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		h := proxyproto.HeaderProxyFromAddrs(2, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(client)), c.RemoteAddr())
		if _, err := h.WriteTo(c); err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return line
	}
	if g := via("203.0.113.5:1000"); !strings.HasPrefix(g, "220 ") {
		t.Fatalf("first connection of 203.0.113.5: %q", g)
	}
	if g := via("203.0.113.5:1001"); !strings.HasPrefix(g, "421 4.7.0 ") {
		t.Fatalf("second connection of 203.0.113.5: %q, want its own limit", g)
	}
	if g := via("198.51.100.9:1000"); !strings.HasPrefix(g, "220 ") {
		t.Fatalf("another client behind the same balancer: %q", g)
	}
}
