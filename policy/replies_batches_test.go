package policy

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestReplyBatches does a round's bookkeeping on candidate batches
// (testdata/replies/batches/NAME.jsonl) with TestRepliesSplit's row checks,
// split rule and duplicate key:
//
//	MTAQ_BATCH=NAME,... MTAQ_BATCH_DO=check|measure|append go test -run ReplyBatches -v ./policy
//
// check: every row well formed and no duplicate of a corpus row, another
// batch's or its own (batch line numbers only, never a held-back row);
// measure: both parts by the split hash through the classifier, the
// development part's misses with MTAQ_CLASSIFIER_MISSES=1; append: the rows
// to dev.jsonl or heldback.jsonl by the hash, duplicates dropped.
func TestReplyBatches(t *testing.T) {
	names, do := os.Getenv("MTAQ_BATCH"), os.Getenv("MTAQ_BATCH_DO")
	if names == "" {
		t.Skip("set MTAQ_BATCH=NAME,... and MTAQ_BATCH_DO=check|measure|append")
	}
	dir := filepath.Join("testdata", "replies")
	batches := strings.Split(names, ",")
	switch do {
	case "check":
		seen := corpusKeys(t, dir, true, batches)
		for _, b := range batches {
			checkBatch(t, b, readBatch(t, dir, b), seen)
		}
	case "measure":
		var parts [2][]corpusRow // development, held back
		for _, b := range batches {
			for _, l := range readBatch(t, dir, b) {
				if r, _ := parseReplyRow(l); r != nil {
					row := corpusRow{Code: *r.Code, Enhanced: *r.Enhanced, Text: *r.Text, Class: *r.Class, Category: *r.Category}
					i := 0
					if replyHeldBack(row.Code, row.Enhanced, row.Text) {
						i = 1
					}
					parts[i] = append(parts[i], row)
				}
			}
		}
		for i, name := range []string{"development part", "held-back part"} {
			s := measure(parts[i])
			t.Logf("%s of %s: %d rows, class %.1f%%, category %.1f%%, false suppressions %d, missed suppressions %d",
				name, names, s.rows, pct(s.class, s.rows), pct(s.category, s.rows), len(s.falseSup), len(s.missedSup))
			// The held-back part's rows are never printed: no rule may be
			// written against them.
			if i == 0 && os.Getenv("MTAQ_CLASSIFIER_MISSES") != "" {
				for _, l := range append(s.falseSup, s.misses...) {
					t.Logf("  %s", l)
				}
			}
		}
	case "append":
		seen := corpusKeys(t, dir, false, nil)
		for _, b := range batches {
			var dev, held []byte
			dup := 0
			for _, l := range readBatch(t, dir, b) {
				r, problems := parseReplyRow(l)
				if r == nil || len(problems) > 0 {
					t.Fatalf("%s: %q: %v (run check first)", b, l, problems)
				}
				if seen[r.key()] {
					dup++
					continue
				}
				seen[r.key()] = true
				if replyHeldBack(*r.Code, *r.Enhanced, *r.Text) {
					held = append(append(held, l...), '\n')
				} else {
					dev = append(append(dev, l...), '\n')
				}
			}
			appendFile(t, filepath.Join(dir, "dev.jsonl"), dev)
			appendFile(t, filepath.Join(dir, "heldback.jsonl"), held)
			t.Logf("%s: %d development, %d held back, %d duplicates dropped",
				b, bytes.Count(dev, []byte("\n")), bytes.Count(held, []byte("\n")), dup)
		}
	default:
		t.Fatalf("MTAQ_BATCH_DO=%q: want check, measure or append", do)
	}
}

// checkBatch reports batch b's problems by its line numbers only.
func checkBatch(t *testing.T, b string, lines [][]byte, seen map[string]bool) {
	own := map[string]int{}
	bad := 0
	for i, l := range lines {
		r, problems := parseReplyRow(l)
		if r != nil {
			if seen[r.key()] {
				problems = append(problems, "duplicates a row of another corpus file or batch")
			}
			if prev, ok := own[r.key()]; ok {
				problems = append(problems, fmt.Sprintf("duplicates line %d", prev))
			} else {
				own[r.key()] = i + 1
			}
		}
		for _, p := range problems {
			t.Errorf("%s:%d: %s", b, i+1, p)
		}
		bad += len(problems)
	}
	t.Logf("%s: %d rows, %d problems", b, len(lines), bad)
}

// corpusKeys returns the duplicate keys of the shared corpus and both files
// of dir and, with batches, of every batch but those named in except.
func corpusKeys(t *testing.T, dir string, batches bool, except []string) map[string]bool {
	seen := map[string]bool{}
	paths := []string{"../../shared/bounce-corpus/dev.jsonl", filepath.Join(dir, "dev.jsonl"), filepath.Join(dir, "heldback.jsonl")}
	if batches {
		all, _ := filepath.Glob(filepath.Join(dir, "batches", "*.jsonl"))
		for _, p := range all {
			if name := strings.TrimSuffix(filepath.Base(p), ".jsonl"); !slices.Contains(except, name) {
				paths = append(paths, p)
			}
		}
	}
	for _, p := range paths {
		rows, _ := readRows(t, p) // the shared corpus may be absent
		for _, r := range rows {
			seen[fmt.Sprintf("%d|%s|%s", r.Code, r.Enhanced, replyNorm(r.Text))] = true
		}
	}
	return seen
}

// readBatch returns batch b's non-blank lines.
func readBatch(t *testing.T, dir, b string) [][]byte {
	data, err := os.ReadFile(filepath.Join(dir, "batches", b+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 {
			lines = append(lines, append([]byte(nil), l...))
		}
	}
	return lines
}

func appendFile(t *testing.T, path string, data []byte) {
	if len(data) == 0 {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
