package smtptest

import (
	"fmt"
	"net"
	"strings"
	"testing"

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
