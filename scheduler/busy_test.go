package scheduler

import (
	"context"
	"testing"
	"time"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/queue"
)

func busyResult() delivery.Result {
	return delivery.Result{Enhanced: "4.4.5", Stage: delivery.StageDial, Busy: true,
		Text: "every exchanger address of tarpit.test already has 10 connections in use; not attempted"}
}

// TestBusyIsLocalDeferral: issue 22, defect 6. A job whose exchanger
// addresses are all at their connection cap waits BusyWait as a local
// deferral: no attempt counted, no backoff, no timeline entry, no breaker
// signal; when a slot is free it goes.
func TestBusyIsLocalDeferral(t *testing.T) {
	h := newHarness(t, Options{}, func(_ string, n int) delivery.Result {
		if n <= 8 {
			return busyResult()
		}
		return reply(250, "2.0.0", "ok", delivery.StageData)
	})
	id := h.submit("u@tarpit.test")
	ctx := context.Background()
	for i := 1; i <= 8; i++ {
		if err := h.s.Step(ctx); err != nil {
			t.Fatal(err)
		}
		if err := h.store.Check(ctx); err != nil {
			t.Fatal(err)
		}
		r := h.rcpt(id, 0)
		if r.State != queue.Queued || r.Attempts != 0 || !r.NextAttempt.Equal(h.clk.Now().Add(30*time.Second)) {
			t.Fatalf("after busy #%d: %s, %d attempts, next in %v; want queued, 0, 30s",
				i, r.State, r.Attempts, r.NextAttempt.Sub(h.clk.Now()))
		}
		h.clk.Advance(30 * time.Second)
	}
	if tl, err := h.store.Timeline(ctx, id, 0); err != nil || len(tl) != 0 {
		t.Fatalf("timeline %+v, %v; a local deferral writes none", tl, err)
	}
	if ds := h.s.Destinations(); len(ds) != 1 || ds[0].State != "ok" || ds[0].Failures != 0 {
		t.Fatalf("destination %+v: busy results must not feed the breaker", ds)
	}
	h.drain(2)
	if r := h.rcpt(id, 0); r.State != queue.Delivered || r.Attempts != 1 {
		t.Fatalf("%s after %d attempts, want delivered after 1", r.State, r.Attempts)
	}
}

// TestBusyEnforcesExpiry: a recipient that is still busy past its expiry
// ends expired, without an attempt counted.
func TestBusyEnforcesExpiry(t *testing.T) {
	h := newHarness(t, Options{}, func(string, int) delivery.Result { return busyResult() })
	id := h.submit("u@tarpit.test")
	h.clk.Advance(73 * time.Hour)
	if err := h.s.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := h.rcpt(id, 0); r.State != queue.Expired || r.Attempts != 0 {
		t.Fatalf("%s after %d attempts, want expired after 0", r.State, r.Attempts)
	}
}
