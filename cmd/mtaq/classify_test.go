package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mtaq/mtaq/policy"
)

// runClassify runs `mtaq classify args...` with stdin and returns stdout.
func runClassify(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	root := rootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(append([]string{"classify"}, args...))
	err := root.Execute()
	return out.String(), err
}

// ruleConfig changes the schedule and adds one operator rule.
const ruleConfig = `hostname = "mta.example.com"
[retry]
first = "10m"
max = "12h"
expire = "48h"
jitter = 0
[[policy.rule]]
name = "acme-blocklist-is-soft"
code = 550
text = "(?i)temporarily blocked"
domain = "acme.example"
class = "soft"
category = "blocked_reputation"
`

func TestClassifyExplains(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "mtaq.toml")
	if err := os.WriteFile(cfg, []byte(ruleConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"hard address", []string{"550 5.1.1 <a@b.c>: user unknown"}, []string{
			"reply:     550 5.1.1 <a@b.c>: user unknown\n",
			"class:     hard (permanent: no retry)\n",
			"category:  user_unknown (recipient side)\n",
			"rule:      text:user-unknown\n",
			"action:    the recipient is bounced and the address suppressed (reason hard_bounce, never lifts)\n"}},
		{"sender-side hard", []string{"554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"}, []string{
			"category:  blocked_reputation (sender side)\n",
			"the address is NOT suppressed (the fault is on the sending side: fix the sending IP's or domain's reputation or blocklist listing)"}},
		{"greylisting", []string{"451", "4.7.1", "Greylisted,", "please", "retry"}, []string{
			"reply:     451 4.7.1 Greylisted, please retry\n",
			"class:     soft (temporary: retried)\n",
			"category:  greylisting (transport side)\n",
			"action:    retried with backoff: 5m after the first attempt, doubling to 24h, until 72h after arrival (each wait ±10%)\n",
			"expiry:    expires without suppression\n"}},
		{"mailbox full on 552", []string{"552-5.2.2 The email account that you tried to reach is over quota.\n552 5.2.2 Please direct the recipient to the help page"}, []string{
			"reply:     552 5.2.2 The email account that you tried to reach is over quota.\n           5.2.2 Please direct",
			"class:     soft (temporary: retried)\n",
			"category:  mailbox_full (recipient side)\n",
			"expiry:    if still failing at expiry the address is suppressed (soft_bounce_expired, 30 days)\n"}},
		{"unexplained 5xx suppresses for a while", []string{"550 Rejected"}, []string{
			"category:  unclassified (unknown side)\n",
			"evidence:  phrase no-reason \"rejected\" → unclassified (40)  (decided)\n",
			"suppress:  yes: ",
			"(reason unclassified_bounce, 30 days)"}},
		{"unexplained 5.7.x never suppresses", []string{"550 5.7.9 Rejected"}, []string{
			"suppress:  no: 5.7.9 is not an address code",
			"the address is NOT suppressed"}},
		// The fallback's guess at a vague reply is tentative: the guard
		// still reads the refusal ("forbidden" itself is a policy phrase).
		{"a refusal by rule never suppresses", []string{"550 Recipient address filter"}, []string{
			"suppress:  no: the reply refuses by rule (\"filter\")",
			"the address is NOT suppressed"}},
		{"evidence lists the priors", []string{"550 5.4.5 Daily sending limit exceeded"}, []string{
			"category:  rate_limited (sender side)\n",
			"evidence:  phrase volume-limit \"daily sending limit\" → rate_limited (80)  (decided)\n",
			"           enhanced 5.4.5 → rate_limited (30)\n",
			"           code 550 → unclassified (20)\n"}},
		{"operator rule from the config", []string{"--config", cfg, "--domain", "mx.acme.example", "550 You are Temporarily Blocked"}, []string{
			"domain:    mx.acme.example\n",
			"class:     soft (temporary: retried)\n",
			"category:  blocked_reputation (sender side)\n",
			"rule:      operator:acme-blocklist-is-soft\n",
			"action:    retried with backoff: 10m after the first attempt, doubling to 12h, until 48h after arrival\n",
			"expiry:    expires without suppression\n"}},
	}
	for _, c := range cases {
		out, err := runClassify(t, "", c.args...)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", c.name, w, out)
			}
		}
	}
}

func TestClassifyUsageErrors(t *testing.T) {
	var ee *exitError
	if _, err := runClassify(t, "", "hello"); !errors.As(err, &ee) || ee.code != 2 { // docs/OPERATIONS.md: usage
		t.Errorf("bad reply: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("hostname = \"h.example\"\n[[policy.rule]]\ntext = \"(\"\nclass = \"soft\"\n"), 0o600)
	_, err := runClassify(t, "", "--config", bad, "550 x")
	if !errors.As(err, &ee) || ee.code != 78 || !strings.Contains(err.Error(), "bad.toml:3: policy.rule[0].text") {
		t.Errorf("bad config: %v", err)
	}
}

func TestClassifyJSONLines(t *testing.T) {
	in := strings.Join([]string{
		`{"code":550,"enhanced":"5.1.1","text":"user unknown"}`,
		`{"code":452,"enhanced":"4.2.2","text":"Over quota","category":"ignored label"}`,
		`{"code":550,"text":`, // malformed, in the middle
		``,
		`{"code":99,"text":"x"}`,
		`{"text":"no code"}`,
		`{"code":554,"enhanced":"5.7.1","text":"Mail from x rejected for policy reasons"}` + "\r",
		`{"code":421,"text":"Too many connections"}`, // no final newline
	}, "\n")
	out, err := runClassify(t, in)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Errorf("exit: %v, want status 1", err)
	}
	var got []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		got = append(got, m)
	}
	if len(got) != 8 {
		t.Fatalf("%d output lines for 8 input lines:\n%s", len(got), out)
	}
	want := []string{"hard/user_unknown/true", "soft/mailbox_full/false", "error", "error: empty line",
		"error: code 99 is not a reply code 200..599", "error: code is missing",
		"hard/policy_rejected/false", "soft/rate_limited/false"}
	for i, m := range got {
		if m["line"] != float64(i+1) {
			t.Errorf("line %d numbered %v", i+1, m["line"])
		}
		s := fmt.Sprintf("%v/%v/%v", m["class"], m["category"], m["suppress"])
		if e, ok := m["error"].(string); ok {
			s = "error: " + e
			if i == 2 { // the JSON decoder's wording is not ours to pin
				s = "error"
			}
		}
		if s != want[i] {
			t.Errorf("line %d: %s, want %s", i+1, s, want[i])
		}
	}
}

func TestClassifyJSONLineTooLong(t *testing.T) {
	in := `{"code":550,"text":"` + strings.Repeat("a", maxLine) + "\"}\n" + `{"code":550,"text":"user unknown"}` + "\n"
	out, _ := runClassify(t, in)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"line":1,"error":"line longer than 1 MiB"`) ||
		!strings.Contains(lines[1], `"line":2,`) {
		t.Fatalf("got %q", lines)
	}
}

func TestParseReply(t *testing.T) {
	for in, want := range map[string]policy.Reply{
		"550 5.1.1 <a@b.c>: user unknown":                    {Code: 550, Enhanced: "5.1.1", Text: "<a@b.c>: user unknown"},
		"550-5.1.1 first\n550-5.1.1 second\n550 5.1.1 third": {Code: 550, Enhanced: "5.1.1", Text: "first\n5.1.1 second\n5.1.1 third"},
		"550":                     {Code: 550},
		"  421 Too many  ":        {Code: 421, Text: "Too many"},
		"554 5.7.1.2 not a code":  {Code: 554, Text: "5.7.1.2 not a code"},
		"451 4.7.1":               {Code: 451, Enhanced: "4.7.1"},
		"550 #5.1.1 user unknown": {Code: 550, Text: "#5.1.1 user unknown"},
	} {
		got, err := parseReply(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseReply(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "55", "hello", "5500 x", "150 x", "700 x"} {
		if _, err := parseReply(in); err == nil {
			t.Errorf("parseReply(%q) accepted", in)
		}
	}
}

// TestHardActionNamesEveryFix: every sender-side category's explanation
// says what to fix, in policy's words.
func TestHardActionNamesEveryFix(t *testing.T) {
	t.Parallel()
	x := &explainer{cl: &policy.Classifier{}}
	for _, c := range policy.Categories() {
		side := policy.CategorySide(c)
		got := x.hardAction(policy.Verdict{Class: policy.Hard, Category: c, Side: side})
		texts, _ := policy.TextsFor(c)
		if side == policy.SideSender && !strings.Contains(got, "fix "+texts.Fix+")") {
			t.Errorf("%s: %q does not name the fix %q", c, got, texts.Fix)
		}
	}
}
