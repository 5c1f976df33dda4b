package submission

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/queue"
)

// gatedStore holds each Enqueue until the gate opens, to catch a commit in
// progress at shutdown.
type gatedStore struct {
	*fakeStore
	entered chan struct{}
	gate    chan struct{}
}

func (g *gatedStore) Enqueue(ctx context.Context, m *queue.Message, body []byte) error {
	g.entered <- struct{}{}
	<-g.gate
	return g.fakeStore.Enqueue(ctx, m, body)
}

// TestShutdownEndsEveryTransfer: at the shutdown deadline every client ends
// with a 250 (its message committed) or a 421 (not), and nothing else: one
// committing, one mid-body in DATA, one mid-chunk in BDAT, one between
// commands.
func TestShutdownEndsEveryTransfer(t *testing.T) {
	gs := &gatedStore{fakeStore: &fakeStore{suppressed: map[string]bool{}},
		entered: make(chan struct{}, 1), gate: make(chan struct{})}
	e := start(t, func(o *Options) { o.Store = gs })

	committing := e.dial(t)
	committing.envelope("a@b.test", "x@example.test")
	committing.cmd("DATA", "354 ")
	committing.write("Subject: committed\r\n\r\nwhole\r\n.\r\n")
	<-gs.entered // the final dot is in; the commit is under way

	inData := e.dial(t)
	inData.envelope("a@b.test", "x@example.test")
	inData.cmd("DATA", "354 ")
	inData.write("Subject: half\r\n\r\nthe first half of a body")

	inBDAT := e.dial(t)
	inBDAT.envelope("a@b.test", "x@example.test")
	inBDAT.write("BDAT 1000 LAST\r\nSubject: chunk\r\n\r\npart of a chunk")

	idle := e.dial(t)
	idle.envelope("a@b.test", "x@example.test")

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.srv.Shutdown(ctx) }()
	// Past the deadline Shutdown stops every session at once: the other
	// three end while the commit is still held, which shows the stop has
	// reached the sessions; only then may the commit finish.
	got := map[string][]string{"mid-DATA": inData.untilEOF(), "mid-BDAT": inBDAT.untilEOF(),
		"between MAIL/RCPT and DATA": idle.untilEOF()}
	close(gs.gate)
	got["committing"] = committing.untilEOF()
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}

	want := map[string]string{
		"committing":                 "250 2.0.0 Ok: queued as ",
		"mid-DATA":                   "421 4.3.2 ",
		"mid-BDAT":                   "421 4.3.2 ",
		"between MAIL/RCPT and DATA": "421 4.",
	}
	for name, prefix := range want {
		got := got[name]
		if len(got) == 0 || !strings.HasPrefix(got[0], prefix) {
			t.Errorf("%s: replies %q, want first %q", name, got, prefix)
		}
		for _, l := range got[1:] {
			if !strings.HasPrefix(l, "421 ") {
				t.Errorf("%s: after %q also %q", name, got[0], l)
			}
		}
		t.Logf("%s: %q", name, got)
	}
	msgs, _ := gs.messages()
	if len(msgs) != 1 {
		t.Fatalf("stored %d messages, want the committed one only", len(msgs))
	}
}
