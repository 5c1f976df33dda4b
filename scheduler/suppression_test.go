package scheduler

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/policy"
	"github.com/mtaq/mtaq/queue"
)

// TestSoftStreakSuppressesOnTheThirdMessage: a mailbox that is full for
// three distinct messages in a row is suppressed at the third, not 72h
// later, and a fourth message to it is not attempted.
func TestSoftStreakSuppressesOnTheThirdMessage(t *testing.T) {
	full := func(string, int) delivery.Result { return reply(452, "4.2.2", "mailbox full", delivery.StageRcpt) }
	h := newHarness(t, Options{}, full)
	ctx := context.Background()
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, h.submit("full@dest.test"))
		if err := h.s.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range []queue.State{queue.Deferred, queue.Deferred, queue.Bounced} {
		if got := h.rcpt(ids[i], 0).State; got != want {
			t.Fatalf("message %d: %s, want %s", i+1, got, want)
		}
	}
	sup, _ := h.store.Suppression(ctx, "full@dest.test", h.clk.Now())
	if sup == nil || sup.Reason != policy.ReasonSoftBounceRepeated {
		t.Fatalf("suppression = %+v, want soft_bounce_repeated", sup)
	}
	// The first two messages are not attempted again: rejected at their retry.
	h.drain(10)
	for i := 0; i < 2; i++ {
		if got := h.rcpt(ids[i], 0).State; got != queue.Rejected {
			t.Fatalf("message %d after suppression: %s, want rejected", i+1, got)
		}
	}
	if n := len(h.d.attempts("full@dest.test")); n != 3 {
		t.Fatalf("%d attempts, want 3 (one per message)", n)
	}
}

// TestDeliveryResetsStreak: full, full, delivered, full, full: never three
// in a row, never suppressed.
func TestDeliveryResetsStreak(t *testing.T) {
	script := []int{452, 452, 250, 452, 452}
	n := 0
	answer := func(string, int) delivery.Result {
		code := script[n]
		n++
		if code == 250 {
			return reply(250, "2.0.0", "ok", delivery.StageData)
		}
		return reply(452, "4.2.2", "mailbox full", delivery.StageRcpt)
	}
	h := newHarness(t, Options{Workers: 1}, answer)
	ctx := context.Background()
	for range script {
		h.submit("x@dest.test")
		if err := h.s.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if sup, _ := h.store.Suppression(ctx, "x@dest.test", h.clk.Now()); sup != nil {
		t.Fatalf("suppressed after a delivery broke the streak: %+v", sup)
	}
	if ids, _ := h.store.Streak(ctx, "x@dest.test"); len(ids) != 2 {
		t.Fatalf("streak after the delivery = %v, want the two later messages", ids)
	}
}

// TestHardBounceTTLLifts: with hard_bounce_ttl 168h the block lifts by
// itself after 7 days, with no restart, and mail goes out again.
func TestHardBounceTTLLifts(t *testing.T) {
	bounced := false
	answer := func(string, int) delivery.Result {
		if !bounced {
			bounced = true
			return reply(550, "5.1.1", "user unknown", delivery.StageRcpt)
		}
		return reply(250, "2.0.0", "ok", delivery.StageData)
	}
	h := newHarness(t, Options{TTLs: policy.TTLs{HardBounce: 168 * time.Hour}}, answer)
	h.submit("u@dest.test")
	h.drain(5)
	h.clk.Advance(167 * time.Hour)
	early := h.submit("u@dest.test")
	h.drain(5)
	if got := h.rcpt(early, 0).State; got != queue.Rejected {
		t.Fatalf("after 167h: %s, want rejected", got)
	}
	h.clk.Advance(time.Hour)
	late := h.submit("u@dest.test")
	h.drain(5)
	if got := h.rcpt(late, 0).State; got != queue.Delivered {
		t.Fatalf("after 168h: %s, want delivered", got)
	}
}

// TestManualRemovalLetsMailThrough: an operator removes a suppression and
// the next message is attempted.
func TestManualRemovalLetsMailThrough(t *testing.T) {
	ok := func(string, int) delivery.Result { return reply(250, "2.0.0", "ok", delivery.StageData) }
	h := newHarness(t, Options{}, ok)
	ctx := context.Background()
	h.store.Suppress(ctx, queue.Suppression{Address: "m@dest.test", Reason: policy.ReasonManual, Created: h.clk.Now()})
	first := h.submit("m@dest.test")
	h.drain(5)
	if err := h.store.Unsuppress(ctx, "M@DEST.TEST"); err != nil {
		t.Fatal(err)
	}
	second := h.submit("m@dest.test")
	h.drain(5)
	if a, b := h.rcpt(first, 0).State, h.rcpt(second, 0).State; a != queue.Rejected || b != queue.Delivered {
		t.Fatalf("before/after removal: %s/%s, want rejected/delivered", a, b)
	}
}

// TestSenderSideBurstWarnsOnce: ten DMARC rejections at one destination in
// the window give one warning, counted per category, and no suppression.
func TestSenderSideBurstWarnsOnce(t *testing.T) {
	dmarc := func(string, int) delivery.Result {
		return reply(550, "5.7.26", "Unauthenticated email from sender.test is not accepted due to domain's DMARC policy", delivery.StageData)
	}
	core, logs := observer.New(zap.WarnLevel)
	h := newHarness(t, Options{Logger: zap.New(core)}, dmarc)
	ctx := context.Background()
	for i := 0; i < 25; i++ {
		h.submit("r" + strings.Repeat("x", i) + "@big.test")
	}
	h.drain(5)
	warns := logs.FilterMessageSnippet("sender-side rejections").All()
	if len(warns) != 1 {
		t.Fatalf("%d warnings, want 1 per window", len(warns))
	}
	st := h.s.SenderSideRejections()
	if len(st) != 1 || st[0].Domain != "big.test" || st[0].Total != 25 || st[0].Categories[policy.AuthFailure] != 25 {
		t.Fatalf("stats = %+v", st)
	}
	if sups, _ := h.store.Suppressions(ctx, "", 0); len(sups) != 0 {
		t.Fatalf("%d addresses suppressed for our DMARC failure", len(sups))
	}
}
