package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mtaq/mtaq/internal/clock"
)

// t0 is the fixed start of every test's timeline; tests never read the
// wall clock.
var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

var bg = context.Background()

// env is a store on a crashable in-memory filesystem with a fake clock.
type env struct {
	t     *testing.T
	fs    *vfs.MemFS
	clock *clock.Fake
	s     *PebbleStore
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, fs: vfs.NewCrashableMem(), clock: clock.NewFake(t0)}
	e.s = e.open(e.fs)
	t.Cleanup(func() {
		if err := e.s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return e
}

func (e *env) open(fs *vfs.MemFS) *PebbleStore {
	e.t.Helper()
	s, err := Open("queue-db", Options{FS: fs, Clock: e.clock})
	if err != nil {
		e.t.Fatalf("open: %v", err)
	}
	return s
}

// ok fails the test on err, then checks the invariants: every step of a
// test must leave the queue consistent.
func (e *env) ok(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.s.Check(bg); err != nil {
		e.t.Fatalf("after step: %v", err)
	}
}

func (e *env) enqueue(m *Message, body string) string {
	e.t.Helper()
	e.ok(e.s.Enqueue(bg, m, []byte(body)))
	return m.ID
}

func (e *env) message(id string) *Message {
	e.t.Helper()
	m, err := e.s.Message(bg, id)
	if err != nil {
		e.t.Fatalf("message %s: %v", id, err)
	}
	return m
}

func (e *env) due(at time.Time) []string {
	e.t.Helper()
	d, err := e.s.Due(bg, at, 0)
	if err != nil {
		e.t.Fatalf("due: %v", err)
	}
	out := make([]string, len(d))
	for i, x := range d {
		out[i] = fmt.Sprintf("%s/%d@%s", x.ID, x.Rcpt, x.At.Sub(t0))
	}
	return out
}

// msg builds a message arriving at at for the given recipients.
func msg(at time.Time, rcpts ...string) *Message {
	m := &Message{Sender: "app@example.org", Arrived: at, ClientAddr: "127.0.0.1:5000", Helo: "app"}
	for _, r := range rcpts {
		m.Recipients = append(m.Recipients, Recipient{Address: r})
	}
	return m
}

func reply(code int, enh, text string) *Reply {
	return &Reply{Code: code, Enhanced: enh, Text: text}
}

// attempt is a timeline entry at t0+d.
func attempt(d time.Duration, decision string, r *Reply) *Attempt {
	return &Attempt{At: t0.Add(d), Duration: time.Second, MX: "mx.example.test", Reply: *r, Decision: decision}
}

// keysWith lists every key in the database that mentions id.
func (e *env) keysWith(id string) []string {
	e.t.Helper()
	var out []string
	err := scanKeys(e.s.db, nil, nil, func(k []byte) (bool, error) {
		if bytes.Contains(k, []byte(id)) {
			out = append(out, string(k))
		}
		return true, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
