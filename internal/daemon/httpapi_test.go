package daemon

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/httpapi"
	"github.com/mtaq/mtaq/internal/httpapi/openapitest"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

const httpTestKey = "mtaq_e2e_key_0123456789abcdefghijklmnopqrstuv"

// newHTTPInternet is the fake Internet with the HTTP API on and a user
// whose only credential is an API key (no password, no TLS listener);
// example.net's exchanger is the returned sink.
func newHTTPInternet(t *testing.T, tweak ...func(*conf.Config)) (*internet, string) {
	t.Helper()
	sum := sha256.Sum256([]byte(httpTestKey))
	scheme := "http://"
	n := newInternet(t, func(c *conf.Config) {
		for _, f := range tweak {
			f(c)
		}
		if c.HTTP.TLSCert != "" {
			scheme = "https://"
		}
		c.HTTP.Listen = []string{"127.0.0.1:0"}
		c.Submission.Users = []conf.User{{Name: "shop", APIKeys: []string{"sha256:" + hex.EncodeToString(sum[:])},
			APIScopes: []string{"send", "read", "admin"}, AllowedSenders: []string{"@shop.example"}}}
		if err := conf.Validate(*c); err != nil {
			t.Fatalf("the test's configuration: %v", err)
		}
	})
	if len(n.d.HTTPAddrs()) != 1 {
		t.Fatalf("HTTP listeners %v", n.d.HTTPAddrs())
	}
	return n, scheme + n.d.HTTPAddrs()[0].String()
}

// validatingProxy is a loopback reverse proxy to url whose every response
// is checked against the OpenAPI document, so what curl and the Python
// client get is validated too.
func validatingProxy(t *testing.T, target string) string {
	t.Helper()
	u, err := neturl.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = openapitest.New(t, httpapi.OpenAPI)
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}

// readmeBlocks returns the sh blocks of README.md's "HTTP API" section.
func readmeBlocks(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "\n## HTTP API\n")
	if start < 0 {
		t.Fatal("README.md has no HTTP API section")
	}
	s = s[start+1:]
	if end := strings.Index(s[3:], "\n## "); end >= 0 {
		s = s[:end+3]
	}
	var out []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missingTool(t, tool+" is not installed")
		}
	}
}

// runSh runs one README block with bash -euo pipefail and env.
func runSh(t *testing.T, block string, env ...string) string {
	t.Helper()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", block)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("README block failed: %v\n%s\n--- output:\n%s", err, block, out)
	}
	return string(out)
}

// The README's curl examples, run as written against a daemon that
// delivers to a local sink: the ID comes back, the message is fetched
// after delivery with its timeline, the same Idempotency-Key twice queues
// one message.
func TestHTTPReadmeCurlExamples(t *testing.T) {
	needTools(t, "bash", "curl", "jq")
	n, direct := newHTTPInternet(t)
	url := validatingProxy(t, direct)
	sink := n.mx("example.net", 10, "mx.example.net", "127.0.0.2")
	blocks := readmeBlocks(t)
	if len(blocks) != 5 {
		t.Fatalf("README's HTTP API section has %d sh blocks, the test knows 5", len(blocks))
	}
	env := []string{"MTAQ_URL=" + url, "MTAQ_KEY=" + httpTestKey}

	id := strings.TrimSpace(runSh(t, blocks[0], env...))
	if !regexp.MustCompile(`^[0-9A-Z]{16}$`).MatchString(id) {
		t.Fatalf("first example printed %q, want a queue ID", id)
	}
	n.wait(id, 0, queue.Delivered)
	got := sink.Messages()
	if len(got) != 1 || got[0].From != "orders@shop.example" || !strings.Contains(string(got[0].Data), "filename=receipt.txt") ||
		strings.Contains(string(got[0].Data), "X-Mtaq-Tag") {
		t.Fatalf("sink got %d messages: %+v", len(got), got)
	}
	m, err := n.d.Store().Message(context.Background(), id)
	if err != nil || m.Tag != "receipt" || m.Metadata["order"] != "1042" {
		t.Fatalf("stored %+v %v", m, err)
	}

	out := runSh(t, blocks[1], append(env, "id="+id)...)
	var rcpt struct {
		Address  string
		State    string
		Timeline []struct{ At, MX, Decision, Reply string }
	}
	if err := json.Unmarshal([]byte(out), &rcpt); err != nil {
		t.Fatalf("second example printed %q: %v", out, err)
	}
	if rcpt.Address != "alice@example.net" || rcpt.State != "delivered" || len(rcpt.Timeline) != 1 ||
		rcpt.Timeline[0].Decision != "delivered" || rcpt.Timeline[0].MX != "mx.example.net" {
		t.Fatalf("timeline: %s", out)
	}

	ids := strings.Fields(runSh(t, blocks[2], env...))
	if len(ids) != 2 || ids[0] != ids[1] {
		t.Fatalf("the same Idempotency-Key twice printed %v, want one ID twice", ids)
	}
	ms, err := n.d.Store().List(context.Background(), queue.Filter{Rcpt: "bob@example.net"})
	if err != nil || len(ms) != 1 || ms[0].ID != ids[0] {
		t.Fatalf("messages to bob: %d (%v), want exactly %s", len(ms), err, ids[0])
	}

	out = runSh(t, blocks[3], env...)
	if lines := strings.Fields(out); len(lines) != 2 || lines[0] != id || lines[1] != "unsubscribe" {
		t.Fatalf("fourth example printed %q, want %s and unsubscribe", out, id)
	}
	if out := strings.TrimSpace(runSh(t, blocks[4], env...)); out != "to[1]: not an address" {
		t.Fatalf("fifth example printed %q", out)
	}
	n.wait(ids[0], 0, queue.Delivered)

	// The delivered message's detail, with its timeline, matches the
	// OpenAPI document (the package tests never deliver).
	tr := openapitest.New(t, httpapi.OpenAPI)
	req, _ := http.NewRequest("GET", url+"/v1/messages/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+httpTestKey)
	resp, err := tr.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var d admin.MessageDetail
	json.NewDecoder(resp.Body).Decode(&d) //nolint:errcheck // checked below
	resp.Body.Close()
	if resp.StatusCode != 200 || len(d.Recipients[0].Timeline) != 1 || tr.Checked["GET /v1/messages/{id} 200"] != 1 {
		t.Fatalf("detail %d %+v (checked %v)", resp.StatusCode, d, tr.Checked)
	}
}

// The Python client, driven by the served OpenAPI document, sends a
// message end to end and reads it back delivered.
func TestHTTPPythonClient(t *testing.T) {
	needTools(t, "python3")
	n, direct := newHTTPInternet(t)
	url := validatingProxy(t, direct)
	sink := n.mx("example.net", 10, "mx.example.net", "127.0.0.2")
	client := filepath.Join("..", "httpapi", "python", "mtaq_client.py")
	py := func(args ...string) (string, error) {
		out, err := exec.Command("python3", append([]string{client, url, httpTestKey}, args...)...).CombinedOutput()
		return string(out), err
	}
	out, err := py("sendMessage", `{"from": "py@shop.example", "to": ["dave@example.net"], "subject": "From Python", "text": "hello", "tag": "py"}`,
		"Idempotency-Key=py-1")
	if err != nil {
		t.Fatalf("python client: %v\n%s", err, out)
	}
	var res httpapi.SendResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Recipients[0].Status != "queued" {
		t.Fatalf("sendMessage printed %q: %v", out, err)
	}
	n.wait(res.ID, 0, queue.Delivered)
	waitfor.NoError(t, func() error {
		if len(sink.Messages()) != 1 {
			return fmt.Errorf("sink has %d messages", len(sink.Messages()))
		}
		return nil
	})
	if !strings.Contains(string(sink.Messages()[0].Data), "Subject: From Python") {
		t.Errorf("delivered %q", sink.Messages()[0].Data)
	}
	out, err = py("getMessage", "id="+res.ID)
	if err != nil || !strings.Contains(out, `"state": "delivered"`) || !strings.Contains(out, `"decision": "delivered"`) {
		t.Fatalf("getMessage: %v\n%s", err, out)
	}
	out, err = py("listMessages", "tag=py", "state=delivered")
	if err != nil || !strings.Contains(out, res.ID) {
		t.Fatalf("listMessages: %v\n%s", err, out)
	}
	// A problem comes back as one line naming the field, exit 1.
	out, err = py("sendMessage", `{"from": "py@shop.example", "to": ["x"], "text": "x"}`)
	if err == nil || strings.TrimSpace(out) != "mtaq_client: 400: to[0]: not an address" {
		t.Fatalf("bad input: %v %q", err, out)
	}
}

// With tls_cert and tls_key the API speaks only HTTPS, and the Received
// field says so.
func TestHTTPOverTLS(t *testing.T) {
	cert := smtptest.SelfSigned(t, "127.0.0.1")
	certFile, keyFile := cert.WriteFiles(t, t.TempDir())
	n, url := newHTTPInternet(t, func(c *conf.Config) { c.HTTP.TLSCert, c.HTTP.TLSKey = certFile, keyFile })
	sink := n.mx("example.net", 10, "mx.example.net", "127.0.0.2")
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("url %s", url)
	}
	tr := openapitest.New(t, httpapi.OpenAPI)
	tr.Base = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.Pool()}}
	body := strings.NewReader(`{"from": "tls@shop.example", "to": ["erin@example.net"], "text": "over TLS"}`)
	req, _ := http.NewRequest("POST", url+"/v1/messages", body)
	req.Header.Set("Authorization", "Bearer "+httpTestKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := tr.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var res httpapi.SendResult
	json.NewDecoder(resp.Body).Decode(&res) //nolint:errcheck // checked below
	resp.Body.Close()
	if resp.StatusCode != 202 || res.ID == "" {
		t.Fatalf("%d %+v", resp.StatusCode, res)
	}
	// Read from what was delivered: the queue drops a body once every
	// recipient is final, which can come before this line.
	n.wait(res.ID, 0, queue.Delivered)
	if b := sink.Messages()[0].Data; !strings.Contains(string(b), "with HTTPS id "+res.ID) {
		t.Fatalf("Received field: %.200q", b)
	}
	plain, err := http.Get("http://" + n.d.HTTPAddrs()[0].String() + "/v1/openapi.json")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode == 200 {
			t.Fatal("plain HTTP served on the TLS listener")
		}
	}
}

// A port already taken stops the start with the key's name, and leaves
// nothing running (the queue can be opened again at once).
func TestHTTPListenInUse(t *testing.T) {
	_, url := newHTTPInternet(t)
	c := conf.Defaults()
	c.Hostname = "mtaq.test"
	c.DataDir = t.TempDir()
	c.Submission.Listen = []string{"127.0.0.1:0"}
	c.HTTP.Listen = []string{strings.TrimPrefix(url, "http://")}
	_, err := Start(Options{Config: c})
	if err == nil || !strings.Contains(err.Error(), "http.listen "+c.HTTP.Listen[0]) {
		t.Fatalf("start with the port taken: %v", err)
	}
	c.HTTP.Listen = nil
	d := startDaemon(t, Options{Config: c})
	stopDaemon(t, d)
}
