package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/queue"
)

// queueFixture fills the queue with a deferred, a held, a suppressed
// (rejected) and a hard-bounced recipient, through the CLI where an
// operator would act.
func queueFixture(t *testing.T) (n *cliNet, m1, m2, m3 string) {
	n = newCLINet(t)
	n.mx("defer.test", "127.0.0.2", smtptest.WithRcpt(func(string) error {
		return smtptest.Reply(451, "4.7.1", "Rate limited, try again later")
	}))
	n.mx("ok.test", "127.0.0.3")
	n.mx("bad.test", "127.0.0.4", smtptest.WithRcpt(func(string) error {
		return smtptest.Reply(550, "5.1.1", "User unknown")
	}))
	n.ok("suppress", "add", "blocked@ok.test", "--reason", "complaint")
	m1 = n.send("a@defer.test", "blocked@ok.test", "b@ok.test")
	n.wait(m1, queue.Deferred, queue.Rejected, queue.Delivered)
	m2 = n.send("c@defer.test")
	n.wait(m2, queue.Deferred)
	if out := n.ok("queue", "hold", m2); out != "hold: 1 recipient in 1 message\n" {
		t.Fatalf("hold said %q", out)
	}
	m3 = n.send("gone@bad.test")
	n.wait(m3, queue.Bounced)
	return n, m1, m2, m3
}

func TestCLIQueue(t *testing.T) {
	n, m1, m2, m3 := queueFixture(t)

	ls := n.ok("queue", "ls")
	t.Logf("mtaq queue ls:\n%s", ls)
	for _, want := range []string{"ID", "LAST REPLY", m1, m2, m3, "a@defer.test", "deferred", "451 4.7.1 Rate limited",
		"blocked@ok.test", "rejected", "held", "bounced", "550 5.1.1 User unknown"} {
		if !strings.Contains(ls, want) {
			t.Errorf("queue ls lacks %q", want)
		}
	}
	held := n.ok("queue", "ls", "--state", "held")
	if !strings.Contains(held, m2) || strings.Contains(held, m1) {
		t.Errorf("--state held:\n%s", held)
	}
	if d := n.ok("queue", "ls", "--domain", "bad.test"); !strings.Contains(d, m3) || strings.Contains(d, m2) {
		t.Errorf("--domain bad.test:\n%s", d)
	}
	if r := n.ok("queue", "ls", "--rcpt", "C@defer.test"); !strings.Contains(r, m2) || strings.Contains(r, m1) {
		t.Errorf("--rcpt:\n%s", r)
	}

	js := n.ok("queue", "ls", "--json")
	t.Logf("mtaq queue ls --json:\n%s", js)
	checkQueueJSON(t, js, 3)

	show := n.ok("queue", "show", m1)
	t.Logf("mtaq queue show %s:\n%s", m1, show)
	for _, want := range []string{"Message", m1, "Sender", "app@sender.test", "Headers", "Subject: e2e",
		"Recipient a@defer.test: DEFERRED, 1 attempt, next attempt", "mx.defer.test", "127.0.0.2", "DECISION", "TLS POLICY", "opportunistic",
		"Recipient blocked@ok.test: REJECTED", "suppressed when submitted",
		"Recipient b@ok.test: DELIVERED", "delivered"} {
		if !strings.Contains(show, want) {
			t.Errorf("queue show lacks %q", want)
		}
	}
	var detail map[string]any
	if err := json.Unmarshal([]byte(n.ok("queue", "show", m2, "--json")), &detail); err != nil {
		t.Fatal(err)
	}
	tl := detail["recipients"].([]any)[0].(map[string]any)["timeline"].([]any)
	if len(tl) != 2 || tl[1].(map[string]any)["decision"] != "held" || detail["headers"] == nil {
		t.Errorf("show --json timeline %v", tl)
	}

	_, errs, code := n.run(nil, "queue", "show", "X")
	if code != 1 || errs != "mtaq: no message X in the queue\n" {
		t.Errorf("show X: exit %d, stderr %q", code, errs)
	}
}

// checkQueueJSON: an array of entries with the contract's field names.
func checkQueueJSON(t *testing.T, js string, n int) {
	t.Helper()
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(js), &entries); err != nil || len(entries) != n {
		t.Fatalf("queue ls --json: %d entries, %v", len(entries), err)
	}
	for _, k := range []string{"id", "sender", "arrived", "recipients"} {
		if _, ok := entries[0][k]; !ok {
			t.Errorf("queue entry lacks %q", k)
		}
	}
	var rcpts []map[string]json.RawMessage
	if err := json.Unmarshal(entries[0]["recipients"], &rcpts); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"address", "state", "attempts", "next_attempt", "last_reply"} {
		if _, ok := rcpts[0][k]; !ok {
			t.Errorf("recipient lacks %q", k)
		}
	}
	if string(rcpts[2]["next_attempt"]) != "null" { // delivered: not pending
		t.Errorf("delivered next_attempt = %s, want null", rcpts[2]["next_attempt"])
	}
}

func TestCLIQueueActions(t *testing.T) {
	n, m1, m2, m3 := queueFixture(t)
	if out := n.ok("queue", "release", m2); out != "release: 1 recipient in 1 message\n" {
		t.Errorf("release: %q", out)
	}
	n.wait(m2, queue.Deferred) // released as deferred (it had an attempt), retried at once
	if out := n.ok("queue", "retry", "--domain", "defer.test"); !strings.HasPrefix(out, "retry: 2 recipients in 2 messages") {
		t.Errorf("retry --domain: %q", out)
	}
	if out := n.ok("queue", "bounce", m1); out != "bounce: 1 recipient in 1 message\n" {
		t.Errorf("bounce: %q", out)
	}
	if out := n.ok("queue", "delete", "--all"); out != "delete: 1 recipient in 1 message\n" {
		t.Errorf("delete --all: %q", out)
	}
	if out := n.ok("queue", "ls", "--state", "deferred"); strings.Contains(out, m2) {
		t.Errorf("nothing deferred after delete --all:\n%s", out)
	}
	if err := n.d.Store().Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{{"queue", "hold"}, {"queue", "hold", m1, "--all"}, {"queue", "ls", "--bogus"},
		{"queue", "show"}, {"queue", "frobnicate"}, {"queue", "ls", "--state", "lost"}} {
		if _, errs, code := n.run(nil, bad...); code != 2 {
			t.Errorf("mtaq %v: exit %d, want 2 (%s)", bad, code, errs)
		}
	}
	if _, errs, code := n.run(nil, "queue", "hold", m3); code != 0 {
		t.Errorf("hold of a final message: exit %d %s", code, errs)
	}
}

func TestCLIDaemonDown(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mtaq.toml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "hostname = \"x.test\"\ndata_dir = %q\n", dir), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errs, code := runCLI(nil, "queue", "ls", "--config", cfg)
	want := fmt.Sprintf("mtaq: cannot reach the daemon at %s: is \"mtaq serve\" running?\n", filepath.Join(dir, "admin.sock"))
	if code != 69 || errs != want {
		t.Fatalf("exit %d, stderr %q; want 69, %q", code, errs, want)
	}
	if _, _, code := runCLI(nil, "stats", "--config", filepath.Join(dir, "missing.toml")); code != 78 {
		t.Fatalf("missing config: exit %d, want 78", code)
	}
}

func TestCLIStats(t *testing.T) {
	n, _, _, _ := queueFixture(t)
	out := n.ok("stats")
	t.Logf("mtaq stats:\n%s", out)
	// 1 delivered, 1 hard bounce: 50%.
	// No [[dkim]] key: the fixture's mail went out unsigned, and stats says so.
	for _, want := range []string{"deferred", "held", "defer.test", "451", "hard-bounced", "CRITICAL (≥ 5%)", "Suppressed addresses: 2",
		"WARNING: sent without DKIM"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats lacks %q", want)
		}
	}
	// The same day from the stored counters: the bounced recipient's domain
	// at 100%, critical.
	ov := n.ok("stats", "--overview")
	t.Logf("mtaq stats --overview:\n%s", ov)
	if !regexp.MustCompile(`(?m)^bad\.test\s+0\s+1\s+100\.00% critical`).MatchString(ov) || !strings.Contains(ov, "DAY (UTC)") {
		t.Errorf("stats --overview lacks bad.test's 100%% bounce rate")
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(n.ok("stats", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range st {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"complaints", "delivered", "delivery_rate", "destinations", "finished", "hard_bounce_rate", "hard_bounced", "level", "limits", "sender_side", "states", "suppressions", "unsigned", "window"}
	if !slices.Equal(keys, want) || st["level"] != "critical" {
		t.Errorf("stats --json keys %v level %v", keys, st["level"])
	}
}

// TestCLIDestinationLimits: a destination answering "451 4.7.1 Rate
// limited" is shown throttled, and an operator can reset it.
func TestCLIDestinationLimits(t *testing.T) {
	n, _, _, _ := queueFixture(t)
	out := n.ok("stats")
	if !regexp.MustCompile(`defer\.test\s+throttled\s+(1?[0-9])/20`).MatchString(out) {
		t.Fatalf("stats does not show defer.test throttled below 20:\n%s", out)
	}
	if got := n.ok("stats", "--reset", "defer.test"); !strings.Contains(got, "limits restored") {
		t.Fatalf("reset said %q", got)
	}
	if out := n.ok("stats"); strings.Contains(out, "throttled") {
		t.Fatalf("still throttled after reset:\n%s", out)
	}
	if _, errOut, code := n.run(nil, "stats", "--reset", "never.seen"); code == 0 || !strings.Contains(errOut, "never.seen") {
		t.Fatalf("reset of an unknown domain: exit %d, %q", code, errOut)
	}
}
