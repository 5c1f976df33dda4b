package main

import (
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
