package dsn

import (
	"strings"
	"testing"

	"github.com/mtaq/mtaq/policy"
)

func TestStatus(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		r    Recipient
		want string
	}{
		{Recipient{Action: Failed, Enhanced: "5.1.1"}, "5.1.1"},
		{Recipient{Action: Failed}, "5.0.0"},
		{Recipient{Action: Delayed}, "4.0.0"},
		{Recipient{Action: Delayed, Enhanced: "4.7.1"}, "4.7.1"},
		{Recipient{Action: Failed, Enhanced: "4.2.2"}, "5.2.2"}, // class follows the action
		{Recipient{Action: Failed, Expired: true}, "5.4.7"},     // delivery time expired
		{Recipient{Action: Failed, Expired: true, Enhanced: "4.0.0"}, "5.4.7"},
		{Recipient{Action: Failed, Expired: true, Enhanced: "4.2.2"}, "5.2.2"},
		{Recipient{Action: Failed, Enhanced: "5.1.1\r\nX: y"}, "5.0.0"}, // garbage is not echoed
	} {
		if got := status(c.r); got != c.want {
			t.Errorf("status(%+v) = %q, want %q", c.r, got, c.want)
		}
	}
}

func TestDiagnostic(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		r    Recipient
		want string
	}{
		{Recipient{Code: 550, Enhanced: "5.1.1", Text: "no such\nuser"}, "smtp; 550 5.1.1 no such user"},
		{Recipient{Code: 421, Text: "busy"}, "smtp; 421 busy"},
		{Recipient{Enhanced: "5.1.2", Text: "lookup example.test: no such host"}, "X-mtaq; 5.1.2 lookup example.test: no such host"},
		{Recipient{}, ""},
	} {
		if got := diagnostic(c.r); got != c.want {
			t.Errorf("diagnostic(%+v) = %q, want %q", c.r, got, c.want)
		}
	}
}

func TestFold(t *testing.T) {
	t.Parallel()
	long := "Diagnostic-Code: smtp; 550 5.7.1 " + strings.Repeat("word ", 60) + strings.Repeat("x", 2000)
	got := fold(long)
	if !strings.HasSuffix(got, "\r\n") {
		t.Fatalf("no CRLF at the end: %q", got)
	}
	for i, line := range strings.Split(strings.TrimSuffix(got, "\r\n"), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line %d is %d octets", i, len(line))
		}
		if i > 0 && !strings.HasPrefix(line, " ") {
			t.Errorf("continuation line %d does not start with a space: %q", i, line)
		}
	}
}

func TestCapHeaders(t *testing.T) {
	t.Parallel()
	h := "A: 1\r\nB: 2\r\n\tcontinued\r\nC: 3\r\n\r\nbody: not a header\r\n"
	for _, c := range []struct {
		max  int
		want string
	}{
		{0, "A: 1\r\nB: 2\r\n\tcontinued\r\nC: 3\r\n"},
		{6, "A: 1\r\n"},
		{23, "A: 1\r\n"}, // B with its continuation line needs 24
		{24, "A: 1\r\nB: 2\r\n\tcontinued\r\n"},
		{3, ""},
	} {
		if got := capHeaders([]byte(h), c.max); got != c.want {
			t.Errorf("capHeaders(%d) = %q, want %q", c.max, got, c.want)
		}
	}
	if got := capHeaders([]byte(" orphan\nA: 1\nB: 2"), 0); got != "A: 1\r\nB: 2\r\n" {
		t.Errorf("bare LF headers: %q", got)
	}
}

func TestBuildRefuses(t *testing.T) {
	t.Parallel()
	ok := Input{Hostname: "h.example", To: "a@example.org", Rcpts: []Recipient{{Address: "b@example.test", Action: Failed}}}
	if _, err := Build(ok); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Input){
		"null sender":  func(in *Input) { in.To = "" },
		"no hostname":  func(in *Input) { in.Hostname = "" },
		"no rcpts":     func(in *Input) { in.Rcpts = nil },
		"wrong action": func(in *Input) { in.Rcpts = []Recipient{{Address: "b@x", Action: "delivered"}} },
	} {
		in := ok
		mut(&in)
		if _, err := Build(in); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestBuildNoInjection(t *testing.T) {
	t.Parallel()
	msg, err := Build(Input{Hostname: "h.example", ID: "X", To: "a@example.org\r\nBcc: victim@example.net",
		Rcpts: []Recipient{{Address: "b@example.test\r\nAction: delivered", Action: Failed, Code: 550,
			Text: "bad\r\n\r\nFinal-Recipient: rfc822; forged@example.net"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(msg), "\r\n") {
		if strings.HasPrefix(line, "Bcc:") || strings.HasPrefix(line, "Action: delivered") ||
			strings.HasPrefix(line, "Final-Recipient: rfc822; forged") {
			t.Errorf("injected line %q in:\n%s", line, msg)
		}
	}
	if strings.Contains(strings.ReplaceAll(string(msg), "\r\n", ""), "\n") ||
		strings.Contains(strings.ReplaceAll(string(msg), "\r\n", ""), "\r") {
		t.Error("bare CR or LF in the DSN")
	}
}

func TestBuildGroupsWarningAndFailure(t *testing.T) {
	t.Parallel()
	msg, err := Build(Input{Hostname: "h.example", ID: "X", To: "a@example.org", Rcpts: []Recipient{
		{Address: "b@example.test", Action: Failed, Category: "auth_failure", Code: 550, Enhanced: "5.7.26"},
		{Address: "c@example.test", Action: Failed, Category: "mailbox_full", Code: 552, Enhanced: "5.2.2"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Subject: Undelivered Mail Returned to Sender",
		"the receiving server refused mail from us: the message failed sender authentication",
		"the mailbox is full", "Status: 5.7.26", "Status: 5.2.2"} {
		if !strings.Contains(string(msg), want) {
			t.Errorf("missing %q", want)
		}
	}
}

// TestReasonForEveryCategory: each category gets its own sentence from
// policy's texts, on a failure and on a delay.
func TestReasonForEveryCategory(t *testing.T) {
	t.Parallel()
	for _, c := range policy.Categories() {
		want, _ := policy.TextsFor(c)
		for _, a := range []Action{Failed, Delayed} {
			got := reason(Recipient{Category: string(c), Action: a})
			if c == policy.Unclassified && a == Delayed {
				want.Reason = "delivery failed temporarily"
			}
			if got != want.Reason || got == "" {
				t.Errorf("%s, %s: reason %q, want %q", c, a, got, want.Reason)
			}
		}
	}
}
