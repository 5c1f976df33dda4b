package smtptest

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

func TestSharedPortAndGreeting(t *testing.T) {
	port := FreePort(t, "127.0.0.2", "127.0.0.3")
	busy := New(t, fmt.Sprintf("127.0.0.2:%d", port), WithGreeting(func(n int) *smtp.SMTPError {
		return Reply(421, "4.7.0", "try later")
	}))
	ok := New(t, fmt.Sprintf("127.0.0.3:%d", port), Greylist())

	c, err := net.Dial("tcp", busy.Addr())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, _ := c.Read(buf)
	c.Close()
	if got := string(buf[:n]); got != "421 4.7.0 try later\r\n" || busy.Conns() != 1 {
		t.Errorf("greeting %q, conns %d", got, busy.Conns())
	}

	cl, err := smtp.Dial(ok.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Mail("a@b.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := cl.Rcpt("x@c.test", nil); err == nil || !strings.Contains(err.Error(), "451") {
		t.Errorf("first RCPT: %v, want 451", err)
	}
	if err := cl.Rcpt("x@c.test", nil); err != nil {
		t.Errorf("second RCPT: %v", err)
	}
}

func TestAuthAndHiddenExtensions(t *testing.T) {
	s := New(t, "127.0.0.1:0", WithAuth("u", "p"), WithInsecureAuth(), WithoutExtension("PIPELINING"))
	cl, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if ok, _ := cl.Extension("PIPELINING"); ok {
		t.Error("PIPELINING still offered")
	}
	if err := cl.Auth(sasl.NewLoginClient("u", "wrong")); err == nil || !strings.Contains(err.Error(), "535") {
		t.Errorf("wrong password: %v, want 535", err)
	}
	if err := cl.Auth(sasl.NewLoginClient("u", "p")); err != nil {
		t.Fatalf("LOGIN with an initial response: %v", err)
	}
	if err := cl.SendMail("a@b.test", []string{"c@d.test"}, strings.NewReader("x\r\n")); err != nil {
		t.Fatal(err)
	}
	if m := s.Messages(); len(m) != 1 || m[0].Auth != "u" || m[0].Conn != 1 {
		t.Errorf("got %+v", m)
	}
}
