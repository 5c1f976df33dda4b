package submission

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// While intake drains (mtaq drain), an open session's MAIL gets 421 4.3.2
// and the connection closes, and a new connection gets 421 4.3.2 before
// any session; when the drain ends, mail is taken again.
func TestDrainingRefusesSessions(t *testing.T) {
	e := start(t, nil)
	open := e.dial(t)
	open.cmd("EHLO client.test", "250 ")
	e.srv.in.SetDraining(true)
	open.cmd("MAIL FROM:<a@x.test>", "421 4.3.2 ")
	if _, err := open.r.ReadString('\n'); err != io.EOF {
		t.Errorf("after the 421 the connection stays open: %v", err)
	}

	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if greet, _ := bufio.NewReader(c).ReadString('\n'); !strings.HasPrefix(greet, "421 4.3.2 mx.test ") {
		t.Errorf("a new connection while draining: %q", greet)
	}
	if n := e.store.callCount(); n != 0 {
		t.Fatalf("%d enqueues while draining", n)
	}

	e.srv.in.SetDraining(false)
	again := e.dial(t)
	again.envelope("a@x.test", "b@y.test")
	if got := again.send("Subject: s\r\n\r\nbody\r\n.\r\n"); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("after the drain: %q", got)
	}
}
