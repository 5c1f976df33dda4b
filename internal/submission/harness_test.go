package submission

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/queue"
)

var t0 = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// fakeStore records what was enqueued and can fail on demand.
type fakeStore struct {
	mu         sync.Mutex
	msgs       []*queue.Message
	bodies     [][]byte
	suppressed map[string]bool // lower-case addresses
	fail       error
	lookupErr  error
	n          int
	calls      int // Enqueue and Suppression calls
}

// newID names messages Q0001, Q0002, ... in the order intake asks.
func (f *fakeStore) newID(time.Time) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	return fmt.Sprintf("Q%04d", f.n)
}

func (f *fakeStore) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeStore) Enqueue(_ context.Context, m *queue.Message, body []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return f.fail
	}
	f.msgs = append(f.msgs, m)
	f.bodies = append(f.bodies, append([]byte(nil), body...))
	return nil
}

func (f *fakeStore) Suppression(_ context.Context, addr string, now time.Time) (*queue.Suppression, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.lookupErr != nil {
		return nil, f.lookupErr
	}
	if f.suppressed[strings.ToLower(addr)] {
		return &queue.Suppression{Address: strings.ToLower(addr), Reason: "hard_bounce", Created: now}, nil
	}
	return nil, nil
}

func (f *fakeStore) messages() ([]*queue.Message, [][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*queue.Message(nil), f.msgs...), append([][]byte(nil), f.bodies...)
}

type env struct {
	srv    *Server
	store  *fakeStore
	addr   string
	mu     sync.Mutex
	queued []string // OnQueued calls
}

func (e *env) onQueued() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.queued...)
}

// start runs a server on a loopback port; mod adjusts the options.
func start(t *testing.T, mod func(*Options)) *env {
	t.Helper()
	e := &env{store: &fakeStore{suppressed: map[string]bool{}}}
	opts := Options{
		Hostname:        "mx.test",
		Listen:          []string{"127.0.0.1:0"},
		Trusted:         []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		MaxMessageBytes: 4096,
		MaxRecipients:   1000,
		Store:           e.store,
		Clock:           clock.NewFake(t0),
		Logger:          zap.NewNop(),
		OnQueued: func(id string) {
			e.mu.Lock()
			e.queued = append(e.queued, id)
			e.mu.Unlock()
		},
		NewID: e.store.newID,
	}
	if mod != nil {
		mod(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	e.srv, e.addr = srv, srv.Addrs()[0].String()
	return e
}

// client is a raw SMTP client for byte-exact conversations.
type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (e *env) dial(t *testing.T) *client {
	t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	cl := &client{t: t, c: c, r: bufio.NewReader(c)}
	cl.expectReply("220 ")
	return cl
}

// read returns the last line of the next reply ("250 2.0.0 Ok").
func (c *client) read() string {
	c.t.Helper()
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read reply: %v (got %q)", err, line)
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 4 || line[3] != '-' {
			return line
		}
	}
}

func (c *client) write(s string) {
	c.t.Helper()
	if _, err := c.c.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) expectReply(prefix string) string {
	c.t.Helper()
	got := c.read()
	if !strings.HasPrefix(got, prefix) {
		c.t.Fatalf("got %q, want prefix %q", got, prefix)
	}
	return got
}

// cmd sends one command line and checks the reply's prefix.
func (c *client) cmd(line, prefix string) string {
	c.t.Helper()
	c.write(line + "\r\n")
	return c.expectReply(prefix)
}

// envelope sends EHLO, MAIL and RCPT, each expecting success.
func (c *client) envelope(from string, to ...string) {
	c.t.Helper()
	c.cmd("EHLO client.test", "250 ")
	c.cmd("MAIL FROM:<"+from+">", "250 ")
	for _, r := range to {
		c.cmd("RCPT TO:<"+r+">", "250 ")
	}
}

// send runs DATA with raw (which must end with the terminator) and
// returns the final reply.
func (c *client) send(raw string) string {
	c.t.Helper()
	c.cmd("DATA", "354 ")
	c.write(raw)
	return c.read()
}
