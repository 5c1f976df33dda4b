package intake

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/dkim"
	"github.com/mtaq/mtaq/queue"
)

func newTest(t *testing.T) (*Intake, *queue.PebbleStore, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	st, err := queue.Open(t.TempDir(), queue.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(Options{Hostname: "mtaq.test", Store: st, Clock: clk, MaxRecipients: 5, MaxHops: 30,
		MaxMessageBytes: 64 << 10}), st, clk
}

func rcpts(in *Intake, t *testing.T, addrs ...string) []Recipient {
	t.Helper()
	rs, err := in.Recipients(context.Background(), Origin{Kind: SMTP}, addrs)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestFixupAddsOnlyWhatIsMissing(t *testing.T) {
	in, _, clk := newTest(t)
	origin := Origin{Kind: SMTP, ClientAddr: "127.0.0.1", Helo: "app", Fixup: true}
	p, err := in.Prepare(Message{Origin: origin, Sender: "app@example.org", Rcpts: rcpts(in, t, "a@x.test"),
		Data: []byte("Subject: hi\r\n\r\nbody\r\n")}, "06ID", clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	fields, body, _ := SplitHeader(p.Data)
	got := map[string]string{}
	for _, f := range fields {
		got[strings.ToLower(f.Name)] = f.Value()
	}
	if got["message-id"] != "<06ID@mtaq.test>" || got["date"] != "Mon, 07 Dec 2026 09:00:00 +0000" ||
		got["from"] != "<app@example.org>" || got["subject"] != "hi" || string(body) != "body\r\n" {
		t.Fatalf("fixed up:\n%s", p.Data)
	}
	// Present fields are kept as they are, and an untrusted origin (or a
	// DSN) gets nothing added.
	full := "From: Me <me@example.org>\r\nDate: Sun, 06 Dec 2026 01:02:03 +0100\r\nMessage-ID: <mine@example.org>\r\n\r\nx\r\n"
	for _, o := range []Origin{origin, {Kind: DSN}} {
		p, err = in.Prepare(Message{Origin: o, Sender: "app@example.org", Rcpts: rcpts(in, t, "a@x.test"),
			Data: []byte(full)}, "06ID", clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, rest, _ := strings.Cut(string(p.Data), ";\r\n\tMon, 07 Dec 2026 09:00:00 +0000\r\n"); rest != full {
			t.Fatalf("%s: message changed:\n%s", o.Kind, p.Data)
		}
	}
	p, _ = in.Prepare(Message{Origin: Origin{Kind: DSN}, Rcpts: rcpts(in, t, "a@x.test"), Data: []byte("Subject: x\r\n\r\ny\r\n")}, "06ID", clk.Now())
	if strings.Contains(string(p.Data), "Message-ID") {
		t.Fatalf("a DSN was fixed up:\n%s", p.Data)
	}
}

func TestLabels(t *testing.T) {
	in, st, _ := newTest(t)
	ok := "X-Mtaq-Tag: welcome\r\nX-Mtaq-Metadata-user_id: 42\r\nx-mtaq-metadata-Plan: pro plan\r\nSubject: s\r\n\r\nb\r\n"
	acc, err := in.Submit(context.Background(), Message{Origin: Origin{Kind: SMTP, ClientAddr: "127.0.0.1"},
		Sender: "app@example.org", Rcpts: rcpts(in, t, "a@x.test"), Data: []byte(ok)})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := st.Message(context.Background(), acc.ID)
	body, _ := st.Body(context.Background(), acc.ID)
	if m.Tag != "welcome" || m.Metadata["user_id"] != "42" || m.Metadata["Plan"] != "pro plan" || len(m.Metadata) != 2 {
		t.Fatalf("labels %q %v", m.Tag, m.Metadata)
	}
	if strings.Contains(strings.ToLower(string(body)), "x-mtaq") {
		t.Fatalf("labels left in the message:\n%s", body)
	}
	many := ""
	for i := range 11 {
		many += "X-Mtaq-Metadata-k" + string(rune('a'+i)) + ": v\r\n"
	}
	for name, tc := range map[string]struct{ data, field string }{
		"two tags":      {"X-Mtaq-Tag: a\r\nX-Mtaq-Tag: b\r\n\r\nx\r\n", "X-Mtaq-Tag"},
		"long tag":      {"X-Mtaq-Tag: " + strings.Repeat("t", 129) + "\r\n\r\nx\r\n", "X-Mtaq-Tag"},
		"eleven keys":   {many + "\r\nx\r\n", "X-Mtaq-Metadata-kk"},
		"bad key":       {"X-Mtaq-Metadata-a/b: v\r\n\r\nx\r\n", "X-Mtaq-Metadata-a/b"},
		"key twice":     {"X-Mtaq-Metadata-a: v\r\nX-Mtaq-Metadata-A: w\r\n\r\nx\r\n", "X-Mtaq-Metadata-A"},
		"long value":    {"X-Mtaq-Metadata-a: " + strings.Repeat("v", 257) + "\r\n\r\nx\r\n", "X-Mtaq-Metadata-a"},
		"control chars": {"X-Mtaq-Tag: a\x01b\r\n\r\nx\r\n", "X-Mtaq-Tag"},
	} {
		_, err := in.Submit(context.Background(), Message{Origin: Origin{Kind: SMTP}, Sender: "app@example.org",
			Rcpts: rcpts(in, t, "a@x.test"), Data: []byte(tc.data)})
		e, ok := err.(*Error)
		if !ok || e.Code != 550 || e.Enhanced != "5.6.0" || e.Field != tc.field || !strings.HasPrefix(e.Text, tc.field+": ") {
			t.Errorf("%s: %v (field %q), want 550 5.6.0 naming %s", name, err, fieldOf(err), tc.field)
		}
	}
}

func fieldOf(err error) string {
	if e, ok := err.(*Error); ok {
		return e.Field
	}
	return ""
}

func TestLimits(t *testing.T) {
	in, _, _ := newTest(t)
	hops := strings.Repeat("Received: from a by b; Mon, 07 Dec 2026 09:00:00 +0000\r\n", 31)
	for name, tc := range map[string]struct {
		data  string
		rcpts int
		want  *Error
	}{
		"31 Received":   {hops + "\r\nx\r\n", 1, ErrTooManyHops},
		"30 Received":   {hops[len(hops)/31:] + "\r\nx\r\n", 1, nil},
		"oversize":      {"S: x\r\n\r\n" + strings.Repeat("y", 64<<10), 1, ErrSize},
		"NUL":           {"S: x\r\n\r\nx\x00\r\n", 1, ErrNUL},
		"6 recipients":  {"S: x\r\n\r\nx\r\n", 6, ErrRcptLimit},
		"no recipients": {"S: x\r\n\r\nx\r\n", 0, ErrNoRecipients},
	} {
		var rs []Recipient
		for i := range tc.rcpts {
			rs = append(rs, Recipient{Address: "a" + string(rune('a'+i)) + "@x.test", Domain: "x.test"})
		}
		_, err := in.Submit(context.Background(), Message{Origin: Origin{Kind: SMTP}, Rcpts: rs, Data: []byte(tc.data)})
		if tc.want == nil && err != nil || tc.want != nil && err != tc.want {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if _, err := in.Recipients(context.Background(), Origin{Kind: SMTP}, []string{"a@x.test", "A@x.test", "b@x.test", "c@x.test", "d@x.test", "e@x.test", "f@x.test"}); err != ErrRcptLimit {
		t.Errorf("7 addresses, 6 distinct: %v", err)
	}
}

func TestCountReceived(t *testing.T) {
	msg := "Received: a\r\n\tfolded received: no\r\nRECEIVED : b\r\nX-Received: no\r\nReceivedx: no\r\n\r\nReceived: body\r\n"
	fields, _, _ := SplitHeader([]byte(msg))
	if n := countReceived(fields); n != 2 {
		t.Fatalf("count %d", n)
	}
}

func TestReceivedFieldCleansHelo(t *testing.T) {
	in, _, clk := newTest(t)
	f := in.received(Message{Origin: Origin{Kind: SMTP, Helo: "evil)\tx\x7f(é", ClientAddr: "192.0.2.1"}}, "ID", clk.Now())
	if !strings.HasPrefix(f, "Received: from evil??x??? ([192.0.2.1])\r\n\tby mtaq.test (mtaq) with ESMTP id ID") {
		t.Fatalf("%q", f)
	}
}

// dkim_require refuses mail no key covers, naming the domain; a subdomain
// of a key's domain is covered (relaxed alignment).
func TestRequireDKIM(t *testing.T) {
	in, st, clk := newTest(t)
	in = New(Options{Hostname: "mtaq.test", Store: st, Clock: clk, RequireDKIM: true,
		DKIM: dkim.New([]dkim.Key{{Domain: "x.test", Selector: "s"}})})
	prep := func(from string) error {
		_, err := in.Prepare(Message{Origin: Origin{Kind: SMTP, Fixup: true}, Sender: "app@x.test",
			Rcpts: []Recipient{{Address: "a@y.test"}}, Data: []byte("From: " + from + "\r\n\r\nx\r\n")}, "ID", clk.Now())
		return err
	}
	if err := prep("App <app@news.x.test>"); err != nil {
		t.Fatalf("covered subdomain: %v", err)
	}
	e, ok := prep("app@other.test").(*Error)
	if !ok || e.Code != 550 || e.Enhanced != "5.7.0" || !strings.Contains(e.Text, "other.test") {
		t.Fatalf("uncovered domain: %v", e)
	}
	if e, ok := prep("not an address").(*Error); !ok || e.Enhanced != "5.7.0" {
		t.Fatalf("From without a domain: %v", e)
	}
}

// A message without any header gets the fixed-up fields and the empty
// line after them, so its text stays the body.
func TestFixupHeaderlessMessage(t *testing.T) {
	in, _, clk := newTest(t)
	p, err := in.Prepare(Message{Origin: Origin{Kind: SMTP, Fixup: true}, Sender: "app@x.test",
		Rcpts: []Recipient{{Address: "a@y.test"}}, Data: []byte("hello there\r\nsecond line\r\n")}, "ID", clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	fields, body, sep := SplitHeader(p.Data)
	if !sep || string(body) != "hello there\r\nsecond line\r\n" || !Has(fields, "From") || !Has(fields, "Message-ID") {
		t.Fatalf("fields %d sep %v body %q\n%s", len(fields), sep, body, p.Data)
	}
}

// failStore refuses every Enqueue, like a full disk.
type failStore struct{ Store }

func (failStore) Enqueue(context.Context, *queue.Message, []byte) error { return queue.ErrNoSpace }

// Recipients recorded rejected (suppressed) are reported once their
// message is committed, one call each, and never for a refused message.
func TestRejectedReportedAfterCommit(t *testing.T) {
	_, st, clk := newTest(t)
	ctx := context.Background()
	st.Suppress(ctx, queue.Suppression{Address: "gone@a.test", Reason: "manual", Created: clk.Now()})
	var got []string
	for _, tc := range []struct {
		store   Store
		refused bool
	}{{failStore{st}, true}, {st, false}} {
		in := New(Options{Hostname: "mtaq.test", Store: tc.store, Clock: clk, OnRejected: func(d string) { got = append(got, d) }})
		rs, err := in.Recipients(ctx, Origin{Kind: SMTP}, []string{"gone@a.test", "ok@a.test"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = in.Submit(ctx, Message{Origin: Origin{Kind: SMTP}, Rcpts: rs, Data: []byte("S: x\r\n\r\nx\r\n")})
		if (err != nil) != tc.refused {
			t.Fatalf("submit: %v", err)
		}
		if tc.refused && len(got) != 0 {
			t.Fatalf("a refused message reported rejections: %v", got)
		}
	}
	if len(got) != 1 || got[0] != "a.test" {
		t.Fatalf("rejections reported %v, want [a.test]", got)
	}
}
