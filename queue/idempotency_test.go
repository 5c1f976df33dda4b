package queue

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func withKey(m *Message, key, resp string, ttl time.Duration) *Message {
	m.Idempotency = &Idempotency{Key: key, Response: []byte(resp), Expires: m.Arrived.Add(ttl)}
	return m
}

// The first request's response survives a crash (it shares the enqueue's
// synced batch); a retry queues nothing and gets it back; expiry frees the key.
func TestIdempotencyKeyQueuesOnce(t *testing.T) {
	e := newEnv(t)
	first := e.enqueue(withKey(msg(t0, "a@x.test"), "key1:abc", `{"id":"first"}`, 24*time.Hour), "body")

	// Crash: only synced data survives.
	e.s.Close() //nolint:errcheck // the crash clone is what counts
	e.fs = e.fs.CrashClone(vfs.CrashCloneCfg{})
	e.s = e.open(e.fs)

	err := e.s.Enqueue(bg, withKey(msg(t0.Add(time.Hour), "a@x.test"), "key1:abc", `{"id":"second"}`, 24*time.Hour), []byte("body"))
	var dup *DuplicateError
	if !errors.As(err, &dup) || string(dup.Response) != `{"id":"first"}` {
		t.Fatalf("retry: %v, want the first response", err)
	}
	if got, err := e.s.Idempotent(bg, "key1:abc", t0.Add(time.Hour)); err != nil || string(got) != `{"id":"first"}` {
		t.Fatalf("Idempotent = %q, %v", got, err)
	}
	if ms, _ := e.s.List(bg, Filter{}); len(ms) != 1 || ms[0].ID != first {
		t.Fatalf("queued %d messages, want only %s", len(ms), first)
	}
	// Another scope with the same header value is another key.
	e.enqueue(withKey(msg(t0.Add(time.Hour), "a@x.test"), "key2:abc", `{"id":"other"}`, 24*time.Hour), "body")

	// After 24h the key is free again, and trimming removes the record.
	late := t0.Add(25 * time.Hour)
	if _, err := e.s.Idempotent(bg, "key1:abc", late); !isNotFound(err) {
		t.Fatalf("expired key: %v, want ErrNotFound", err)
	}
	if n, err := e.s.TrimIdempotency(bg, late); err != nil || n != 2 {
		t.Fatalf("trim = %d, %v; want 2", n, err)
	}
	e.enqueue(withKey(msg(late, "a@x.test"), "key1:abc", `{"id":"third"}`, 24*time.Hour), "body")
	if ms, _ := e.s.List(bg, Filter{}); len(ms) != 3 {
		t.Fatalf("%d messages after expiry, want 3", len(ms))
	}
}

// Concurrent requests with one key queue exactly one message.
func TestIdempotencyKeyConcurrent(t *testing.T) {
	e := newEnv(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, dups int
	for i := range 20 {
		wg.Go(func() {
			err := e.s.Enqueue(bg, withKey(msg(t0, "a@x.test"), "k:same", fmt.Sprint(i), time.Hour), []byte("b"))
			var dup *DuplicateError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.As(err, &dup):
				dups++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || dups != 19 {
		t.Fatalf("%d queued, %d duplicates; want 1 and 19", ok, dups)
	}
	e.ok(nil)
}

func TestListBySenderAndTime(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for i := range 6 {
		m := msg(t0.Add(time.Duration(i)*time.Minute+time.Duration(i)*time.Microsecond), "u@x.test")
		if i%2 == 1 {
			m.Sender = "Other@Example.org"
		}
		ids = append(ids, e.enqueue(m, "b"))
	}
	list := func(f Filter) []string {
		t.Helper()
		ms, err := e.s.List(bg, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	if got := list(Filter{Sender: "other@example.org"}); !slices.Equal(got, []string{ids[1], ids[3], ids[5]}) {
		t.Errorf("sender = %v", got)
	}
	// Since inclusive, Until exclusive, to the nanosecond.
	since, until := t0.Add(2*time.Minute+2*time.Microsecond), t0.Add(4*time.Minute+4*time.Microsecond)
	if got := list(Filter{Since: since, Until: until}); !slices.Equal(got, ids[2:4]) {
		t.Errorf("time range = %v, want %v", got, ids[2:4])
	}
	if got := list(Filter{Since: since.Add(time.Nanosecond)}); !slices.Equal(got, ids[3:]) {
		t.Errorf("since = %v, want %v", got, ids[3:])
	}
	if got := list(Filter{Until: until.Add(time.Nanosecond), Sender: "app@example.org"}); !slices.Equal(got, []string{ids[0], ids[2], ids[4]}) {
		t.Errorf("until+sender = %v", got)
	}
}
