package admin

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestEventsOverTheSocket(t *testing.T) {
	f := newFixture(t)
	sock := filepath.Join(shortDir(t), "admin.sock")
	startServer(t, f.svc, ServerOptions{SocketPath: sock})
	c := NewClient(sock)
	id := f.enqueue("a@x.test", "b@y.test")
	f.defer_(id, 1, "greylisted")

	page, err := c.Events(bg, 0, 0)
	if err != nil || len(page.Events) != 3 || page.Last != 3 {
		t.Fatalf("events %+v, %v", page, err)
	}
	if e := page.Events[2]; e.Kind != "deferred" || e.ID != id || e.Rcpt != "b@y.test" || e.Reply == nil {
		t.Fatalf("third event %+v", e)
	}
	page, err = c.Events(bg, 1, 1)
	if err != nil || len(page.Events) != 1 || page.Events[0].Seq != 2 || page.Last != 2 {
		t.Fatalf("after=1 limit=1: %+v, %v", page, err)
	}
	page, err = c.Events(bg, 3, 0)
	if err != nil || len(page.Events) != 0 || page.Last != 3 {
		t.Fatalf("caught up: %+v, %v", page, err)
	}
	if err := c.do(bg, "GET", "/v1/events", map[string][]string{"after": {"x"}}, nil, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad after: %v", err)
	}
}
