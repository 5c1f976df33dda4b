package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
	"github.com/mtaq/mtaq/webhook"
)

// TestCLIWebhooks drives mtaq webhooks ls, retry --dead and test against a
// receiver that refuses (400) events for recipients starting with x, on the
// wall clock: the refused events are dead letters about 7 s later.
func TestCLIWebhooks(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	var (
		mu         sync.Mutex
		picky      = true
		got        = map[float64]bool{}
		badSig     int
		sample     http.Header
		sampleBody []byte
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if webhook.Verify(secret, r.Header, body) != nil {
			badSig++
		}
		if sample == nil {
			sample, sampleBody = r.Header.Clone(), body
		}
		var p map[string]any
		json.Unmarshal(body, &p) //nolint:errcheck // a bad body fails the counts below
		if rcpt, _ := p["recipient"].(string); picky && strings.HasPrefix(rcpt, "x") {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got[p["seq"].(float64)] = true
	}))
	defer srv.Close()
	n := newCLINetWith(t, fmt.Sprintf("[[webhook]]\nname = \"app\"\nurl = %q\nsecret = %q\n", srv.URL, secret))
	n.mx("ok.test", "127.0.0.2")
	id := n.send("alice@ok.test", "xavier@ok.test")
	n.wait(id, queue.Delivered, queue.Delivered)

	waitfor.True(t, "xavier's two events in the dead-letter list", func() bool {
		var l []admin.WebhookEntry
		if err := json.Unmarshal([]byte(n.ok("webhooks", "ls", "--json")), &l); err != nil {
			t.Fatal(err)
		}
		return len(l) == 1 && l[0].DeadLetters == 2
	})
	out := n.ok("webhooks", "ls")
	t.Logf("mtaq webhooks ls:\n%s", out)
	for _, want := range []string{"NAME", "DEAD", "app", "endpoint answered 400 Bad Request", srv.URL} {
		if !strings.Contains(out, want) {
			t.Errorf("ls lacks %q", want)
		}
	}
	out = n.ok("webhooks", "dead", "app")
	t.Logf("mtaq webhooks dead app:\n%s", out)
	if strings.Count(out, "xavier@ok.test") != 2 || !strings.Contains(out, "queued") || !strings.Contains(out, "delivered") ||
		!strings.Contains(out, id) || !strings.Contains(out, "400 Bad Request") {
		t.Errorf("webhooks dead lacks xavier's two events")
	}
	var dead []queue.DeadLetter
	if err := json.Unmarshal([]byte(n.ok("webhooks", "dead", "app", "--json")), &dead); err != nil || len(dead) != 2 ||
		dead[0].Attempts != 4 || dead[0].Status != 400 || dead[0].Event.Rcpt != "xavier@ok.test" {
		t.Errorf("webhooks dead --json: %+v, %v", dead, err)
	}
	mu.Lock()
	if len(got) != 2 { // alice's queued and delivered
		t.Errorf("before the retry the receiver has %d events, want alice's 2", len(got))
	}
	mu.Unlock()

	// Still picky: the dead letters are refused again, exit 1.
	out, errs, code := n.run(nil, "webhooks", "retry", "app", "--dead")
	if code != 1 || !strings.Contains(out, "2 dead letters re-sent: 0 delivered, 2 still refused") {
		t.Fatalf("retry while refused: exit %d\n%s%s", code, out, errs)
	}
	mu.Lock()
	picky = false
	mu.Unlock()
	out = n.ok("webhooks", "retry", "app", "--dead")
	if !strings.Contains(out, "app: 2 dead letters re-sent: 2 delivered, 0 still refused") {
		t.Fatalf("retry --dead: %s", out)
	}
	mu.Lock()
	if len(got) != 4 || badSig != 0 {
		t.Errorf("after the retry: %d events, %d bad signatures", len(got), badSig)
	}
	mu.Unlock()

	// The Standard Webhooks project's own library accepts what the
	// daemon sent (on the wall clock, as its timestamp check wants).
	verifyWithOfficialLibrary(t, secret, sample, sampleBody)

	if out := n.ok("webhooks", "dead", "app", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("dead letters after the retry: %s", out)
	}
	out = n.ok("webhooks", "test", "app")
	if !strings.Contains(out, "app: "+srv.URL+" answered 200 in") {
		t.Fatalf("test: %s", out)
	}
	if _, errs, code := n.run(nil, "webhooks", "test", "nope"); code != 1 || !strings.Contains(errs, `no webhook named "nope"`) {
		t.Fatalf("unknown webhook: exit %d, %s", code, errs)
	}
	if _, _, code := n.run(nil, "webhooks", "retry"); code != 2 {
		t.Fatalf("retry without a name: exit %d", code)
	}
}

// verifyWithOfficialLibrary runs the npm standardwebhooks library (pinned
// in webhook/testdata/js; CI runs npm ci there) on one request.
func verifyWithOfficialLibrary(t *testing.T, secret string, h http.Header, body []byte) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missingTool(t, "node is not installed (Debian: nodejs)")
	}
	dir := filepath.Join("..", "..", "webhook", "testdata", "js")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks")); err != nil {
		missingTool(t, "the standardwebhooks library is not installed: npm ci --prefix webhook/testdata/js")
	}
	cmd := exec.Command(node, "verify.mjs", webhook.StandardSecret(secret), h.Get(webhook.HeaderID),
		h.Get(webhook.HeaderTimestamp), h.Get(webhook.HeaderSignature))
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("standardwebhooks refused webhook-id %s: %v %s", h.Get(webhook.HeaderID), err, out)
	}
}

// missingTool skips, or fails in CI (MTAQ_E2E_TOOLS=require), when a
// real peer the test needs is not installed.
func missingTool(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("MTAQ_E2E_TOOLS") == "require" {
		t.Fatal(why)
	}
	t.Skip(why)
}
