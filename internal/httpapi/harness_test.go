package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/dnstest"
	"github.com/mtaq/mtaq/internal/httpapi/openapitest"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/internal/verify"
	"github.com/mtaq/mtaq/policy"
	"github.com/mtaq/mtaq/queue"
)

// Keys the harness knows, by what they may do.
const (
	sendKey   = "mtaq_send_key_for_tests_0000000000000000"
	readKey   = "mtaq_read_key_for_tests_0000000000000000"
	adminKey  = "mtaq_admin_key_for_tests_000000000000000"
	narrowKey = "mtaq_narrow_key_for_tests_00000000000000" // send+read, allowed_senders @narrow.test
)

func testKeys() []Key {
	return []Key{
		{Hash: sha256.Sum256([]byte(sendKey)), User: "app", Scopes: []string{ScopeSend}},
		{Hash: sha256.Sum256([]byte(readKey)), User: "dash", Scopes: []string{ScopeRead}},
		{Hash: sha256.Sum256([]byte(adminKey)), User: "ops", Scopes: []string{ScopeSend, ScopeAdmin}},
		{Hash: sha256.Sum256([]byte(narrowKey)), User: "narrow", Scopes: []string{ScopeSend, ScopeRead},
			AllowedSenders: []string{"@narrow.test"}, NoDSN: true},
	}
}

var t0 = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

// harness is a real queue in a temporary directory, real intake and
// admin Service, and the API on a loopback port; every response goes
// through the OpenAPI validator.
type harness struct {
	t     *testing.T
	dir   string
	clk   *clock.Fake
	store *queue.PebbleStore
	srv   *Server
	url   string
	http  *http.Client
	tr    *openapitest.Transport
}

// seen collects every validated operation and status across the tests.
var seen = struct {
	sync.Mutex
	m map[string]int
}{m: map[string]int{}}

func newHarness(t *testing.T, tweak ...func(*Options)) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), clk: clock.NewFake(t0)}
	h.start(tweak...)
	return h
}

func (h *harness) start(tweak ...func(*Options)) {
	t := h.t
	store, err := queue.Open(h.dir, queue.Options{Clock: h.clk, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	h.store = store
	in := intake.New(intake.Options{Hostname: "mtaq.test", Store: store, Clock: h.clk, MaxMessageBytes: 1 << 20, MaxRecipients: 50})
	// Verification asks a DNS server of the test's own (example.test
	// takes mail; anything else does not exist).
	dns := dnstest.New(t)
	dns.MX("example.test", 10, "mx.example.test")
	dns.A("mx.example.test", "127.0.0.2")
	ver := verify.New(verify.Options{Store: store, Resolver: delivery.NewResolver([]string{dns.Addr()}), Clock: h.clk})
	svc := admin.NewService(admin.Options{Store: store, Clock: h.clk, TTLs: policy.TTLs{}, Verifier: ver})
	o := Options{Listen: []string{"127.0.0.1:0"}, Keys: testKeys(), Intake: in, Store: store, Admin: svc,
		MaxMessageBytes: 1 << 20, Clock: h.clk}
	for _, f := range tweak {
		f(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	h.srv = srv
	h.url = "http://" + srv.Addrs()[0].String()
	h.tr = openapitest.New(t, OpenAPI)
	h.http = h.tr.Client()
	t.Cleanup(h.stop)
}

func (h *harness) stop() {
	if h.srv == nil {
		return
	}
	// A connection the client dialled but never used is StateNew to the
	// server, which Shutdown counts as busy for its first 5 s: close the
	// client's idle ones first.
	h.http.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		h.t.Error(err)
	}
	if err := h.store.Close(); err != nil {
		h.t.Error(err)
	}
	h.srv = nil
	seen.Lock()
	for k, n := range h.tr.Checked {
		seen.m[k] += n
	}
	seen.Unlock()
}

// restart stops the server and the queue and opens them again on the
// same directory: what survives is what was committed.
func (h *harness) restart() {
	h.stop()
	h.start()
}

// do sends a request with key (none when "") and returns the status, the
// headers and the body.
func (h *harness) do(method, path, key string, body any, hdr ...string) (int, http.Header, []byte) {
	h.t.Helper()
	var rd io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", ct)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := h.http.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, out
}

// send posts v to /v1/messages and wants a 202.
func (h *harness) send(key string, v any, hdr ...string) SendResult {
	h.t.Helper()
	st, _, body := h.do("POST", "/v1/messages", key, v, hdr...)
	if st != http.StatusAccepted {
		h.t.Fatalf("send: %d %s", st, body)
	}
	var r SendResult
	if err := json.Unmarshal(body, &r); err != nil {
		h.t.Fatal(err)
	}
	return r
}

// problem decodes a problem document and checks its media type.
func (h *harness) problem(hd http.Header, body []byte) Problem {
	h.t.Helper()
	if ct := hd.Get("Content-Type"); ct != ProblemContentType {
		h.t.Fatalf("Content-Type %q, want %s: %s", ct, ProblemContentType, body)
	}
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil {
		h.t.Fatalf("problem %s: %v", body, err)
	}
	return p
}

func (h *harness) messages() []*queue.Message {
	h.t.Helper()
	ms, err := h.store.List(context.Background(), queue.Filter{})
	if err != nil {
		h.t.Fatal(err)
	}
	return ms
}

// TestMain checks, when the whole package ran, that the suite produced a
// validated response for every operation in the document.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && flag.Lookup("test.run").Value.String() == "" && !testing.Short() {
		doc, _ := openapitest.Load(&testing.T{}, OpenAPI)
		var missing []string
		for path, item := range doc.Paths.Map() {
			for method := range item.Operations() {
				found := false
				for k := range seen.m {
					if strings.HasPrefix(k, method+" "+path+" ") {
						found = true
					}
				}
				if !found {
					missing = append(missing, method+" "+path)
				}
			}
		}
		if len(missing) > 0 {
			slices.Sort(missing)
			fmt.Fprintf(os.Stderr, "operations no test response exercised: %v\n", missing)
			code = 1
		}
	}
	os.Exit(code)
}
