package httpapi

import (
	"encoding/json"
	"testing"

	"github.com/mtaq/mtaq/internal/verify"
)

// POST /v1/verify: a read key gets one verdict per address in order; a
// send-only key is refused; a bad request names the field.
func TestVerifyRoute(t *testing.T) {
	h := newHarness(t)
	st, _, body := h.do("POST", "/v1/verify", readKey, map[string]any{"addresses": []string{"a@example.test", "b@nowhere.test", "no"}})
	if st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	var res verify.Response
	if err := json.Unmarshal(body, &res); err != nil || len(res.Results) != 3 {
		t.Fatalf("%v %s", err, body)
	}
	for i, want := range []verify.Verdict{verify.Valid, verify.Invalid, verify.Invalid} {
		if res.Results[i].Verdict != want {
			t.Errorf("%s: %s, want %s", res.Results[i].Address, res.Results[i].Verdict, want)
		}
	}
	if st, _, body := h.do("POST", "/v1/verify", sendKey, map[string]any{"address": "a@example.test"}); st != 403 {
		t.Errorf("send-only key: %d %s", st, body)
	}
	st, hd, body := h.do("POST", "/v1/verify", readKey, map[string]any{"addresses": []string{}})
	if p := h.problem(hd, body); st != 400 || p.Detail == "" {
		t.Errorf("no addresses: %d %+v", st, p)
	}
}
