package verify

import (
	_ "embed"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/mtaq/mtaq/queue"
)

// openapi.json is POST /v1/verify's part of the HTTP API's OpenAPI
// document, to be merged into it where the route is served.
//
//go:embed openapi.json
var openapiFragment []byte

type schema struct {
	Properties map[string]struct {
		Enum []string `json:"enum"`
	} `json:"properties"`
	Required []string `json:"required"`
}

// The fragment names every field the JSON has and every reason code.
func TestOpenAPIFragmentMatches(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]schema `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapiFragment, &doc); err != nil {
		t.Fatal(err)
	}
	s := doc.Components.Schemas
	codes := []string{CodeSyntax, CodeNXDomain, CodeNullMX, CodeNoMailHost, CodeDNSTemporary, CodeMailDomain,
		CodeIPLiteral, CodeSuppressed, CodeDelivered, CodeBounced, CodeRole, CodeDisposable, CodeTypo, CodeCatchAll,
		CodeMailboxExists, CodeMailboxRejected, CodeProbeFailed, CodeProbeRateLimit, CodeProbeSkipped}
	if got := s["VerifyReason"].Properties["code"].Enum; !slices.Equal(got, codes) {
		t.Errorf("reason codes in the document %v, in the code %v", got, codes)
	}
	at := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	full := Result{Address: "a", Normalized: "a", Verdict: Risky, Suggestion: "s", Cached: true, Reasons: []Reason{{
		Code: CodeSuppressed, Verdict: Risky, Detail: "d", SuppressionReason: "complaint", Expires: &at, At: &at,
		Reply: &queue.Reply{Code: 550}}}}
	check := func(name string, v any) {
		b, _ := json.Marshal(v)
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for k := range m {
			if _, ok := s[name].Properties[k]; !ok {
				t.Errorf("%s: field %q is not in the document", name, k)
			}
		}
		for _, k := range s[name].Required {
			if _, ok := m[k]; !ok {
				t.Errorf("%s: required %q missing", name, k)
			}
		}
	}
	check("VerifyResult", full)
	check("VerifyReason", full.Reasons[0])
	check("VerifyResult", Result{Address: "x", Verdict: Invalid, Reasons: []Reason{}})
	check("VerifyRequest", Request{Address: "a", Addresses: []string{"b"}})
	check("VerifyResponse", Response{Results: []Result{}})
}
