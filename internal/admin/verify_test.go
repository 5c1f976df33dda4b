package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/internal/dnstest"
	"github.com/mtaq/mtaq/internal/verify"
)

// POST /v1/verify over the socket: the JSON shapes the HTTP API will
// serve, a 400 naming the field, and the disposable list replaced.
func TestVerifyOverSocket(t *testing.T) {
	f := newFixture(t)
	dns := dnstest.New(t)
	dns.MX("ok.test", 10, "mx.ok.test")
	lists, err := verify.LoadLists(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f.svc.verifier = verify.New(verify.Options{Store: f.store, Clock: f.clk, Lists: lists,
		Resolver: delivery.NewResolver([]string{dns.Addr()}, delivery.WithQueryTimeout(2*time.Second))})
	sock := filepath.Join(shortDir(t), "admin.sock")
	startServer(t, f.svc, ServerOptions{SocketPath: sock})
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	post := func(body string) (int, string) {
		resp, err := hc.Post("http://mtaq/v1/verify", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := post(`{"address":"Ann@OK.test"}`)
	var raw map[string][]map[string]json.RawMessage
	if code != 200 || json.Unmarshal([]byte(body), &raw) != nil || len(raw["results"]) != 1 {
		t.Fatalf("%d %s", code, body)
	}
	r := raw["results"][0]
	for k, want := range map[string]string{"address": `"Ann@OK.test"`, "normalized": `"Ann@ok.test"`, "verdict": `"valid"`} {
		if string(r[k]) != want {
			t.Errorf("%s = %s, want %s", k, r[k], want)
		}
	}
	if !strings.Contains(string(r["reasons"]), `{"code":"mail_domain","verdict":"valid","detail":"ok.test takes mail at mx.ok.test"}`) {
		t.Errorf("reasons %s", r["reasons"])
	}
	for body, field := range map[string]string{`{}`: "addresses", `{"address":"a@b.test","addresses":["c@d.test"]}`: "address",
		`{"addresses":[` + strings.Repeat(`"a@b.test",`, 1000) + `"a@b.test"]}`: "addresses"} {
		code, got := post(body)
		if code != 400 || !strings.Contains(got, `"kind":"invalid"`) || !strings.Contains(got, field+":") {
			t.Errorf("%.40s: %d %s", body, code, got)
		}
	}
	_, err = f.svc.Verify(bg, verify.Request{Address: "a@b.test", Addresses: []string{"c@d.test"}})
	var fe *verify.FieldError
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &fe) || fe.Field != "address" {
		t.Errorf("Service.Verify: %v, want ErrInvalid and the FieldError naming address", err)
	}
	c := NewClient(sock)
	if _, err := c.Verify(bg, verify.Request{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("client: %v, want ErrInvalid", err)
	}
	res, err := c.Verify(bg, verify.Request{Addresses: []string{"x@throw.test", "bad", "a@ok.test"}})
	if err != nil || len(res.Results) != 3 || res.Results[1].Verdict != verify.Invalid || res.Results[2].Verdict != verify.Valid {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := c.UpdateDisposableList(bg, strings.NewReader("ok.test\nnot a domain\n")); !errors.Is(err, ErrInvalid) ||
		!strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad list: %v", err)
	}
	up, err := c.UpdateDisposableList(bg, strings.NewReader("# mine\nok.test\n"))
	if err != nil || up.Domains != 1 {
		t.Fatalf("%+v %v", up, err)
	}
	res, err = c.Verify(bg, verify.Request{Address: "a@ok.test"})
	if err != nil || res.Results[0].Verdict != verify.Risky {
		t.Errorf("after the update: %+v %v", res, err)
	}
}
