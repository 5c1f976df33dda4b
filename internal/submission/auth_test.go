package submission

import (
	"crypto/tls"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

const hello = "Subject: hi\r\n\r\nhello\r\n.\r\n"

func TestNoAuthWithoutTLS(t *testing.T) {
	e := startAuth(t, nil)
	c := e.dialKind(t, StartTLS)
	caps := c.ehlo()
	if !slices.Contains(caps, "STARTTLS") || slices.ContainsFunc(caps, func(s string) bool { return strings.HasPrefix(s, "AUTH") }) {
		t.Fatalf("EHLO before STARTTLS: %q", caps)
	}
	c.cmd("AUTH PLAIN "+plainIR("", "app1", "secret"), "538 5.7.11 ")
	c.cmd("MAIL FROM:<a@app1.test>", "530 5.7.0 Must issue a STARTTLS command first")

	// The plain listener offers neither, and relays for trusted clients only.
	p := e.dialKind(t, Plain)
	caps = p.ehlo()
	if slices.ContainsFunc(caps, func(s string) bool { return strings.HasPrefix(s, "AUTH") || s == "STARTTLS" }) {
		t.Fatalf("EHLO on the plain listener: %q", caps)
	}
	p.cmd("AUTH PLAIN "+plainIR("", "app1", "secret"), "538 5.7.11 ")
	p.cmd("MAIL FROM:<a@app1.test>", "250 ")
	p.cmd("RCPT TO:<x@example.test>", "554 5.7.1 ")
}

func TestAuthRequiredUnderTLS(t *testing.T) {
	e := startAuth(t, nil)
	c := e.dialTLS(t)
	caps := c.ehlo()
	if !slices.Contains(caps, "AUTH PLAIN LOGIN") || slices.Contains(caps, "STARTTLS") {
		t.Fatalf("EHLO after STARTTLS: %q", caps)
	}
	c.cmd("MAIL FROM:<a@app1.test>", "530 5.7.0 Authentication required")
	c.cmd("RCPT TO:<x@example.test>", "502 5.5.1 ") // no MAIL accepted
	if msgs, _ := e.store.messages(); len(msgs) != 0 {
		t.Fatalf("queued %d", len(msgs))
	}
}

// TestGoSMTPClientAuthPlain sends through the STARTTLS listener with
// go-smtp's client, as an app would.
func TestGoSMTPClientAuthPlain(t *testing.T) {
	e := startAuth(t, nil)
	c, err := smtp.DialStartTLS(e.addr(StartTLS), e.clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "app1", "secret")); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("app@app1.test", []string{"x@example.test"}, strings.NewReader("Subject: x\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	msgs, bodies := e.store.messages()
	if len(msgs) != 1 || msgs[0].Sender != "app@app1.test" {
		t.Fatalf("queued %+v", msgs)
	}
	if !strings.Contains(string(bodies[0]), "(mtaq) with ESMTPSA id ") {
		t.Fatalf("Received field does not say ESMTPSA: %q", bodies[0])
	}
}

func TestAuthLogin(t *testing.T) {
	e := startAuth(t, nil)
	c := e.dialTLS(t)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("AUTH LOGIN", "334 "+b64("Username:"))
	c.cmd(b64("app1"), "334 "+b64("Password:"))
	c.cmd(b64("secret"), "235 2.0.0 ")
	c.cmd("MAIL FROM:<app@app1.test>", "250 ")
	c.cmd("RCPT TO:<x@example.test>", "250 ")
	if got := c.send(hello); !strings.HasPrefix(got, "250 2.0.0 Ok: queued as ") {
		t.Fatalf("DATA: %q", got)
	}
	// The initial-response form names the user at once.
	c2 := e.dialTLS(t)
	c2.cmd("EHLO client.test", "250 ")
	c2.cmd("AUTH LOGIN "+b64("app1"), "334 "+b64("Password:"))
	c2.cmd(b64("secret"), "235 ")
}

func TestImplicitTLS(t *testing.T) {
	e := startAuth(t, nil)
	conn, err := tls.Dial("tcp", e.addr(ImplicitTLS), e.clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Fatal("STARTTLS offered on an implicit TLS listener")
	}
	if err := c.Auth(sasl.NewPlainClient("", "app1", "secret")); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("app@app1.test", []string{"x@example.test"}, strings.NewReader("Subject: x\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	if msgs, _ := e.store.messages(); len(msgs) != 1 {
		t.Fatalf("queued %d", len(msgs))
	}
}

func TestAuthFailuresPerConnection(t *testing.T) {
	e := startAuth(t, nil)
	c := e.dialTLS(t)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("AUTH PLAIN "+plainIR("", "app1", "wrong"), "535 5.7.8 Authentication credentials invalid")
	c.cmd("AUTH PLAIN "+plainIR("", "nobody", "secret"), "535 5.7.8 Authentication credentials invalid")
	c.cmd("AUTH PLAIN "+plainIR("", "app1", "wrong"), "421 4.7.0 ")
	c.closed()

	// Malformed responses and a borrowed identity count as failures too.
	c = e.dialTLS(t)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("AUTH PLAIN "+b64("no-nul-bytes"), "501 5.5.2 ")
	c.cmd("AUTH PLAIN "+plainIR("app2", "app1", "secret"), "535 5.7.8 ")
	c.cmd("AUTH LOGIN", "334 ")
	c.cmd(b64("app1"), "334 ")
	c.cmd(b64("nope"), "421 4.7.0 ")
	c.closed()
}

func TestAuthFailuresPerIP(t *testing.T) {
	e := startAuth(t, func(o *Options) { o.AuthIPFailures, o.AuthIPWindow = 4, time.Hour })
	wrong := "AUTH PLAIN " + plainIR("", "app1", "wrong")
	c := e.dialTLS(t)
	c.cmd("EHLO client.test", "250 ")
	c.cmd(wrong, "535 ")
	c.cmd(wrong, "535 ")
	c.cmd("QUIT", "221 ")

	e.clk.Advance(10 * time.Minute)
	c = e.dialTLS(t)
	c.cmd("EHLO client.test", "250 ")
	c.cmd(wrong, "535 ")
	c.cmd(wrong, "421 4.7.0 ") // the IP's fourth failure within the hour
	c.closed()

	c = e.dialTLS(t)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("AUTH PLAIN "+plainIR("", "app1", "secret"), "421 4.7.0 Too many authentication failures")
	c.closed()

	// The first two failures age out an hour after they happened.
	e.clk.Advance(50*time.Minute + time.Second)
	c = e.dialTLS(t)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("AUTH PLAIN "+plainIR("", "app1", "secret"), "235 ")
}

func TestSenderRestriction(t *testing.T) {
	e := startAuth(t, nil)
	c := e.dialKind(t, ImplicitTLS)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("AUTH PLAIN "+plainIR("app2", "app2", "secret2"), "235 ")
	for from, want := range map[string]string{
		"NoReply@APP2.test":   "250 ",
		"anyone@app2.example": "250 ",
		"other@app2.test":     "553 5.7.1 Sender address rejected: not owned by user app2",
		"x@sub.app2.example":  "553 5.7.1 ",
		"":                    "553 5.7.1 ",
	} {
		c.cmd("MAIL FROM:<"+from+">", want)
		c.cmd("RSET", "250 ")
	}
}

func TestTrustedMaySkipAuth(t *testing.T) {
	e := startAuth(t, func(o *Options) { o.Trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	c := e.dialKind(t, StartTLS)
	c.envelope("app@sender.test", "x@example.test")
	if got := c.send(hello); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("DATA: %q", got)
	}
	if _, bodies := e.store.messages(); !strings.Contains(string(bodies[0]), "(mtaq) with ESMTP id ") {
		t.Fatalf("Received field: %q", bodies[0])
	}
}
