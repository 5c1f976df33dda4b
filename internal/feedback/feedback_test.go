package feedback

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// label is one row of a labels.tsv: file, kind, recipient, status,
// source. An empty recipient or status is not checked; "<redacted>" as
// recipient asks for one recipient with Address "".
type label struct {
	file, kind, rcpt, status, source string
}

// labelSets are the labelled sample directories: samples written from
// format documentation, and the corpus of real MTAs' bounces (made in
// another branch; skipped while absent).
var labelSets = []string{"testdata/docs", "testdata/corpus"}

func readLabels(t testing.TB, dir string) []label {
	f, err := os.Open(filepath.Join(dir, "labels.tsv"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ls []label
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c := strings.Split(line, "\t")
		if n == 1 && c[0] == "file" {
			continue
		}
		for len(c) < 5 {
			c = append(c, "")
		}
		ls = append(ls, label{filepath.Join(dir, c[0]), c[1], c[2], c[3], c[4]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return ls
}

// check compares a parse with its label; "" when it matches. A label may
// list several recipients and their statuses, comma-separated, in order.
func check(l label, rep *Report) string {
	if string(rep.Kind) != l.kind {
		return fmt.Sprintf("kind %s, want %s", rep.Kind, l.kind)
	}
	if l.rcpt == "" && l.status == "" {
		return ""
	}
	rcpts, stats := strings.Split(l.rcpt, ","), strings.Split(l.status, ",")
	for i, want := range rcpts {
		st := ""
		if i < len(stats) {
			st = strings.TrimSpace(stats[i])
		}
		if msg := checkOne(strings.TrimSpace(want), st, rep); msg != "" {
			return msg
		}
	}
	return ""
}

func checkOne(want, status string, rep *Report) string {
	any := want == ""
	if want == "<redacted>" {
		want = ""
	}
	var got []string
	for _, r := range rep.Recipients {
		got = append(got, r.Address+" "+r.Status)
		if !any && !strings.EqualFold(r.Address, want) {
			continue
		}
		if status != "" && r.Status != status {
			return fmt.Sprintf("%s: status %q, want %q", r.Address, r.Status, status)
		}
		return ""
	}
	return fmt.Sprintf("recipient %q not among %q", want, got)
}

// labelDirs are labelSets plus the directories in $FEEDBACK_LABELS
// (space-separated), to measure the parser on a corpus kept elsewhere.
func labelDirs() []string {
	return append(append([]string{}, labelSets...), strings.Fields(os.Getenv("FEEDBACK_LABELS"))...)
}

func TestParseLabelled(t *testing.T) {
	n := 0
	for _, dir := range labelDirs() {
		for _, l := range readLabels(t, dir) {
			n++
			t.Run(l.file, func(t *testing.T) {
				raw, err := os.ReadFile(l.file)
				if err != nil {
					t.Fatal(err)
				}
				rep, err := Parse(raw, Options{})
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if msg := check(l, rep); msg != "" {
					t.Errorf("%s (%s)", msg, l.source)
				}
			})
		}
	}
	if n == 0 {
		t.Fatal("no labelled samples")
	}
}

// TestParseAccuracy logs correct/total per set, kind and source: the
// table for the closing note (go test -run Accuracy -v).
func TestParseAccuracy(t *testing.T) {
	type tally struct{ ok, all int }
	rows := map[string]*tally{}
	add := func(key string, ok bool) {
		if rows[key] == nil {
			rows[key] = &tally{}
		}
		rows[key].all++
		if ok {
			rows[key].ok++
		}
	}
	for _, dir := range labelDirs() {
		set := filepath.Base(dir)
		for _, l := range readLabels(t, dir) {
			raw, err := os.ReadFile(l.file)
			ok := false
			if err == nil {
				rep, perr := Parse(raw, Options{})
				ok = perr == nil && check(l, rep) == ""
			}
			add(set+"\tkind="+l.kind+"\t*", ok)
			add(set+"\t*\tsource="+sourceGroup(l.source), ok)
			add(set+"\t*\t*", ok)
		}
	}
	keys := make([]string, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "\nset\tkind\tsource\tcorrect/total\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s\t%d/%d\n", k, rows[k].ok, rows[k].all)
	}
	t.Log(b.String())
}

// sourceGroup shortens a source to the producer it names: the words
// before the first '(' or ',' ("RFC 3464 Appendix A" stays whole).
func sourceGroup(s string) string {
	if i := strings.IndexAny(s, "(,;:"); i > 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}
