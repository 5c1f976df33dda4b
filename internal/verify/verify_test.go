package verify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/dnstest"
	"github.com/mtaq/mtaq/policy"
	"github.com/mtaq/mtaq/queue"
)

var t0 = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

// world is a fake Internet (an in-process DNS server) and a real queue.
type world struct {
	t     *testing.T
	dns   *dnstest.Server
	clock *clock.Fake
	store *queue.PebbleStore
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, dns: dnstest.New(t), clock: clock.NewFake(t0)}
	s, err := queue.Open(t.TempDir(), queue.Options{Clock: w.clock, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w.store = s
	w.mx("ok.test")
	w.dns.NullMX("nullmx.test")
	w.dns.Add(`nomail.test. 300 IN TXT "v=spf1 -all"`) // exists, no MX, no A/AAAA
	w.dns.A("implicit.test", "192.0.2.7")
	w.dns.ServFail("servfail.test")
	w.mx("xn--bcher-kva.test")
	w.mx("mailinator.com")
	w.mx("gmial.com")
	w.mx("gmail.com")
	return w
}

func (w *world) mx(domain string) {
	w.dns.MX(domain, 10, "mx."+domain)
	w.dns.A("mx."+domain, "192.0.2.25")
}

func (w *world) verifier(mod ...func(*Options)) *Verifier {
	o := Options{Store: w.store, Clock: w.clock,
		Resolver: delivery.NewResolver([]string{w.dns.Addr()}, delivery.WithQueryTimeout(2*time.Second),
			delivery.WithResolverClock(w.clock))}
	for _, m := range mod {
		m(&o)
	}
	return New(o)
}

func (w *world) verify(v *Verifier, addrs ...string) []Result {
	w.t.Helper()
	res, err := v.Addresses(context.Background(), addrs)
	if err != nil {
		w.t.Fatal(err)
	}
	if len(res) != len(addrs) {
		w.t.Fatalf("%d results for %d addresses", len(res), len(addrs))
	}
	return res
}

func codes(r Result) []string {
	var out []string
	for _, x := range r.Reasons {
		out = append(out, x.Code)
	}
	return out
}

func reason(r Result, code string) *Reason {
	for i := range r.Reasons {
		if r.Reasons[i].Code == code {
			return &r.Reasons[i]
		}
	}
	return nil
}

func expect(t *testing.T, r Result, verdict Verdict, code string) {
	t.Helper()
	if r.Verdict != verdict || reason(r, code) == nil {
		t.Errorf("%s: %s %v, want %s with %s", r.Address, r.Verdict, codes(r), verdict, code)
	}
}

func TestSyntax(t *testing.T) {
	w := newWorld(t)
	v := w.verifier()
	bad := []string{"", "no-at-sign", "a..b@ok.test", ".a@ok.test", `"quoted"@ok.test`, "a b@ok.test",
		strings.Repeat("x", 65) + "@ok.test", "a@" + strings.Repeat("x.", 128) + "test", "a@-bad-.test", "a@ok..test",
		"Ann <ann@ok.test>", "a@192.0.2.1"}
	for _, r := range w.verify(v, bad...) {
		expect(t, r, Invalid, CodeSyntax)
		if r.Normalized != "" || len(r.Reasons) != 1 {
			t.Errorf("%q: %+v, want syntax alone", r.Address, r)
		}
	}
	good := w.verify(v, "  <Ann.O'Neil+tag@OK.test>  ", "ü@bücher.test", "x@[192.0.2.1]")
	expect(t, good[0], Valid, CodeMailDomain)
	if good[0].Normalized != "Ann.O'Neil+tag@ok.test" || good[0].Address != "<Ann.O'Neil+tag@OK.test>" {
		t.Errorf("normalized %q from %q", good[0].Normalized, good[0].Address)
	}
	expect(t, good[1], Valid, CodeMailDomain)
	if good[1].Normalized != "ü@xn--bcher-kva.test" {
		t.Errorf("IDN normalized to %q, want the A-label", good[1].Normalized)
	}
	expect(t, good[2], Risky, CodeIPLiteral)
}

func TestDomains(t *testing.T) {
	w := newWorld(t)
	v := w.verifier()
	rs := w.verify(v, "a@nxdomain.test", "a@nullmx.test", "a@nomail.test", "a@implicit.test", "a@servfail.test", "a@ok.test")
	expect(t, rs[0], Invalid, CodeNXDomain)
	expect(t, rs[1], Invalid, CodeNullMX)
	expect(t, rs[2], Invalid, CodeNoMailHost)
	expect(t, rs[3], Valid, CodeMailDomain)
	expect(t, rs[4], Unknown, CodeDNSTemporary)
	expect(t, rs[5], Valid, CodeMailDomain)
}

// One lookup per domain however many addresses share it, and the cache
// answers the next request while the TTL lasts.
func TestOneLookupPerDomain(t *testing.T) {
	w := newWorld(t)
	v := w.verifier()
	var addrs []string
	for i := range 50 {
		addrs = append(addrs, fmt.Sprintf("u%d@ok.test", i))
	}
	w.verify(v, addrs...)
	w.verify(v, addrs...)
	if n := w.dns.Queries("ok.test", dns.TypeMX); n != 1 {
		t.Errorf("%d MX queries for ok.test, want 1", n)
	}
	w.clock.Advance(301 * time.Second) // past the records' TTL
	w.verify(v, addrs[0])
	if n := w.dns.Queries("ok.test", dns.TypeMX); n != 2 {
		t.Errorf("%d MX queries after the TTL, want 2", n)
	}
}

func TestSuppressionByReason(t *testing.T) {
	w := newWorld(t)
	v := w.verifier()
	expires := t0.Add(20 * 24 * time.Hour)
	cases := []struct {
		reason  string
		verdict Verdict
	}{
		{policy.ReasonHardBounce, Invalid},
		{policy.ReasonUnclassifiedBounce, Invalid},
		{policy.ReasonSoftBounceExpired, Risky},
		{policy.ReasonSoftBounceRepeated, Risky},
		{policy.ReasonComplaint, Risky},
		{policy.ReasonUnsubscribe, Risky},
		{policy.ReasonManual, Risky},
	}
	var addrs []string
	for _, c := range cases {
		a := c.reason + "@ok.test"
		addrs = append(addrs, a)
		if err := w.store.Suppress(context.Background(), queue.Suppression{Address: a, Reason: c.reason,
			Created: t0.Add(-time.Hour), LastSeen: t0.Add(-time.Hour), Count: 1, Expires: expires}); err != nil {
			t.Fatal(err)
		}
	}
	// An expired entry no longer counts.
	if err := w.store.Suppress(context.Background(), queue.Suppression{Address: "lifted@ok.test", Reason: policy.ReasonHardBounce,
		Created: t0.Add(-48 * time.Hour), LastSeen: t0.Add(-48 * time.Hour), Count: 1, Expires: t0.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	rs := w.verify(v, append(addrs, "lifted@ok.test")...)
	for i, c := range cases {
		expect(t, rs[i], c.verdict, CodeSuppressed)
		r := reason(rs[i], CodeSuppressed)
		if r == nil {
			continue
		}
		if r.SuppressionReason != c.reason || r.Expires == nil || !r.Expires.Equal(expires) {
			t.Errorf("%s: reason %q expires %v", rs[i].Address, r.SuppressionReason, r.Expires)
		}
	}
	expect(t, rs[len(cases)], Valid, CodeMailDomain)
	if reason(rs[len(cases)], CodeSuppressed) != nil {
		t.Errorf("an expired suppression still counts: %v", codes(rs[len(cases)]))
	}
}

// deliver enqueues a message to addr and applies state at the clock's now.
func (w *world) deliver(addr string, state queue.State, at time.Time) {
	w.t.Helper()
	ctx := context.Background()
	m := &queue.Message{Sender: "app@ok.test", Arrived: at.Add(-time.Minute), Recipients: []queue.Recipient{{Address: addr}}}
	if err := w.store.Enqueue(ctx, m, []byte("Subject: x\r\n\r\nx\r\n")); err != nil {
		w.t.Fatal(err)
	}
	rep := queue.Reply{Code: 250, Enhanced: "2.0.0", Text: "ok"}
	if state == queue.Bounced {
		rep = queue.Reply{Code: 550, Enhanced: "5.1.1", Text: "user unknown"}
	}
	if err := w.store.Apply(ctx, []queue.Update{{ID: m.ID, Rcpt: 0, State: state, CountAttempt: true, Reply: &rep,
		Attempt: &queue.Attempt{At: at, Reply: rep, Decision: string(state)}}}); err != nil {
		w.t.Fatal(err)
	}
}

func TestDeliveryHistory(t *testing.T) {
	w := newWorld(t)
	w.deliver("yesterday@ok.test", queue.Delivered, t0.Add(-24*time.Hour))
	w.deliver("lastweek@ok.test", queue.Bounced, t0.Add(-7*24*time.Hour))
	w.deliver("longago@ok.test", queue.Delivered, t0.Add(-40*24*time.Hour))
	w.deliver("came-back@ok.test", queue.Bounced, t0.Add(-7*24*time.Hour))
	w.deliver("came-back@ok.test", queue.Delivered, t0.Add(-2*24*time.Hour))
	// Delivery history outranks role and typo: it was read by someone.
	w.deliver("info@gmial.com", queue.Delivered, t0.Add(-time.Hour))
	v := w.verifier()
	rs := w.verify(v, "Yesterday@ok.test", "lastweek@ok.test", "longago@ok.test", "came-back@ok.test", "info@gmial.com")
	expect(t, rs[0], Valid, CodeDelivered)
	if r := reason(rs[0], CodeDelivered); r == nil || !r.At.Equal(t0.Add(-24*time.Hour)) {
		t.Errorf("delivered reason %+v", r)
	}
	expect(t, rs[1], Invalid, CodeBounced)
	if r := reason(rs[1], CodeBounced); r == nil || r.Reply == nil || r.Reply.Enhanced != "5.1.1" {
		t.Errorf("bounced reason %+v", r)
	}
	if reason(rs[2], CodeDelivered) != nil {
		t.Errorf("a delivery 40 days ago counted: %v", codes(rs[2]))
	}
	expect(t, rs[3], Valid, CodeDelivered)
	expect(t, rs[4], Valid, CodeDelivered)
	if rs[4].Suggestion != "info@gmail.com" || reason(rs[4], CodeRole) == nil {
		t.Errorf("the role and typo reasons are still given: %+v", rs[4])
	}
	// A shorter window (verify.history_window) drops yesterday's delivery.
	short := w.verifier(func(o *Options) { o.HistoryWindow = 12 * time.Hour })
	if r := w.verify(short, "yesterday@ok.test")[0]; reason(r, CodeDelivered) != nil {
		t.Errorf("12h window: %v", codes(r))
	}
}

func TestRolesDisposableTypos(t *testing.T) {
	w := newWorld(t)
	v := w.verifier()
	rs := w.verify(v, "postmaster@ok.test", "No-Reply+x@ok.test", "ann@mailinator.com", "ann@eu.mailinator.com",
		"user@gmial.com", "user@gmail.com", "ann@ok.test")
	expect(t, rs[0], Risky, CodeRole)
	expect(t, rs[1], Risky, CodeRole)
	expect(t, rs[2], Risky, CodeDisposable)
	if reason(rs[3], CodeDisposable) == nil {
		t.Errorf("a subdomain of a disposable domain: %v", codes(rs[3]))
	}
	expect(t, rs[4], Risky, CodeTypo)
	if rs[4].Suggestion != "user@gmail.com" {
		t.Errorf("suggestion %q", rs[4].Suggestion)
	}
	if rs[5].Verdict != Valid || rs[5].Suggestion != "" {
		t.Errorf("gmail.com itself: %+v", rs[5])
	}
	expect(t, rs[6], Valid, CodeMailDomain)
}

func TestTypoOf(t *testing.T) {
	cases := map[string]string{
		"gmial.com": "gmail.com", "hotmial.com": "hotmail.com", "yahooo.com": "yahoo.com", "gmail.co": "gmail.com",
		"outlok.com": "outlook.com", "hotmaill.com": "hotmail.com", "iclod.com": "icloud.com", "gnail.com": "gmail.com",
		"hotmali.co.uk": "hotmail.co.uk",
		// Real providers and unrelated domains are not typos.
		"gmail.com": "", "mail.com": "", "ymail.com": "", "gmx.com": "", "example.com": "", "ok.test": "", "me.com": "",
	}
	for d, want := range cases {
		got, _ := typoOf(d)
		if got != want {
			t.Errorf("typoOf(%q) = %q, want %q", d, got, want)
		}
	}
}

func TestRequestList(t *testing.T) {
	many := make([]string, MaxAddresses+1)
	for _, c := range []struct {
		r     Request
		field string
	}{
		{Request{}, "addresses"},
		{Request{Address: "a@b.test", Addresses: []string{"c@d.test"}}, "address"},
		{Request{Addresses: many}, "addresses"},
	} {
		_, err := c.r.List()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want a FieldError on %s", c.r, err, c.field)
		}
	}
	if got, err := (Request{Addresses: many[:MaxAddresses]}).List(); err != nil || len(got) != MaxAddresses {
		t.Errorf("1000 addresses: %d, %v", len(got), err)
	}
}

// Results come back in the caller's order whatever order domains finish.
func TestOrderKept(t *testing.T) {
	w := newWorld(t)
	w.dns.Delay("ok.test", 200*time.Millisecond)
	v := w.verifier()
	in := []string{"a@ok.test", "b@nxdomain.test", "bad", "c@ok.test", "d@implicit.test"}
	var got []string
	for _, r := range w.verify(v, in...) {
		got = append(got, r.Address)
	}
	if !slices.Equal(got, in) {
		t.Errorf("order %v, want %v", got, in)
	}
}

func TestDecideOrder(t *testing.T) {
	r := func(code string, v Verdict) Reason { return Reason{Code: code, Verdict: v} }
	cases := []struct {
		rs   []Reason
		want Verdict
	}{
		{[]Reason{r(CodeMailDomain, Valid)}, Valid},
		{[]Reason{r(CodeMailDomain, Valid), r(CodeRole, Risky)}, Risky},
		{[]Reason{r(CodeDNSTemporary, Unknown), r(CodeDelivered, Valid)}, Valid},
		{[]Reason{r(CodeDNSTemporary, Unknown), r(CodeRole, Risky)}, Risky},
		{[]Reason{r(CodeDNSTemporary, Unknown)}, Unknown},
		{[]Reason{r(CodeSuppressed, Risky), r(CodeDelivered, Valid)}, Risky},
		{[]Reason{r(CodeNXDomain, Invalid), r(CodeDelivered, Valid)}, Invalid},
		{[]Reason{r(CodeRole, Risky), r(CodeDelivered, Valid)}, Valid},
	}
	for _, c := range cases {
		if got := decide(c.rs); got != c.want {
			t.Errorf("%v: %s, want %s", c.rs, got, c.want)
		}
	}
}

// Mail to an internationalised address is recorded as the recipient was
// written; verification finds it by either spelling.
func TestIDNHistoryAndSuppression(t *testing.T) {
	w := newWorld(t)
	w.deliver("ü@bücher.test", queue.Delivered, t0.Add(-time.Hour))
	if err := w.store.Suppress(context.Background(), queue.Suppression{Address: "x@bücher.test", Reason: "complaint",
		Created: t0, LastSeen: t0, Count: 1}); err != nil {
		t.Fatal(err)
	}
	v := w.verifier()
	rs := w.verify(v, "ü@bücher.test", "x@BÜCHER.test")
	expect(t, rs[0], Valid, CodeDelivered)
	expect(t, rs[1], Risky, CodeSuppressed)
}
