package submission

import (
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// A user with dsn = false gets Message.NoDSN; others do not.
func TestUserDSNSwitch(t *testing.T) {
	t.Parallel()
	off := false
	e := startAuth(t, func(o *Options) { o.Users[1].DSN = &off })
	send := func(user, pass, from string) {
		c, err := smtp.DialStartTLS(e.addr(StartTLS), e.clientTLS)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
			t.Fatal(err)
		}
		if err := c.SendMail(from, []string{"x@example.test"}, strings.NewReader("Subject: x\r\n\r\nbody\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	send("app1", "secret", "app@app1.test")
	send("app2", "secret2", "noreply@app2.test")
	msgs, _ := e.store.messages()
	if len(msgs) != 2 {
		t.Fatalf("queued %d messages", len(msgs))
	}
	for _, m := range msgs {
		if want := m.Sender == "noreply@app2.test"; m.NoDSN != want {
			t.Errorf("%s: NoDSN = %v, want %v", m.Sender, m.NoDSN, want)
		}
	}
}
