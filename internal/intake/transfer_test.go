package intake

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mtaq/mtaq/queue"
)

// A store without ImportTransfers cannot take transfers; a malformed
// transfer is refused before anything is written.
func TestTransferredChecks(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	good := func() *queue.Transfer {
		return &queue.Transfer{Body: []byte("Subject: x\r\n\r\nx\r\n"), Message: &queue.Message{ID: queue.NewID(at), Sender: "a@example.org",
			Arrived: at, Recipients: []queue.Recipient{{Address: "b@example.net", State: queue.Deferred, Attempts: 2}}}}
	}
	in := New(Options{Hostname: "mtaq.test", Store: noTransfers{}})
	if _, err := in.Transferred(context.Background(), []*queue.Transfer{good()}); !errors.Is(err, ErrNoTransfers) {
		t.Fatalf("store without transfers: %v", err)
	}
	st := &transferStore{}
	in = New(Options{Hostname: "mtaq.test", Store: st})
	for name, bad := range map[string]func(*queue.Transfer){
		"no id":         func(t *queue.Transfer) { t.Message.ID = "" },
		"no body":       func(t *queue.Transfer) { t.Body = nil },
		"bad recipient": func(t *queue.Transfer) { t.Message.Recipients[0].Address = "b@exa mple.net" },
		"bad sender":    func(t *queue.Transfer) { t.Message.Sender = "<x>" },
		"nothing open":  func(t *queue.Transfer) { t.Message.Recipients[0].State = queue.Delivered },
		"no arrival":    func(t *queue.Transfer) { t.Message.Arrived = time.Time{} },
	} {
		tr := good()
		bad(tr)
		if _, err := in.Transferred(context.Background(), []*queue.Transfer{good(), tr}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if st.calls != 0 {
		t.Fatalf("the store was called %d times for refused transfers", st.calls)
	}
	if _, err := in.Transferred(context.Background(), []*queue.Transfer{good()}); err != nil || st.calls != 1 {
		t.Fatalf("a good transfer: %v, %d calls", err, st.calls)
	}
}

type noTransfers struct{}

func (noTransfers) Enqueue(context.Context, *queue.Message, []byte) error { return nil }
func (noTransfers) Suppression(context.Context, string, time.Time) (*queue.Suppression, error) {
	return nil, nil
}

type transferStore struct {
	noTransfers
	calls int
}

func (s *transferStore) ImportTransfers(_ context.Context, ts []*queue.Transfer) ([]bool, error) {
	s.calls++
	return make([]bool, len(ts)), nil
}

// Draining refuses every way in with 421 4.3.2 except mtaq's own DSNs,
// and takes mail again when it ends.
func TestDrainingRefusesNewMail(t *testing.T) {
	in, st, _ := newTest(t)
	msg := func(k Kind) Message {
		return Message{Origin: Origin{Kind: k, Fixup: true}, Sender: "app@x.test", Rcpts: rcpts(in, t, "a@y.test"),
			Data: []byte("Subject: s\r\n\r\nbody\r\n")}
	}
	in.SetDraining(true)
	for _, k := range []Kind{SMTP, HTTP, Sendmail} {
		_, err := in.Submit(context.Background(), msg(k))
		var e *Error
		if !errors.As(err, &e) || e != ErrDraining || !e.Temporary() || e.Enhanced != "4.3.2" {
			t.Errorf("%s while draining: %v, want 421 4.3.2", k, err)
		}
	}
	if _, err := in.Submit(context.Background(), msg(DSN)); err != nil {
		t.Errorf("a DSN while draining: %v", err)
	}
	in.SetDraining(false)
	if _, err := in.Submit(context.Background(), msg(SMTP)); err != nil {
		t.Errorf("after the drain: %v", err)
	}
	if ms, _ := st.List(context.Background(), queue.Filter{}); len(ms) != 2 {
		t.Errorf("%d messages queued, want the DSN and the one after the drain", len(ms))
	}
}
