package bounce

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mtaq/mtaq/queue"
)

// fakeStore records what Receive applies; fail makes every apply fail.
type fakeStore struct {
	mu   sync.Mutex
	got  []queue.Feedback
	fail error
}

func (f *fakeStore) ApplyFeedback(_ context.Context, fb queue.Feedback) (queue.FeedbackResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return queue.FeedbackResult{}, f.fail
	}
	f.got = append(f.got, fb)
	return queue.FeedbackResult{FeedbackRecord: queue.FeedbackRecord{Feedback: fb, Matched: true}}, nil
}

func startListener(t *testing.T, st Store, o ServerOptions) (string, *ReturnPath) {
	t.Helper()
	rp := NewReturnPath(Domains{BySender: map[string]string{"example.com": "bounce.example.com"}}, key)
	o.ReturnPath, o.Receiver = rp, NewReceiver(Options{Store: st, ReturnPath: rp})
	o.FeedbackAddresses = []string{"FBL@bounce.example.com"}
	s := NewServer(o)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return l.Addr().String(), rp
}

// dialFrom opens an SMTP session from a chosen loopback address.
func dialFrom(t *testing.T, from, addr string) (*smtp.Client, error) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cl := smtp.NewClient(c)
	if err := cl.Hello("mx.remote.test"); err != nil {
		cl.Close()
		return nil, err
	}
	t.Cleanup(func() { cl.Close() })
	return cl, nil
}

// smtpCode is "550 5.1.1" for an SMTP refusal, else what err was.
func smtpCode(err error) string {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return fmt.Sprintf("%d %d.%d.%d", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	}
	return fmt.Sprintf("not an SMTP refusal: %v", err)
}

const dsnText = "From: MAILER-DAEMON@mx.remote.test\r\nSubject: Undelivered Mail Returned to Sender\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n" +
	"--x\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.remote.test\r\n\r\n" +
	"Final-Recipient: rfc822; ann@remote.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--x--\r\n"

// send runs one transaction and returns the first refusal (nil: 250).
func send(c *smtp.Client, to, data string) error {
	if err := c.Mail("", nil); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(data)); err != nil {
		return err
	}
	return w.Close()
}

func token(t *testing.T, rp *ReturnPath) string {
	t.Helper()
	return rp.Sender(&queue.Message{ID: queue.NewID(time.Unix(1_800_000_000, 0)), Sender: "app@example.com"})
}

// The listener answers 250 only after the store committed the report;
// when the store cannot, the remote MTA is told to try again.
func TestListenerRepliesAfterTheCommit(t *testing.T) {
	st := &fakeStore{}
	addr, rp := startListener(t, st, ServerOptions{MaxBytes: 64 << 10})
	tok := token(t, rp)
	c, err := dialFrom(t, "127.0.0.1", addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := send(c, tok, dsnText); err != nil {
		t.Fatalf("a DSN to a valid token: %v", err)
	}
	if len(st.got) != 1 || st.got[0].Rcpt != "ann@remote.test" || !st.got[0].Verified {
		t.Fatalf("applied %+v, want one verified bounce for ann", st.got)
	}
	for _, c2 := range []struct{ to, data, want string }{
		{"fbl@BOUNCE.example.com", "Subject: hello\r\n\r\nnot a report\r\n", ""},
		{"b-0000000000000000-aaaaaaaaaa@bounce.example.com", dsnText, "550 5.1.1"},
		{"postmaster@bounce.example.com", dsnText, "550 5.1.1"},
		{tok, "\x00\x01 binary, no header at all", "554 5.6.0"},
		{tok, dsnText + strings.Repeat(strings.Repeat("x", 78)+"\r\n", 1000), "552 5.3.4"},
	} {
		err := send(c, c2.to, c2.data)
		if got := smtpCode(err); (c2.want == "" && err != nil) || (c2.want != "" && got != c2.want) {
			t.Errorf("to %s: %s, want %q", c2.to, got, c2.want)
		}
		c.Reset()
	}
	st.fail = errors.New("disk on fire")
	if got := smtpCode(send(c, tok, dsnText+"\r\n")); got != "451 4.3.0" {
		t.Errorf("store failing: %s, want 451 4.3.0", got)
	}
}

// Connection limits per client and in all; a flood of reports from one
// client is told to wait.
func TestListenerLimits(t *testing.T) {
	addr, rp := startListener(t, &fakeStore{}, ServerOptions{MaxConns: 3, MaxConnsPerIP: 2, MaxReportsPerIP: 2})
	for i := 0; i < 2; i++ {
		if _, err := dialFrom(t, "127.0.0.1", addr); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	if _, err := dialFrom(t, "127.0.0.1", addr); smtpCode(err) != "421 4.7.0" {
		t.Errorf("third from one address: %s, want 421 4.7.0", smtpCode(err))
	}
	c, err := dialFrom(t, "127.0.0.2", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dialFrom(t, "127.0.0.3", addr); smtpCode(err) != "421 4.3.2" {
		t.Errorf("fourth in all: %s, want 421 4.3.2", smtpCode(err))
	}
	tok := token(t, rp)
	for i := 0; i < 2; i++ {
		if err := send(c, tok, dsnText+strings.Repeat("\r\n", i+1)); err != nil {
			t.Fatalf("report %d: %v", i, err)
		}
	}
	if got := smtpCode(send(c, tok, dsnText)); got != "451 4.7.1" {
		t.Errorf("third report within the hour: %s, want 451 4.7.1", got)
	}
}
