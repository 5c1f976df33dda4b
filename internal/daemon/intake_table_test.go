package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/internal/sendmail"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

// wayOutcome is what one way in made of one input: the refusal's enhanced
// code, or the message as stored.
type wayOutcome struct {
	refused string // "5.4.6"; "" when accepted
	msg     *queue.Message
	body    string
}

// way is one way into the daemon.
type way struct {
	name string
	send func(t *testing.T, n *internet, cfg conf.Config, sender string, rcpts []string, data string) wayOutcome
}

var ways = []way{{"smtp", viaSMTP}, {"sendmail", viaSendmail}, {"dsn", viaDSN}}

// stored finds the message queued for rcpt.
func stored(t *testing.T, n *internet, rcpt string) (*queue.Message, string) {
	t.Helper()
	ms, err := n.d.Store().List(context.Background(), queue.Filter{Rcpt: rcpt})
	if err != nil || len(ms) != 1 {
		t.Fatalf("%d messages for %s (%v)", len(ms), rcpt, err)
	}
	body, _ := n.d.Store().Body(context.Background(), ms[0].ID)
	return ms[0], string(body)
}

func viaSMTP(t *testing.T, n *internet, _ conf.Config, sender string, rcpts []string, data string) wayOutcome {
	c, err := smtp.Dial(n.d.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	refused := func(err error) wayOutcome {
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			t.Fatalf("smtp: %v", err)
		}
		return wayOutcome{refused: fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])}
	}
	if err := c.Mail(sender, nil); err != nil {
		return refused(err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return refused(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return refused(err)
	}
	w.Write([]byte(data))
	if err := w.Close(); err != nil {
		return refused(err)
	}
	m, body := stored(t, n, rcpts[0])
	return wayOutcome{msg: m, body: body}
}

var replyCode = regexp.MustCompile(`\b[245]\d\d ([245]\.\d{1,3}\.\d{1,3})\b`)

func viaSendmail(t *testing.T, n *internet, cfg conf.Config, sender string, rcpts []string, data string) wayOutcome {
	var out, errOut bytes.Buffer
	env := sendmail.Env{Prog: "sendmail", Stdin: strings.NewReader(data), Stdout: &out, Stderr: &errOut,
		Config: cfg, Now: n.clk.Now, User: func() (string, int) { return "app", 0 }}
	if code := sendmail.Run(env, append([]string{"-i", "-f", sender}, rcpts...)); code != 0 {
		m := replyCode.FindStringSubmatch(errOut.String())
		if m == nil {
			t.Fatalf("sendmail exit %d without a reply code: %s", code, errOut.String())
		}
		return wayOutcome{refused: m[1]}
	}
	// pickup looks at the maildrop every second of the daemon's clock.
	waitfor.True(t, "the maildrop file for "+rcpts[0]+" imported", func() bool {
		if ms, _ := n.d.Store().List(context.Background(), queue.Filter{Rcpt: rcpts[0]}); len(ms) == 1 {
			return true
		}
		n.clk.Advance(time.Second)
		return false
	})
	m, body := stored(t, n, rcpts[0])
	return wayOutcome{msg: m, body: body}
}

// viaDSN goes in as the DSN sender does.
func viaDSN(t *testing.T, n *internet, _ conf.Config, _ string, rcpts []string, data string) wayOutcome {
	in, ctx := n.d.Intake(), context.Background()
	o := intake.Origin{Kind: intake.DSN, ClientAddr: "local (dsn)", UTF8: true, NoDSN: true, Fixup: true}
	rs, err := in.Recipients(ctx, o, rcpts)
	if err == nil {
		_, err = in.Submit(ctx, intake.Message{Origin: o, Rcpts: rs, Data: []byte(data)})
	}
	var ie *intake.Error
	if errors.As(err, &ie) {
		return wayOutcome{refused: ie.Enhanced}
	}
	if err != nil {
		t.Fatal(err)
	}
	m, body := stored(t, n, rcpts[0])
	return wayOutcome{msg: m, body: body}
}

func header(body, name string) string {
	h, _, _ := strings.Cut(body, "\r\n\r\n")
	for _, l := range strings.Split(h, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestSameInputSameOutcome sends the same inputs through SMTP, sendmail
// and the DSN path: intake is the one place that decides, so each input
// gets the same wayOutcome on every way in.
func TestSameInputSameOutcome(t *testing.T) {
	var cfg conf.Config
	n := newInternet(t, func(c *conf.Config) {
		c.Submission.MaxMessageBytes = 64 << 10
		cfg = *c
	})
	// ok.test defers everything, so each stored message keeps its body.
	n.mx("ok.test", 10, "mx.ok.test", "127.0.0.2", smtptest.WithRcpt(func(string) error {
		return smtptest.Reply(451, "4.3.0", "try later")
	}))
	const complete = "From: App <app@sender.test>\r\nDate: Mon, 07 Dec 2026 09:00:00 +0000\r\nMessage-ID: <m@app.test>\r\nSubject: s\r\n"
	ctx := context.Background()
	hundreds := func(prefix string, k int) []string {
		var out []string
		for i := range k {
			out = append(out, fmt.Sprintf("%s-%d@ok.test", prefix, i))
		}
		return out
	}
	for i, row := range []struct {
		name  string
		data  string
		rcpts func(prefix string) []string
		check func(t *testing.T, o wayOutcome)
	}{
		{"no Message-ID", strings.Replace(complete, "Message-ID: <m@app.test>\r\n", "", 1) + "\r\nx\r\n", nil,
			func(t *testing.T, o wayOutcome) {
				if o.refused != "" || header(o.body, "Message-ID") != "<"+o.msg.ID+"@mtaq.test>" {
					t.Fatalf("%+v arrived %v\n%s", o.refused, o.msg.Arrived, o.body)
				}
			}},
		{"no Date", strings.Replace(complete, "Date: Mon, 07 Dec 2026 09:00:00 +0000\r\n", "", 1) + "\r\nx\r\n", nil,
			func(t *testing.T, o wayOutcome) {
				if o.refused != "" || header(o.body, "Date") != o.msg.Arrived.Format(time.RFC1123Z) {
					t.Fatalf("%+v arrived %v\n%s", o.refused, o.msg.Arrived, o.body)
				}
			}},
		{"no From", strings.Replace(complete, "From: App <app@sender.test>\r\n", "", 1) + "\r\nx\r\n", nil,
			func(t *testing.T, o wayOutcome) {
				if o.refused != "" || !strings.HasSuffix(header(o.body, "From"), "@sender.test>") && header(o.body, "From") != "<MAILER-DAEMON@mtaq.test>" {
					t.Fatalf("%+v arrived %v\n%s", o.refused, o.msg.Arrived, o.body)
				}
			}},
		{"30 Received fields", strings.Repeat("Received: from a by b; Mon, 07 Dec 2026 08:00:00 +0000\r\n", 30) + complete + "\r\nx\r\n", nil,
			func(t *testing.T, o wayOutcome) {
				if o.refused != "" || strings.Count(o.body, "Received: ") != 31 {
					t.Fatalf("%+v %d Received\n%.500s", o.refused, strings.Count(o.body, "Received: "), o.body)
				}
			}},
		{"31 Received fields: a loop", strings.Repeat("Received: from a by b; Mon, 07 Dec 2026 08:00:00 +0000\r\n", 31) + complete + "\r\nx\r\n", nil,
			func(t *testing.T, o wayOutcome) {
				if o.refused != "5.4.6" {
					t.Fatalf("%+v", o)
				}
			}},
		{"a 1,200-octet line", complete + "\r\n" + strings.Repeat("y", 1200) + "\r\n", nil,
			func(t *testing.T, o wayOutcome) {
				if o.refused != "" || !strings.Contains(o.body, "\r\n"+strings.Repeat("y", 998)+"\r\n "+strings.Repeat("y", 202)+"\r\n") {
					t.Fatalf("%+v\n%q", o.refused, o.body)
				}
			}},
		{"NUL", complete + "\r\nx\x00y\r\n", nil,
			func(t *testing.T, o wayOutcome) {
				if o.refused != "5.6.0" {
					t.Fatalf("%+v", o)
				}
			}},
		{"oversize", complete + "\r\n" + strings.Repeat("z\r\n", 40<<10), nil,
			func(t *testing.T, o wayOutcome) {
				if o.refused != "5.3.4" {
					t.Fatalf("%+v", o)
				}
			}},
		{"1,001 recipients", complete + "\r\nx\r\n", func(p string) []string { return hundreds(p, 1001) },
			func(t *testing.T, o wayOutcome) {
				if !strings.HasSuffix(o.refused, ".5.3") {
					t.Fatalf("%+v", o)
				}
			}},
		{"a suppressed recipient", complete + "\r\nx\r\n", func(p string) []string {
			n.d.Store().Suppress(ctx, queue.Suppression{Address: p + "-gone@ok.test", Reason: "manual", Created: n.clk.Now()})
			return []string{p + "-a@ok.test", p + "-gone@ok.test"}
		}, func(t *testing.T, o wayOutcome) {
			if o.refused != "" || o.msg.Recipients[0].State == queue.Rejected || o.msg.Recipients[1].State != queue.Rejected {
				t.Fatalf("%+v %+v", o.refused, o.msg)
			}
		}},
		{"tag and metadata", "X-Mtaq-Tag: welcome\r\nX-Mtaq-Metadata-user_id: 42\r\n" + complete + "\r\nx\r\n", nil,
			func(t *testing.T, o wayOutcome) {
				if o.refused != "" || o.msg.Tag != "welcome" || o.msg.Metadata["user_id"] != "42" || strings.Contains(o.body, "X-Mtaq") {
					t.Fatalf("%+v %+v", o.refused, o.msg)
				}
			}},
		{"a tag too long", "X-Mtaq-Tag: " + strings.Repeat("t", 200) + "\r\n" + complete + "\r\nx\r\n", nil,
			func(t *testing.T, o wayOutcome) {
				if o.refused != "5.6.0" {
					t.Fatalf("%+v", o)
				}
			}},
	} {
		for _, w := range ways {
			t.Run(row.name+"/"+w.name, func(t *testing.T) {
				prefix := fmt.Sprintf("r%d-%s", i, w.name)
				rcpts := []string{prefix + "@ok.test"}
				if row.rcpts != nil {
					rcpts = row.rcpts(prefix)
				}
				row.check(t, w.send(t, n, cfg, "app@sender.test", rcpts, row.data))
			})
		}
	}
}
