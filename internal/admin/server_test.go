package admin

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// shortDir is a temp dir short enough for a unix socket path (< 108 bytes).
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "mtaq")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func startServer(t *testing.T, api API, o ServerOptions) *Server {
	t.Helper()
	o.API = api
	o.Logger = zaptest.NewLogger(t)
	s, err := NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() {
		if err := s.Shutdown(bg); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestClientRoundTrip(t *testing.T) {
	f := newFixture(t)
	sock := filepath.Join(shortDir(t), "admin.sock")
	startServer(t, f.svc, ServerOptions{SocketPath: sock})
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket %v, %v; want a 0600 socket", fi.Mode(), err)
	}
	c := NewClient(sock)
	id := f.enqueue("a@x.test", "b@y.test")
	f.defer_(id, 1, "greylisted")

	page, err := c.ListQueue(bg, QueueFilter{State: "deferred", Domain: "y.test"})
	if err != nil || len(page.Messages) != 1 || page.Messages[0].Recipients[1].LastReply.Text != "greylisted" {
		t.Fatalf("list %+v %v", page, err)
	}
	d, err := c.ShowMessage(bg, id)
	if err != nil || len(d.Headers) != 3 || len(d.Recipients[1].Timeline) != 1 {
		t.Fatalf("show %+v %v", d, err)
	}
	_, err = c.ShowMessage(bg, "NOPE")
	if !errors.Is(err, ErrNoMessage) || err.Error() != "no message NOPE in the queue" {
		t.Fatalf("404 mapping: %v", err)
	}
	if _, err := c.QueueAction(bg, QueueAction{Action: "hold"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("400 mapping: %v", err)
	}
	if res, err := c.QueueAction(bg, QueueAction{Action: "hold", ID: id}); err != nil || res.Recipients != 2 {
		t.Fatalf("hold %+v %v", res, err)
	}
	if res, err := c.Flush(bg); err != nil || res.Recipients != 0 {
		t.Fatalf("flush %+v %v", res, err)
	}
	if st, err := c.Stats(bg); err != nil || st.States["held"] != 2 {
		t.Fatalf("stats %+v %v", st, err)
	}
	suppressRoundTrip(t, c)
}

func suppressRoundTrip(t *testing.T, c *Client) {
	t.Helper()
	odd := "o/dd+tag@Example.com" // '/' is atext: it must survive the URL path
	if e, err := c.AddSuppression(bg, SuppressionAdd{Address: odd, Reason: "complaint", TTL: time.Hour}); err != nil || e.Address != strings.ToLower(odd) || e.Expires == nil {
		t.Fatalf("add %+v %v", e, err)
	}
	if e, err := c.ShowSuppression(bg, odd); err != nil || e.Reason != "complaint" {
		t.Fatalf("show %+v %v", e, err)
	}
	var calls []int
	csv := strings.Repeat("x@y.test\n", 25000) + "bad\n"
	res, err := c.ImportSuppressions(bg, strings.NewReader(csv), func(n int) { calls = append(calls, n) })
	if err != nil || res.Added != 25000 || res.Skipped != 1 || res.Errors[0] != `line 25001: bad address "bad": no @` || len(calls) != 2 {
		t.Fatalf("import %+v %v, progress %v", res, err, calls)
	}
	var out bytes.Buffer
	if err := c.ExportSuppressions(bg, &out); err != nil || strings.Count(out.String(), "\n") != 3 {
		t.Fatalf("export %q %v", out.String(), err)
	}
	if p, err := c.ListSuppressions(bg, SuppressionFilter{Reason: "manual"}); err != nil || len(p.Entries) != 1 || p.Entries[0].Count != 25000 {
		t.Fatalf("list %+v %v", p, err)
	}
	if err := c.RemoveSuppression(bg, odd); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ShowSuppression(bg, odd); !errors.Is(err, ErrNoSuppression) {
		t.Fatalf("after rm: %v", err)
	}
}

func TestTCPNeedsBearerToken(t *testing.T) {
	f := newFixture(t)
	token := "0123456789abcdef0123"
	s := startServer(t, f.svc, ServerOptions{SocketPath: filepath.Join(shortDir(t), "a.sock"), TCP: "127.0.0.1:0", Token: token})
	addr := s.TCPAddr().String()
	for _, auth := range []string{"", "Bearer wrong", "Bearer " + token + "x", token} {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/stats", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %s, want 401", auth, resp.Status)
		}
	}
	if _, err := NewTCPClient(addr, token).Stats(bg); err != nil {
		t.Fatalf("with the token: %v", err)
	}
	if _, err := NewServer(ServerOptions{API: f.svc, SocketPath: filepath.Join(shortDir(t), "b.sock"), TCP: "127.0.0.1:0"}); err == nil {
		t.Fatal("TCP without a token accepted")
	}
}

func TestSocketLifecycle(t *testing.T) {
	f := newFixture(t)
	dir := shortDir(t)
	sock := filepath.Join(dir, "admin.sock")
	_, err := NewClient(sock).Stats(bg)
	want := fmt.Sprintf(`cannot reach the daemon at %s: is "mtaq serve" running?`, sock)
	if !errors.Is(err, ErrDaemonDown) || err.Error() != want {
		t.Fatalf("no socket: %v", err)
	}
	// A stale socket file (a crashed daemon) is replaced.
	if err := os.WriteFile(sock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewClient(sock).Stats(bg); !errors.Is(err, ErrDaemonDown) {
		t.Fatalf("stale socket: %v", err)
	}
	startServer(t, f.svc, ServerOptions{SocketPath: sock})
	if _, err := NewClient(sock).Stats(bg); err != nil {
		t.Fatal(err)
	}
	// A second daemon on the same data_dir is refused, the first keeps its socket.
	if _, err := NewServer(ServerOptions{API: f.svc, SocketPath: sock}); err == nil || !strings.Contains(err.Error(), "another daemon answers") {
		t.Fatalf("second server: %v", err)
	}
	if _, err := NewClient(sock).Stats(bg); err != nil {
		t.Fatalf("first server after the second was refused: %v", err)
	}
}
