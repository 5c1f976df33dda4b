package sendmail_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/sendmail"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/queue"
)

// storeAdmin answers ListQueue from the daemon's queue, standing in for
// admin.Client until it is merged: the listing is then the same data the
// admin API serves, only not over the socket.
type storeAdmin struct {
	admin.API
	store queue.Store
}

func (s storeAdmin) ListQueue(ctx context.Context, f admin.QueueFilter) (*admin.QueuePage, error) {
	ms, err := s.store.List(ctx, queue.Filter{State: queue.State(f.State), After: f.After, Limit: f.Limit})
	if err != nil {
		return nil, err
	}
	page := &admin.QueuePage{Messages: []admin.QueueEntry{}}
	for _, m := range ms {
		e := admin.QueueEntry{ID: m.ID, Sender: m.Sender, Arrived: m.Arrived, Size: m.Size}
		for _, r := range m.Recipients {
			e.Recipients = append(e.Recipients, admin.RecipientEntry{Address: r.Address, State: string(r.State),
				Attempts: r.Attempts, LastReply: r.LastReply})
		}
		page.Messages = append(page.Messages, e)
	}
	return page, nil
}

func TestMailqListsDeferred(t *testing.T) {
	w := newWorld(t, smtptest.WithRcpt(func(string) error {
		return smtptest.Reply(451, "4.7.1", "greylisted, come back later")
	}))
	w.start()
	if code, out := w.run("Subject: e2e-mailq\n\nx\n", "sendmail", "-f", "app@mtaq.test", "frank@dest.test"); code != 0 {
		t.Fatalf("sendmail: exit %d: %s", code, out)
	}
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	var id string
	for id == "" {
		ms, _ := w.d.Store().List(ctx, queue.Filter{State: queue.Deferred})
		if len(ms) == 1 {
			id = ms[0].ID
		} else if time.Now().After(deadline) {
			t.Fatal("the message never became deferred")
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	var out, errOut bytes.Buffer
	env := sendmail.OSEnv("mailq", w.conf, storeAdmin{store: w.d.Store()})
	env.Stdout, env.Stderr = &out, &errOut
	if code := sendmail.Run(env, []string{"-bp"}); code != 0 {
		t.Fatalf("mailq: exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{id, "app@mtaq.test", "deferred frank@dest.test  (451 4.7.1 greylisted, come back later)", "in 1 Requests."} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("mailq output lacks %q:\n%s", want, out.String())
		}
	}
}
