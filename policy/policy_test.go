package policy

import (
	"testing"
	"time"
)

func TestDelayDoublesToCapWithJitter(t *testing.T) {
	t.Parallel()
	s := DefaultSchedule
	want := []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, 80 * time.Minute,
		160 * time.Minute, 320 * time.Minute, 640 * time.Minute, 1280 * time.Minute, 24 * time.Hour, 24 * time.Hour}
	for i, w := range want {
		if got := s.Delay(i+1, 0.5); got != w {
			t.Errorf("Delay(%d) = %v, want %v", i+1, got, w)
		}
	}
	if lo, hi := s.Delay(1, 0), s.Delay(1, 0.999999); lo != 270*time.Second || hi < 329*time.Second || hi > 330*time.Second {
		t.Errorf("jitter bounds for 5m: %v..%v, want 4m30s..5m30s", lo, hi)
	}
}

func TestNextPlacesLastAttemptAtExpiry(t *testing.T) {
	t.Parallel()
	s := DefaultSchedule
	arrived := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := arrived.Add(70 * time.Hour)
	if got := s.Next(12, now, arrived, 0.5); !got.Equal(arrived.Add(72 * time.Hour)) {
		t.Errorf("next = %v, want the expiry time", got.Sub(arrived))
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	s := DefaultSchedule
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type attempt struct {
		Attempt
		reply Reply
	}
	at := func(code int, enh, text string, rcpt bool, age time.Duration) attempt {
		return attempt{Attempt{AtRecipient: rcpt, Attempts: 1, Arrived: t0, Now: t0.Add(age), Rand: 0.5}, Reply{code, enh, text}}
	}
	cases := []struct {
		name     string
		a        attempt
		lastAddr bool
		want     Decision
		reason   string
		next     time.Duration // from arrival, when deferred
	}{
		{"delivered", at(250, "2.0.0", "ok", true, 0), false, Delivered, "", 0},
		{"user unknown suppresses", at(550, "5.1.1", "user unknown", true, 0), false, Bounced, ReasonHardBounce, 0},
		{"blocklist fails without suppressing", at(554, "5.7.1", "client host blocked using zen.spamhaus.org", true, 0), false, Failed, "", 0},
		{"dmarc fails without suppressing", at(550, "5.7.26", "unauthenticated email is not accepted due to domain's DMARC policy", true, 0), false, Failed, "", 0},
		{"5xx at MAIL is about the sender", at(550, "", "rejected", false, 0), false, Failed, "", 0},
		{"bare 5xx at RCPT: unclassified bounce", at(550, "", "Rejected", true, 0), false, Bounced, ReasonUnclassifiedBounce, 0},
		{"unexplained 5.1.x: unclassified bounce", at(554, "5.1.0", "Transaction failed", true, 0), false, Bounced, ReasonUnclassifiedBounce, 0},
		{"unexplained 5.7.x never suppresses", at(550, "5.7.9", "Rejected", true, 0), false, Failed, "", 0},
		{"nxdomain bounces", at(0, "5.1.2", "domain x.test does not exist (NXDOMAIN)", false, 0), false, Bounced, ReasonHardBounce, 0},
		{"mailbox full on 552 is soft", at(552, "5.2.2", "mailbox full", true, 0), false, Deferred, "", 5 * time.Minute},
		{"greylisted", at(451, "4.7.1", "greylisted", true, 0), false, Deferred, "", 5 * time.Minute},
		{"soft about address expires suppressed", at(452, "4.2.2", "mailbox full", true, 72*time.Hour), false, Expired, ReasonSoftBounceExpired, 0},
		{"greylisting expiry does not suppress", at(451, "4.7.1", "greylisted", true, 72*time.Hour), false, Expired, "", 0},
		{"dns trouble at expiry keeps earlier address verdict", at(0, "4.4.3", "dns timeout", false, 72*time.Hour), true, Expired, ReasonSoftBounceExpired, 0},
		{"dns trouble at expiry alone does not suppress", at(0, "4.4.3", "dns timeout", false, 72*time.Hour), false, Expired, "", 0},
	}
	for _, c := range cases {
		o := Decide(s, Classify(c.a.reply), c.a.Attempt, c.lastAddr)
		if o.Decision != c.want || o.SuppressReason != c.reason {
			t.Errorf("%s: got %s/%q (verdict %+v), want %s/%q", c.name, o.Decision, o.SuppressReason, o.Verdict, c.want, c.reason)
		}
		if c.want == Deferred && o.NextAttempt.Sub(t0) != c.next {
			t.Errorf("%s: next attempt at +%v, want +%v", c.name, o.NextAttempt.Sub(t0), c.next)
		}
	}
}

// TestUnexplainedSuppression: a 5xx the classifier cannot explain suppresses
// only with no enhanced code, X.0.0 or X.1.x, and when the text names
// neither our host, an IP nor the sender.
func TestUnexplainedSuppression(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		r    Reply
		want bool
	}{
		{Reply{550, "", "Rejected"}, true},
		{Reply{554, "", "Transaction failed"}, true},
		{Reply{550, "5.0.0", "Rejected"}, true},
		{Reply{550, "5.1.0", "Rejected"}, true},
		{Reply{550, "5.7.9", "Rejected"}, false},
		{Reply{550, "5.7.6", "Failed to delivery"}, false},
		{Reply{554, "", "Message rejected"}, true},
		{Reply{550, "", "Delivery failed: message not accepted"}, true},
		{Reply{554, "", "mx1.example.net"}, true}, // the server naming itself: no reason
		{Reply{554, "5.3.0", "Rejected"}, false},
		{Reply{554, "5.4.0", "Rejected"}, false},
		{Reply{554, "5.5.0", "Rejected"}, false},
		{Reply{554, "5.6.0", "Rejected"}, false},
		{Reply{550, "4.4.7", "Rejected"}, false},
		{Reply{550, "", "Rejected 192.0.2.7"}, false},
		{Reply{550, "", "Rejected: client refused"}, false},
		{Reply{550, "", "sender rejected"}, false},
		{Reply{451, "", "Rejected"}, false}, // soft: never suppresses
	} {
		v := Classify(c.r)
		if v.Suppress != c.want || (c.want && v.Category != Unclassified) {
			t.Errorf("%+v: %s suppress=%v, want suppress=%v (%v)", c.r, v.Category, v.Suppress, c.want, v.Evidence)
		}
		if last := v.Evidence[len(v.Evidence)-1]; v.Class == Hard && v.Category == Unclassified && last.Kind != KindGuard {
			t.Errorf("%+v: no guard evidence explains the suppression: %v", c.r, v.Evidence)
		}
	}
}

func TestTTLs(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ttl := TTLs{HardBounce: time.Hour, SoftDerived: 2 * time.Hour, Unclassified: 3 * time.Hour}
	for reason, want := range map[string]time.Duration{ReasonHardBounce: time.Hour, ReasonSoftBounceExpired: 2 * time.Hour,
		ReasonSoftBounceRepeated: 2 * time.Hour, ReasonUnclassifiedBounce: 3 * time.Hour, ReasonManual: 0} {
		got := ttl.Expires(reason, now)
		if (want == 0 && !got.IsZero()) || (want != 0 && !got.Equal(now.Add(want))) {
			t.Errorf("%s expires %v, want +%v", reason, got, want)
		}
	}
	if got := DefaultTTLs.Expires(ReasonUnclassifiedBounce, now); !got.Equal(now.Add(720 * time.Hour)) {
		t.Errorf("default unclassified TTL: %v", got)
	}
}

func TestStreak(t *testing.T) {
	t.Parallel()
	full := Outcome{Decision: Deferred, Verdict: Classify(Reply{452, "4.2.2", "mailbox full"}), AboutAddress: true,
		NextAttempt: time.Unix(1, 0)}
	grey := Outcome{Decision: Deferred, Verdict: Classify(Reply{451, "4.7.1", "greylisted"})}
	ok := Outcome{Decision: Delivered, Verdict: Classify(Reply{250, "", "ok"})}
	cases := []struct {
		name    string
		o       Outcome
		counted []string
		id      string
		want    Decision
		change  StreakChange
		reason  string
	}{
		{"first soft counts", full, nil, "m1", Deferred, StreakAdd, ""},
		{"same message counts once", full, []string{"m1", "m2"}, "m2", Deferred, StreakAdd, ""},
		{"third distinct message suppresses", full, []string{"m1", "m2"}, "m3", Bounced, StreakReset, ReasonSoftBounceRepeated},
		{"greylisting never counts", grey, []string{"m1", "m2"}, "m3", Deferred, StreakKeep, ""},
		{"delivery resets", ok, []string{"m1"}, "m3", Delivered, StreakReset, ""},
		{"delivery with no streak writes nothing", ok, nil, "m3", Delivered, StreakKeep, ""},
	}
	for _, c := range cases {
		o, ch := Streak(c.o, c.counted, c.id, 3)
		if o.Decision != c.want || ch != c.change || o.SuppressReason != c.reason {
			t.Errorf("%s: got %s/%d/%q, want %s/%d/%q", c.name, o.Decision, ch, o.SuppressReason, c.want, c.change, c.reason)
		}
	}
	if o, ch := Streak(full, []string{"m1", "m2"}, "m3", 0); o.Decision != Deferred || ch != StreakKeep {
		t.Errorf("limit 0 must turn the rule off: %s %d", o.Decision, ch)
	}
}
