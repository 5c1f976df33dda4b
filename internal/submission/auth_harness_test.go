package submission

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"github.com/mtaq/mtaq/internal/smtptest"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/mtaq/mtaq/internal/clock"
)

// selfSigned returns a server config for "mx.test" and 127.0.0.1 and a
// client config that trusts exactly that certificate.
func selfSigned(t *testing.T) (server, client *tls.Config) {
	c := smtptest.SelfSigned(t, "mx.test", "127.0.0.1")
	return c.ServerConfig(), &tls.Config{RootCAs: c.Pool(), ServerName: "mx.test"}
}

// hash is a bcrypt hash at the lowest cost, to keep tests fast.
func hash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// authEnv is env with all three listeners; the client (127.0.0.1) is not
// trusted unless a test says so.
type authEnv struct {
	*env
	clientTLS *tls.Config
	clk       *clock.Fake
}

func startAuth(t *testing.T, mod func(*Options)) *authEnv {
	t.Helper()
	serverTLS, clientTLS := selfSigned(t)
	clk := clock.NewFake(t0)
	e := start(t, func(o *Options) {
		o.Clock = clk
		o.Trusted = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
		o.SubmissionListen = []string{"127.0.0.1:0"}
		o.SMTPSListen = []string{"127.0.0.1:0"}
		o.TLS = serverTLS
		o.Users = []User{
			{Name: "app1", PasswordHash: hash(t, "secret")},
			{Name: "app2", PasswordHash: hash(t, "secret2"), AllowedSenders: []string{"noreply@app2.test", "@App2.Example"}},
		}
		if mod != nil {
			mod(o)
		}
	})
	return &authEnv{env: e, clientTLS: clientTLS, clk: clk}
}

// addr returns the address of the listener of kind k.
func (e *authEnv) addr(k Kind) string { return e.srv.Addrs()[k].String() }

// dialKind connects to the listener of kind k; for ImplicitTLS the TLS
// handshake comes first.
func (e *authEnv) dialKind(t *testing.T, k Kind) *client {
	t.Helper()
	var c net.Conn
	var err error
	if k == ImplicitTLS {
		c, err = tls.Dial("tcp", e.addr(k), e.clientTLS)
	} else {
		c, err = net.Dial("tcp", e.addr(k))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	cl := &client{t: t, c: c, r: bufio.NewReader(c)}
	cl.expectReply("220 ")
	return cl
}

// dialTLS connects to the STARTTLS listener and upgrades the connection.
func (e *authEnv) dialTLS(t *testing.T) *client {
	t.Helper()
	c := e.dialKind(t, StartTLS)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("STARTTLS", "220 ")
	tc := tls.Client(c.c, e.clientTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.c, c.r = tc, bufio.NewReader(tc)
	return c
}

// ehlo returns the EHLO reply's lines without their "250-"/"250 ".
func (c *client) ehlo() []string {
	c.t.Helper()
	c.write("EHLO client.test\r\n")
	var out []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatal(err)
		}
		out = append(out, strings.TrimRight(line[4:], "\r\n"))
		if line[3] == ' ' {
			return out
		}
	}
}

func plainIR(identity, user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(identity + "\x00" + user + "\x00" + pass))
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// closed checks that the server has closed the connection.
func (c *client) closed() {
	c.t.Helper()
	if line, err := c.r.ReadString('\n'); err == nil {
		c.t.Fatalf("connection still open, read %q", line)
	}
}
