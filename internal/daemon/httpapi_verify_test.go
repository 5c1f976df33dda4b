package daemon

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/mtaq/mtaq/internal/httpapi"
	"github.com/mtaq/mtaq/internal/httpapi/openapitest"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/verify"
	"github.com/mtaq/mtaq/queue"
)

// TestHTTPVerify is POST /v1/verify as an app calls it at signup and
// before an import: verdicts and reasons from the daemon's own knowledge
// (a bounce it saw, the domain's DNS, typos), a field-naming problem for a
// bad request, and a send-only key refused; every answer validated against
// the OpenAPI document.
func TestHTTPVerify(t *testing.T) {
	n, url := newHTTPInternet(t)
	n.mx("shop.example", 10, "mx.shop.example", "127.0.0.2", smtptest.WithRcpt(func(to string) error {
		if to == "gone@shop.example" {
			return smtptest.Reply(550, "5.1.1", "<gone@shop.example>: Recipient address rejected: User unknown")
		}
		return nil
	}))
	n.dns.NXDomain("nowhere.example")
	n.dns.MX("gmial.com", 10, "mx.gmial.com") // typo domains often exist, and take mail
	n.dns.A("mx.gmial.com", "127.0.0.9")
	n.wait(n.send("app@shop.example", "gone@shop.example"), 0, queue.Bounced)
	n.wait(n.send("app@shop.example", "alice@shop.example"), 0, queue.Delivered)

	client := openapitest.New(t, httpapi.OpenAPI).Client()
	post := func(key string, body any) (int, []byte) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", url+"/v1/verify", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		return resp.StatusCode, buf.Bytes()
	}
	st, body := post(httpTestKey, map[string]any{"addresses": []string{
		"alice@shop.example", "gone@shop.example", "x@nowhere.example", "someone@gmial.com", "not an address"}})
	if st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	var res verify.Response
	if err := json.Unmarshal(body, &res); err != nil || len(res.Results) != 5 {
		t.Fatalf("%v: %s", err, body)
	}
	t.Logf("POST /v1/verify: %s", body)
	want := []verify.Verdict{verify.Valid, verify.Invalid, verify.Invalid, verify.Risky, verify.Invalid}
	for i, r := range res.Results {
		if r.Verdict != want[i] {
			t.Errorf("%s: %s, want %s (%+v)", r.Address, r.Verdict, want[i], r.Reasons)
		}
	}
	if res.Results[3].Suggestion != "someone@gmail.com" {
		t.Errorf("typo suggestion %q", res.Results[3].Suggestion)
	}

	if st, body := post(httpTestKey, map[string]any{"address": "a@shop.example", "addresses": []string{"b@shop.example"}}); st != 400 ||
		!bytes.Contains(body, []byte(`"field"`)) && !bytes.Contains(body, []byte("address")) {
		t.Errorf("both address and addresses: %d %s", st, body)
	}
	if st, body := post(httpTestKey, map[string]any{"adress": "a@shop.example"}); st != 400 || !bytes.Contains(body, []byte("adress")) {
		t.Errorf("an unknown field: %d %s", st, body)
	}
}
