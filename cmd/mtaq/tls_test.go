package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/tlsrpt"
)

// TestPrintTLSReport: mtaq tls report prints each policy's counts, its
// lines and a row per failure.
func TestPrintTLSReport(t *testing.T) {
	d := &tlsrpt.Day{Policies: []*tlsrpt.PolicyCount{{Type: "sts", Strings: []string{"version: STSv1", "mode: testing"},
		MXHost: []string{"*.good.test"}, Success: 4, Failure: 2,
		Failures: []*tlsrpt.FailureCount{{Result: "validation-failure", MX: "mx.x.test", IP: "192.0.2.1", Detail: "not listed", Count: 2}}}}}
	rep, err := tlsrpt.Reporter{Organization: "o", Contact: "c", Submitter: "s.test"}.Build("20261207", "x.test", d)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(rep)
	var b strings.Builder
	if err := printTLSReport(&b, &admin.TLSReport{Domain: "x.test", Day: "20261207", Report: js}); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + b.String())
	for _, want := range []string{"TLS sessions to x.test on 2026-12-07 (UTC) so far",
		"policy sts (mx *.good.test): 4 successful, 2 failed", "| mode: testing",
		"validation-failure  mx.x.test  192.0.2.1  2         not listed"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
