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
// addresses are all at their connection cap waits in its lane as a local
// deferral: no attempt counted, no backoff, no timeline entry, no breaker
// signal, the lease untouched; the lane holds for BusyWait, then the job
// goes again, and is delivered when a slot is free.
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
		if err := h.s.Step(ctx); err != nil { // held: BusyWait has not passed
			t.Fatal(err)
		}
		if err := h.store.Check(ctx); err != nil {
			t.Fatal(err)
		}
		r := h.rcpt(id, 0)
		if r.State != queue.Queued || r.Attempts != 0 || !r.NextAttempt.Equal(t0.Add(5*time.Minute)) ||
			len(h.d.attempts("u@tarpit.test")) != i || h.s.InFlight() != 1 {
			t.Fatalf("after busy #%d: %s, %d attempts, lease %v, %d tries, %d in flight; want queued, 0, the first lease, %d, 1",
				i, r.State, r.Attempts, r.NextAttempt, len(h.d.attempts("u@tarpit.test")), h.s.InFlight(), i)
		}
		h.clk.Advance(time.Second)
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
	if r := h.rcpt(id, 0); r.State != queue.Expired || r.Attempts != 0 || h.s.InFlight() != 0 {
		t.Fatalf("%s after %d attempts, %d in flight; want expired after 0, none", r.State, r.Attempts, h.s.InFlight())
	}
}
