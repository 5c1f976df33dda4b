package queue

import (
	"context"
	"errors"
	"testing"
)

// TestTransportRecords: MTA-STS policies and TLS-RPT days round-trip,
// survive a reopen, and trimming drops only the older days.
func TestTransportRecords(t *testing.T) {
	e := newEnv(t)
	s, ctx := e.s, context.Background()
	if err := s.PutSTSPolicy(ctx, "x.test", []byte(`{"id":"1"}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSTSPolicy(ctx, "X/../y", nil); err == nil {
		t.Error("a domain with a slash was stored")
	}
	for _, day := range []string{"20261206", "20261207"} {
		if err := s.PutTLSReports(ctx, day, map[string][]byte{"x.test": []byte(day), "y.test": []byte("y" + day)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	e.s = e.open(e.fs)
	s = e.s
	pols, err := s.STSPolicies(ctx)
	if err != nil || string(pols["x.test"]) != `{"id":"1"}` || len(pols) != 1 {
		t.Fatalf("policies %q, %v", pols, err)
	}
	if v, err := s.TLSReport(ctx, "20261207", "y.test"); err != nil || string(v) != "y20261207" {
		t.Errorf("TLSReport: %q, %v", v, err)
	}
	days, err := s.TLSReportDays(ctx, "20261207")
	if err != nil || len(days) != 1 || string(days["20261206"]["x.test"]) != "20261206" {
		t.Errorf("days before the 7th: %q, %v", days, err)
	}
	if err := s.TrimTLSReports(ctx, "20261207"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TLSReport(ctx, "20261206", "x.test"); !errors.Is(err, ErrNotFound) {
		t.Errorf("trimmed day still there: %v", err)
	}
	if days, _ := s.TLSReportDays(ctx, ""); len(days) != 1 || len(days["20261207"]) != 2 {
		t.Errorf("after trim: %q", days)
	}
	if err := s.Check(ctx); err != nil {
		t.Error(err)
	}
}
