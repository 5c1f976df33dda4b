package feedback

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/mtaq/mtaq/internal/postfixtest"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
)

// postfixScenarios are the bounces postfixBounce can make: the recipient
// the original message goes to and, in comments, what Postfix does.
var postfixScenarios = map[string]string{
	// local(8) finds no such account: "unknown user", 5.1.1
	"unknown-local-user": "No.Such.User@local.postfix.test",
	// the next hop (our sink) answers 550 5.1.1 to RCPT
	"remote-550": "Jane.Doe+news@users.example.net",
}

// postfixSender is the original message's envelope sender: the DSN goes
// back to it, and the sink keeps what arrives for its domain.
const postfixSender = "app@sender.example"

// postfixBounce runs a private Postfix instance (its own config and queue
// directories in a temporary directory, loopback only) that relays to an
// in-test SMTP sink, sends it one message that must bounce as scenario
// says, and returns the bounce Postfix sends back to the sender, byte for
// byte as the sink received it. Postfix is stopped before it returns.
//
// Without /usr/sbin/postfix or root (Postfix's master must start as root)
// the test is skipped, unless MTAQ_E2E_TOOLS=require (CI), where it fails.
func postfixBounce(t *testing.T, scenario string) []byte {
	t.Helper()
	rcpt, ok := postfixScenarios[scenario]
	if !ok {
		t.Fatalf("postfixBounce: unknown scenario %q", scenario)
	}
	postfixtest.Require(t)

	sink := smtptest.New(t, fmt.Sprintf("127.0.0.1:%d", smtptest.FreePort(t)),
		smtptest.WithRcpt(func(to string) error {
			if strings.HasSuffix(strings.ToLower(to), "@users.example.net") {
				return smtptest.Reply(550, "5.1.1", "<"+to+">: Recipient address rejected: User unknown")
			}
			return nil
		}))
	listen := fmt.Sprintf("127.0.0.1:%d", smtptest.FreePort(t))
	pf := postfixtest.Start(t, postfixtest.Options{Listen: listen, Relay: sink.Addr()})

	smtptest.SubmitMessage(t, listen, postfixSender, nil,
		"From: App <"+postfixSender+">\r\nTo: "+rcpt+"\r\nSubject: order 4711\r\n"+
			"Message-ID: <order-4711@sender.example>\r\n\r\nThank you for your order.\r\n", rcpt)

	var dsn []byte
	waitfor.NoError(t, func() error {
		for _, m := range sink.Messages() {
			if len(m.To) == 1 && m.To[0] == postfixSender {
				dsn = m.Data
				return nil
			}
		}
		return fmt.Errorf("no bounce for %s at the sink yet; Postfix's log:\n%s", rcpt, pf.Log())
	})
	pf.Stop(t)
	return dsn
}

// TestPostfixBounceIsAReport: Debian's Postfix, bouncing a message to an
// unknown local user, sends a multipart/report naming the recipient. The
// parser's own tests take the bytes from postfixBounce.
func TestPostfixBounceIsAReport(t *testing.T) {
	for _, scenario := range []string{"unknown-local-user", "remote-550"} {
		t.Run(scenario, func(t *testing.T) {
			dsn := postfixBounce(t, scenario)
			rcpt := postfixScenarios[scenario]
			for _, want := range []string{
				"Content-Type: multipart/report; report-type=delivery-status;",
				"Content-Type: message/delivery-status",
				"Final-Recipient: rfc822; " + rcpt,
				"Action: failed",
				"Status: 5.1.1",
				"Message-ID: <order-4711@sender.example>",
			} {
				if !bytes.Contains(dsn, []byte(want)) {
					t.Errorf("bounce lacks %q:\n%s", want, dsn)
				}
			}
			rep, err := Parse(dsn, Options{})
			if err != nil || rep.Kind != KindDSN || len(rep.Recipients) != 1 || !strings.EqualFold(rep.Recipients[0].Address, rcpt) {
				t.Fatalf("parsed %+v (%v), want one dsn recipient %s", rep, err, rcpt)
			}
			if r := rep.Recipients[0]; r.Action != "failed" || r.Status != "5.1.1" ||
				rep.Original.MessageID != "order-4711@sender.example" {
				t.Errorf("parsed %+v, original %+v: want failed 5.1.1 about <order-4711@sender.example>", r, rep.Original)
			}
		})
	}
}
