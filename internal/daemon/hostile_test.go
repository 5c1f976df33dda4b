package daemon

import (
	"bufio"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/queue"
)

// rawSMTP is a byte-exact client for the daemon's listener.
type rawSMTP struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) (*rawSMTP, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(15 * time.Second))
	s := &rawSMTP{t: t, c: c, r: bufio.NewReader(c)}
	return s, s.reply()
}

// reply returns the last line of the next reply.
func (s *rawSMTP) reply() string {
	s.t.Helper()
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("read: %v (%q)", err, line)
		}
		if len(line) < 4 || line[3] != '-' {
			return strings.TrimRight(line, "\r\n")
		}
	}
}

func (s *rawSMTP) cmd(line, want string) string {
	s.t.Helper()
	if _, err := s.c.Write([]byte(line + "\r\n")); err != nil {
		s.t.Fatal(err)
	}
	got := s.reply()
	if !strings.HasPrefix(got, want) {
		s.t.Fatalf("%q: got %q, want %q", line, got, want)
	}
	return got
}

// Recipient forms that would inject parameters or a second recipient when
// relayed are refused at RCPT; the forms that are accepted reach the real
// destination as exactly one recipient each, byte-exact: the quoted plain
// local part unquoted, the source route dropped, percent and bang left in
// the local part and delivered to the domain after the last '@' (the
// exchanger of other.test never hears from mtaq).
func TestHostileRecipientsRelayed(t *testing.T) {
	n := newInternet(t)
	dest := n.mx("dest.test", 10, "mx.dest.test", "127.0.0.2")
	other := n.mx("other.test", 10, "mx.other.test", "127.0.0.3")

	s, greeting := dialRaw(t, n.d.Addrs()[0].String())
	if !strings.HasPrefix(greeting, "220 ") {
		t.Fatalf("greeting %q", greeting)
	}
	s.cmd("EHLO app.test", "250 ")
	s.cmd("MAIL FROM:<app@sender.test>", "250 ")
	for _, to := range []string{
		`<"a> NOTIFY=SUCCESS"@dest.test>`,
		"<\"a\rRCPT TO:<x@other.test>\"@dest.test>",
		`<"a b"@dest.test>`,
		`<"a\"b"@dest.test>`,
		`<"x@other.test"@dest.test>`,
	} {
		s.cmd("RCPT TO:"+to, "501 5.1.3 ")
	}
	accepted := []string{`<"plain"@dest.test>`, "<u%other.test@dest.test>", "<other.test!u@dest.test>", "<@other.test:src@dest.test>"}
	for _, to := range accepted {
		s.cmd("RCPT TO:"+to, "250 ")
	}
	s.cmd("DATA", "354 ")
	m := smtptest.QueuedAs.FindStringSubmatch(s.cmd("Subject: hostile\r\n\r\nbody\r\n.", "250 "))
	if m == nil {
		t.Fatal("no queue ID")
	}
	for i := range accepted {
		n.wait(m[1], i, queue.Delivered)
	}
	var got []string
	for _, msg := range dest.Messages() {
		got = append(got, msg.To...)
	}
	slices.Sort(got)
	want := []string{"other.test!u@dest.test", "plain@dest.test", "src@dest.test", "u%other.test@dest.test"}
	if !slices.Equal(got, want) {
		t.Fatalf("destination saw %q, want %q", got, want)
	}
	if other.Conns() != 0 {
		t.Fatalf("other.test's exchanger got %d connections", other.Conns())
	}
}

// The connection limits reach the listener from the configuration.
func TestConnectionLimitFromConfig(t *testing.T) {
	n := newInternet(t, func(c *conf.Config) { c.Submission.MaxConnectionsPerIP = 2 })
	addr := n.d.Addrs()[0].String()
	for i := range 2 {
		if _, g := dialRaw(t, addr); !strings.HasPrefix(g, "220 ") {
			t.Fatalf("connection %d: %q", i, g)
		}
	}
	if _, g := dialRaw(t, addr); g != "421 4.7.0 mtaq.test Too many connections from your address, try again later" {
		t.Fatalf("third connection: %q", g)
	}
}
