package scheduler

import (
	"testing"

	"github.com/mtaq/mtaq/delivery"
)

// TestIDNDomainIsOneDestination: issue 22, defect 8. Recipients stored at
// "bücher.test" and at "xn--bcher-kva.test" are one destination: one job,
// one lane, one adaptive state, all under the A-label.
func TestIDNDomainIsOneDestination(t *testing.T) {
	ok := func(string, int) delivery.Result { return reply(250, "2.0.0", "ok", delivery.StageData) }
	h := newHarness(t, Options{}, ok)
	h.submit("u@bücher.test", "v@xn--bcher-kva.test", "w@BÜCHER.test")
	h.drain(3)
	if len(h.d.jobs) != 1 || h.d.jobs[0].Domain != "xn--bcher-kva.test" || len(h.d.jobs[0].Rcpts) != 3 {
		t.Fatalf("jobs %+v, want one for xn--bcher-kva.test with 3 recipients", h.d.jobs)
	}
	if ds := h.s.Destinations(); len(ds) != 1 || ds[0].Domain != "xn--bcher-kva.test" {
		t.Errorf("destinations %+v, want only the A-label", ds)
	}
}
