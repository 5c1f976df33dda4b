package verify

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/queue"
)

var probeIPs = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}

// rcptLog records the RCPTs one fake exchanger saw.
type rcptLog struct {
	mu  sync.Mutex
	all []string
}

func (l *rcptLog) add(to string) { l.mu.Lock(); l.all = append(l.all, to); l.mu.Unlock() }
func (l *rcptLog) n() int        { l.mu.Lock(); defer l.mu.Unlock(); return len(l.all) }

// probeWorld adds three exchangers to the world: catchall.test takes any
// mailbox, checks.test knows ann and bob, grey.test answers 451.
func probeWorld(t *testing.T, mods ...func(*ProbeOptions)) (*world, *Verifier, map[string]*rcptLog) {
	w := newWorld(t)
	port := smtptest.FreePort(t, probeIPs...)
	logs := map[string]*rcptLog{}
	serve := func(domain, ip string, rcpt func(to string) error) {
		w.dns.MX(domain, 10, "mx."+domain)
		w.dns.A("mx."+domain, ip)
		l := &rcptLog{}
		logs[domain] = l
		smtptest.New(t, fmt.Sprintf("%s:%d", ip, port), smtptest.WithRcpt(func(to string) error {
			l.add(to)
			return rcpt(to)
		}))
	}
	serve("catchall.test", probeIPs[0], func(string) error { return nil })
	serve("checks.test", probeIPs[1], func(to string) error {
		if strings.HasPrefix(to, "ann@") || strings.HasPrefix(to, "bob@") || strings.HasPrefix(to, "cy@") {
			return nil
		}
		return smtptest.Reply(550, "5.1.1", "user unknown")
	})
	serve("grey.test", probeIPs[2], func(string) error { return smtptest.Reply(451, "4.7.1", "greylisted, try later") })
	res := delivery.NewResolver([]string{w.dns.Addr()}, delivery.WithQueryTimeout(2*time.Second), delivery.WithResolverClock(w.clock))
	d := delivery.New(delivery.Options{Hostname: "out.mtaq.test", Port: port, Resolver: res,
		ConnectTimeout: 2 * time.Second, GreetingTimeout: 3 * time.Second, CommandTimeout: 3 * time.Second})
	t.Cleanup(d.Close)
	v := w.verifier(func(o *Options) {
		o.Resolver = res
		o.Probe = &ProbeOptions{Enabled: true, Prober: d, Rate: 3, Skip: []string{"gmail.com"},
			RandomLocal: func() string { return "random-x7" }}
		for _, m := range mods {
			m(o.Probe)
		}
	})
	return w, v, logs
}

func TestProbeVerdicts(t *testing.T) {
	w, v, logs := probeWorld(t)
	rs := w.verify(v, "ann@checks.test", "nobody@checks.test", "anyone@catchall.test", "ann@grey.test", "x@gmail.com")
	expect(t, rs[0], Valid, CodeMailboxExists)
	expect(t, rs[1], Invalid, CodeMailboxRejected)
	if r := reason(rs[1], CodeMailboxRejected); r == nil || r.Reply == nil || r.Reply.Code != 550 || r.Reply.Enhanced != "5.1.1" {
		t.Errorf("rejection reason %+v", r)
	}
	expect(t, rs[2], Risky, CodeCatchAll)
	expect(t, rs[3], Unknown, CodeProbeFailed)
	if reason(rs[4], CodeProbeSkipped) == nil || rs[4].Verdict != Valid {
		t.Errorf("a provider on the skip list: %+v", rs[4])
	}
	// The catch-all test went first, once per domain: checks.test saw
	// random-x7 once, then ann, then nobody without another random.
	l := logs["checks.test"]
	l.mu.Lock()
	got := strings.Join(l.all, ",")
	l.mu.Unlock()
	if got != "random-x7@checks.test,ann@checks.test,nobody@checks.test" {
		t.Errorf("checks.test saw %s", got)
	}
}

// Answers are cached per address (accepted 7 days, refused 1 day) and the
// catch-all reading per domain.
func TestProbeCache(t *testing.T) {
	w, v, logs := probeWorld(t)
	w.verify(v, "ann@checks.test", "nobody@checks.test", "a@catchall.test")
	n, nc := logs["checks.test"].n(), logs["catchall.test"].n()
	w.clock.Advance(2 * time.Hour)
	rs := w.verify(v, "ann@checks.test", "nobody@checks.test", "b@catchall.test")
	if logs["checks.test"].n() != n || logs["catchall.test"].n() != nc {
		t.Errorf("cached answers probed again: %d→%d, %d→%d RCPTs", n, logs["checks.test"].n(), nc, logs["catchall.test"].n())
	}
	for _, r := range rs {
		if !r.Cached {
			t.Errorf("%s not from the cache: %+v", r.Address, r)
		}
	}
	expect(t, rs[0], Valid, CodeMailboxExists)
	expect(t, rs[1], Invalid, CodeMailboxRejected)
	expect(t, rs[2], Risky, CodeCatchAll)
	// After a day the refusal is asked again; the acceptance is not.
	w.clock.Advance(23 * time.Hour)
	w.verify(v, "ann@checks.test", "nobody@checks.test")
	if got := logs["checks.test"].n() - n; got != 2 {
		t.Errorf("after a day: %d new RCPTs, want 2 (the random one and nobody)", got)
	}
}

// At most probe_rate probes per domain per minute: the rest are unknown
// until the minute has passed.
func TestProbeRefusedByDomainRate(t *testing.T) {
	w, v, logs := probeWorld(t)
	rs := w.verify(v, "ann@checks.test", "bob@checks.test", "cy@checks.test", "dee@checks.test")
	for _, r := range rs[:3] {
		if reason(r, CodeProbeRateLimit) != nil {
			t.Errorf("%s held back within the rate", r.Address)
		}
	}
	expect(t, rs[3], Unknown, CodeProbeRateLimit)
	if n := logs["checks.test"].n(); n != 4 { // the random RCPT and three addresses
		t.Errorf("%d RCPTs, want 4", n)
	}
	w.clock.Advance(61 * time.Second)
	expect(t, w.verify(v, "dee@checks.test")[0], Invalid, CodeMailboxRejected)
}

func TestProbeOffByDefault(t *testing.T) {
	w, _, logs := probeWorld(t)
	v := w.verifier()
	w.verify(v, "ann@checks.test")
	if logs["checks.test"].n() != 0 {
		t.Errorf("probed with probes off")
	}
}

func TestListsReplaceAndLoad(t *testing.T) {
	dir := t.TempDir()
	l, err := LoadLists(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Disposable("mailinator.com") || l.Len() < 50 {
		t.Fatalf("embedded list: %d domains", l.Len())
	}
	if _, err := l.Replace(strings.NewReader("# mine\nthrow.test\nnot a domain\n")); err == nil ||
		!strings.Contains(err.Error(), "line 3") {
		t.Fatalf("bad line: %v, want it named", err)
	}
	if !l.Disposable("mailinator.com") {
		t.Fatal("a refused list changed the set")
	}
	up, err := l.Replace(strings.NewReader("# mine\nthrow.test\nBÜCHER-WEG.test.\n\n"))
	if err != nil || up.Domains != 2 || up.Previous < 50 {
		t.Fatalf("replace: %+v, %v", up, err)
	}
	if l.Disposable("mailinator.com") || !l.Disposable("a.throw.test") || !l.Disposable("xn--bcher-weg-q9a.test") {
		t.Error("the new list is not the one in use")
	}
	again, err := LoadLists(dir)
	if err != nil || again.Len() != 2 || !again.Disposable("throw.test") {
		t.Fatalf("reloaded: %d, %v", again.Len(), err)
	}
	if fi, err := os.Stat(filepath.Join(dir, ListFile)); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("stored list: %v %v", fi, err)
	}
}

func TestEmbeddedListParses(t *testing.T) {
	set, err := ParseList(bytes.NewReader(embeddedDisposable))
	if err != nil || len(set) < 50 {
		t.Fatalf("%d, %v", len(set), err)
	}
}

// An address the suppression list or the history already condemns is not
// probed: the verdict is known, and a probe would only cost reputation.
func TestProbeSkipsWhatIsAlreadyInvalid(t *testing.T) {
	w, v, logs := probeWorld(t)
	if err := w.store.Suppress(t.Context(), queue.Suppression{Address: "gone@checks.test", Reason: "hard_bounce",
		Created: t0, LastSeen: t0, Count: 1}); err != nil {
		t.Fatal(err)
	}
	w.deliver("old@checks.test", queue.Bounced, t0.Add(-time.Hour))
	rs := w.verify(v, "gone@checks.test", "old@checks.test")
	expect(t, rs[0], Invalid, CodeSuppressed)
	expect(t, rs[1], Invalid, CodeBounced)
	if n := logs["checks.test"].n(); n != 0 {
		t.Errorf("%d RCPTs for addresses already invalid", n)
	}
}

// A destination the scheduler is holding back (throttled, parked) is not
// probed: unknown, nothing sent.
func TestProbeHeldByTheScheduler(t *testing.T) {
	w, v, logs := probeWorld(t, func(o *ProbeOptions) {
		o.Held = func(domain string) string {
			if domain == "checks.test" {
				return "parked"
			}
			return ""
		}
	})
	rs := w.verify(v, "ann@checks.test", "a@catchall.test")
	expect(t, rs[0], Unknown, CodeProbeFailed)
	if r := reason(rs[0], CodeProbeFailed); r == nil || !strings.Contains(r.Detail, "parked") {
		t.Errorf("reason %+v", r)
	}
	expect(t, rs[1], Risky, CodeCatchAll)
	if n := logs["checks.test"].n(); n != 0 {
		t.Errorf("%d RCPTs to a parked destination", n)
	}
}
