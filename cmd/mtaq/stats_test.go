package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/queue"
)

// TestPrintStatsShowsEveryState: each state has its line with its own
// count, and each open state its column in the destination table.
func TestPrintStatsShowsEveryState(t *testing.T) {
	t.Parallel()
	st := &admin.Stats{States: map[string]int{}, Window: "24h0m0s"}
	dest := admin.DestinationStats{Domain: "d.test", States: map[string]int{}}
	for i, s := range queue.States() {
		st.States[string(s)] = 100 + i
		dest.States[string(s)] = 10 + i
	}
	st.Destinations = []admin.DestinationStats{dest}
	var b strings.Builder
	if err := printStats(&b, st); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	var cols, cells []string
	for i, s := range queue.States() {
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^  %s +%d$`, s, 100+i)).MatchString(out) {
			t.Errorf("no line for %s with count %d", s, 100+i)
		}
		if !s.Final() {
			cols = append(cols, strings.ToUpper(string(s)))
			cells = append(cells, fmt.Sprint(10+i))
		}
	}
	header := `(?m)^  DOMAIN +` + strings.Join(cols, " +") + ` +LAST CODE$`
	row := `(?m)^  d\.test +` + strings.Join(cells, " +") + ` +`
	if !regexp.MustCompile(header).MatchString(out) || !regexp.MustCompile(row).MatchString(out) {
		t.Errorf("destination table lacks the open states %v:\n%s", cols, out)
	}
}

// TestQueueLsHelpNamesEveryState: --state's help lists the states it takes.
func TestQueueLsHelpNamesEveryState(t *testing.T) {
	t.Parallel()
	out, _, code := runCLI(nil, "queue", "ls", "--help")
	for _, s := range queue.States() {
		if code != 0 || !strings.Contains(out, string(s)) {
			t.Errorf("queue ls --help (exit %d) does not name %s:\n%s", code, s, out)
		}
	}
}

// TestPrintStatsSources: each pool address's line shows its warm-up day,
// today's cap, what it sent and its busiest destination against the cap;
// a throttled destination names the source it is about.
func TestPrintStatsSources(t *testing.T) {
	t.Parallel()
	st := &admin.Stats{}
	err := json.Unmarshal([]byte(`{"states": {}, "window": "24h0m0s",
		"limits": [{"domain": "gmail.com", "source_ip": "192.0.2.20", "state": "throttled", "limit": 3, "max_limit": 20}],
		"sources": [
			{"pool": "default", "source_ip": "192.0.2.10", "ehlo": "mta.example.com", "warmup_day": -1, "cap": 0, "sent": 5120,
			 "domains": [{"domain": "gmail.com", "sent": 1910}]},
			{"pool": "bulk", "source_ip": "192.0.2.20", "ehlo": "bulk.example.com", "warmup_day": 1, "cap": 75, "sent": 140,
			 "domains": [{"domain": "gmail.com", "sent": 75}, {"domain": "yahoo.com", "sent": 65}]}]}`), st)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := printStats(&b, st); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, re := range []string{
		`(?m)^  POOL +SOURCE IP +EHLO +WARM-UP DAY +CAP +SENT +BUSIEST DOMAIN$`,
		`(?m)^  default +192\.0\.2\.10 +mta\.example\.com +- +none +5120 +gmail\.com 1910$`,
		`(?m)^  bulk +192\.0\.2\.20 +bulk\.example\.com +1 +75 +140 +gmail\.com 75/75$`,
		`(?m)^  gmail\.com from 192\.0\.2\.20 +throttled +3/20 `,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("no match for %s in:\n%s", re, out)
		}
	}
}
