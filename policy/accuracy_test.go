package policy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Labelled reply files measured by TestReplyAccuracy: the shared
// development corpus, and the provider-documentation corpus of
// testdata/replies (dev.jsonl to build rules against; heldback.jsonl, a
// fixed fifth no rule is written against, the estimate on unseen replies).
// MTAQ_REPLIES (comma-separated paths) measures other files instead.
var replyFiles = []string{
	"../../shared/bounce-corpus/dev.jsonl",
	"testdata/replies/dev.jsonl",
	"testdata/replies/heldback.jsonl",
}

// replyFloors: what each file must reach so that a change cannot make
// things worse (the provider corpus's floors sit just under what the
// classifier reached when they were set; raise them as it improves).
// issueTarget is what issue 15 asks of replies never seen; it is reported,
// not enforced, until it is met.
var replyFloors = map[string]struct{ class, category, falseSuppress float64 }{
	"../../shared/bounce-corpus/dev.jsonl": {1, 0.98, 0.004},
	// Rounds 11 to 15 appended 389 rows from sources the rules had not
	// met; 94.5% after their rules.
	"testdata/replies/dev.jsonl": {0.99, 0.94, 0.005},
	// Rounds 5 to 8 added 110 fresh rows (80.0% on them); the 285 rows
	// before them, no rule written against them, are at 81.8% (81.4%
	// before, 83.5% after round 6); 81.3% on all 395, 6 false suppressions (two are unexplained replies taken at
	// their word, as issue 15 item 1 asks, lifting after unclassified_ttl).
	// Round 11 appended ZZV-ZZY (19 held rows) and ZZZA-ZZZD (18), round
	// 12 ZZZE-ZZZH (24), round 13 ZZZI-ZZZL (21, 71.4% right), each time
	// retraining the fallback: 80.9%, 8 false suppressions of 512; with
	// the fallback's threshold re-chosen by cross-validation, 81.1% and 6;
	// round 14 (ZZZM-ZZZO, 15 held rows): 81.6%, 7 of 527; round 15
	// (ZZZQ-ZZZS, 12): 81.6%, 6 of 539; round 16 (ZZZU, 4): 82.1%, 6 of
	// 543.
	"testdata/replies/heldback.jsonl": {0.99, 0.81, 0.012},
}

var issueTarget = struct{ class, category, falseSuppress float64 }{0.99, 0.93, 0.005}

func readRows(t *testing.T, path string) ([]corpusRow, bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	var rows []corpusRow
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var r corpusRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows, true
}

// justifiesSuppression: the labelling policy's own answer. Only the
// address-level categories on a hard reply, and an unclassified 5xx with
// no enhanced code, X.0.0 or X.1.x, justify suppressing the address.
func justifiesSuppression(r corpusRow) bool {
	if r.Class != string(Hard) {
		return false
	}
	switch Category(r.Category) {
	case UserUnknown, MailboxDisabled, DomainNotFound:
		return true
	case Unclassified:
		return r.Code >= 500 && (r.Enhanced == "" || r.Enhanced == "5.0.0" || strings.HasPrefix(r.Enhanced, "5.1."))
	}
	return false
}

// score is one file's result.
type score struct {
	rows, class, category int
	falseSup, missedSup   []string
	confusion             map[[2]Category]int // {label, got}
	misses                []string
}

func measure(rows []corpusRow) score {
	return measureWith(rows, learned)
}

// measureWith measures rows with learned fallback m.
func measureWith(rows []corpusRow, m fallback) score {
	s := score{rows: len(rows), confusion: map[[2]Category]int{}}
	for _, r := range rows {
		v := classify(Reply{Code: r.Code, Enhanced: r.Enhanced, Text: r.Text}, m)
		line := fmt.Sprintf("%d %s %q: got %s/%s want %s/%s (%s)", r.Code, r.Enhanced, r.Text,
			v.Class, v.Category, r.Class, r.Category, v.Rule)
		if string(v.Class) == r.Class {
			s.class++
		}
		if string(v.Category) == r.Category {
			s.category++
		} else {
			s.misses = append(s.misses, line)
		}
		s.confusion[[2]Category{Category(r.Category), v.Category}]++
		switch j := justifiesSuppression(r); {
		case v.Suppress && !j:
			s.falseSup = append(s.falseSup, line)
		case !v.Suppress && j:
			s.missedSup = append(s.missedSup, line)
		}
	}
	return s
}

func pct(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return 100 * float64(n) / float64(d)
}

// TestReplyAccuracy measures every labelled file present: class and
// category accuracy, false and missed suppressions, against the targets.
// Files that are absent are skipped (the shared corpus lives beside the
// checkout).
func TestReplyAccuracy(t *testing.T) {
	t.Parallel()
	files := replyFiles
	if env := os.Getenv("MTAQ_REPLIES"); env != "" {
		files = strings.Split(env, ",")
	}
	for _, path := range files {
		rows, ok := readRows(t, path)
		if !ok {
			t.Logf("%s: absent, skipped", path)
			continue
		}
		s := measure(rows)
		t.Logf("%s: %d rows, class %.1f%% (%d), category %.1f%% (%d), false suppressions %d (%.1f%%), missed suppressions %d",
			path, s.rows, pct(s.class, s.rows), s.class, pct(s.category, s.rows), s.category,
			len(s.falseSup), pct(len(s.falseSup), s.rows), len(s.missedSup))
		// Held-back rows are printed only when asked: reading them while
		// writing rules would make the fifth an estimate no more.
		heldBack := strings.Contains(path, "heldback")
		show := testing.Verbose() && os.Getenv("MTAQ_CLASSIFIER_MISSES") != "" && !heldBack
		for _, l := range s.falseSup {
			if !heldBack {
				t.Logf("  false suppression: %s", l)
			}
		}
		if show {
			for _, l := range s.misses {
				t.Logf("  category: %s", l)
			}
			for _, l := range s.missedSup {
				t.Logf("  missed suppression: %s", l)
			}
		}
		if c, f := float64(s.category)/float64(s.rows), float64(len(s.falseSup))/float64(s.rows); c < issueTarget.category || f > issueTarget.falseSuppress {
			t.Logf("%s: below issue 15's target for unseen replies (category ≥ %.2f, false suppressions ≤ %.3f)",
				path, issueTarget.category, issueTarget.falseSuppress)
		}
		want, ok := replyFloors[path]
		if !ok {
			continue
		}
		if c := float64(s.class) / float64(s.rows); c < want.class {
			t.Errorf("%s: class accuracy %.3f, want ≥ %.3f", path, c, want.class)
		}
		if c := float64(s.category) / float64(s.rows); c < want.category {
			t.Errorf("%s: category accuracy %.3f, want ≥ %.3f", path, c, want.category)
		}
		if f := float64(len(s.falseSup)) / float64(s.rows); f > want.falseSuppress {
			t.Errorf("%s: false suppressions %.3f, want ≤ %.3f", path, f, want.falseSuppress)
		}
	}
}

// TestClassifierReport prints, for docs/CLASSIFIER.md, a confusion matrix
// and per-category precision and recall for every labelled file present.
// Run: MTAQ_CLASSIFIER_REPORT=1 go test -run ClassifierReport ./policy -v
func TestClassifierReport(t *testing.T) {
	if os.Getenv("MTAQ_CLASSIFIER_REPORT") == "" {
		t.Skip("set MTAQ_CLASSIFIER_REPORT=1 to print the report")
	}
	files := replyFiles
	if env := os.Getenv("MTAQ_REPLIES"); env != "" {
		files = strings.Split(env, ",")
	}
	var b strings.Builder
	for _, path := range files {
		rows, ok := readRows(t, path)
		if !ok {
			continue
		}
		report(&b, filepath.ToSlash(path), measure(rows))
	}
	t.Log("\n" + b.String())
}

// abbrev names categories in the matrix's columns.
var abbrev = map[Category]string{UserUnknown: "uu", MailboxFull: "mf", MailboxDisabled: "md",
	DomainNotFound: "dn", InvalidSender: "is", BlockedReputation: "br", SpamContent: "sc",
	PolicyRejected: "pr", AuthFailure: "af", ReverseDNS: "rd", RateLimited: "rl", Greylisting: "gl",
	MessageTooLarge: "ml", RelayDenied: "re", SyntaxError: "se", NetworkError: "ne", SystemError: "sy",
	Unclassified: "un"}

func report(b *strings.Builder, path string, s score) {
	fmt.Fprintf(b, "### %s\n\n%d rows; class %.1f%%, category %.1f%%; false suppressions %d (%.1f%%); missed suppressions %d\n\n",
		path, s.rows, pct(s.class, s.rows), pct(s.category, s.rows), len(s.falseSup), pct(len(s.falseSup), s.rows), len(s.missedSup))
	cats := Categories()
	b.WriteString("| label ＼ got |")
	for _, c := range cats {
		b.WriteString(" " + abbrev[c] + " |")
	}
	b.WriteString(" rows | precision | recall |\n|---|")
	for range cats {
		b.WriteString("--:|")
	}
	b.WriteString("--:|--:|--:|\n")
	for _, l := range cats {
		var row, tp, got int
		for _, g := range cats {
			row += s.confusion[[2]Category{l, g}]
			got += s.confusion[[2]Category{g, l}]
		}
		tp = s.confusion[[2]Category{l, l}]
		fmt.Fprintf(b, "| %s (%s) |", l, abbrev[l])
		for _, g := range cats {
			if n := s.confusion[[2]Category{l, g}]; n > 0 {
				fmt.Fprintf(b, " %d |", n)
			} else {
				b.WriteString(" · |")
			}
		}
		prec, rec := "–", "–"
		if got > 0 {
			prec = fmt.Sprintf("%.0f%%", pct(tp, got))
		}
		if row > 0 {
			rec = fmt.Sprintf("%.0f%%", pct(tp, row))
		}
		fmt.Fprintf(b, " %d | %s | %s |\n", row, prec, rec)
	}
	b.WriteString("\nFalse suppressions:\n\n")
	if len(s.falseSup) == 0 {
		b.WriteString("- none\n")
	}
	for _, l := range s.falseSup {
		b.WriteString("- " + l + "\n")
	}
	b.WriteString("\nMissed suppressions:\n\n")
	if len(s.missedSup) == 0 {
		b.WriteString("- none\n")
	}
	for _, l := range s.missedSup {
		b.WriteString("- " + l + "\n")
	}
	b.WriteString("\n")
}
