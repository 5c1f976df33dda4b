package policy

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strings"
	"testing"
)

// cvFolds is the number of cross-validation folds.
const cvFolds = 5

// cvFold puts a row in a fold by the second byte of the same hash the
// held-back split reads the first byte of, so folds are fixed and do not
// depend on file order.
func cvFold(r corpusRow) int {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%d|%s|%s", r.Code, r.Enhanced, r.Text)))
	return int(sum[1]) % cvFolds
}

// cvFloors: what cross-validation on each development file must reach
// (just under the figures when they were set; raise them as the
// classifier improves). Cross-validation is the working estimate of how
// the classifier does on replies it has never seen: the learned fallback
// never sees the fold it is measured on. The phrase rules stay fixed and
// were written knowing every development row, so for them the estimate is
// optimistic; the held-back fifth is the check on that.
var cvFloors = map[string]struct{ class, category, falseSuppress float64 }{
	"../../shared/bounce-corpus/dev.jsonl": {1, 0.975, 0.004},
	// Rounds 11 and 12's development rows from SMTP server sources lean on
	// the fallback (about 200 rows decided by it): 91.1%, 90.9% after
	// round 14, 90.6% after round 15.
	"testdata/replies/dev.jsonl": {0.99, 0.9, 0.005},
}

// cvResult is one file's cross-validated score, with the rows the learned
// fallback decided.
type cvResult struct {
	score
	modelRows, modelRight int
}

// crossValidate trains a fallback per fold with train on the other folds
// of all files' rows and measures the fold, per file.
func crossValidate(t *testing.T, files []string, train func([]corpusRow) fallback) map[string]*cvResult {
	perFile := map[string][]corpusRow{}
	var all []corpusRow
	for _, path := range files {
		rows, used := readTrainRows(t, []string{path})
		if len(used) == 0 {
			continue
		}
		perFile[path] = rows
		all = append(all, rows...)
	}
	out := map[string]*cvResult{}
	for k := range cvFolds {
		var tr []corpusRow
		for _, r := range all {
			if cvFold(r) != k {
				tr = append(tr, r)
			}
		}
		m := train(tr)
		for path, rows := range perFile {
			var te []corpusRow
			for _, r := range rows {
				if cvFold(r) == k {
					te = append(te, r)
				}
			}
			s := measureWith(te, m)
			res := out[path]
			if res == nil {
				res = &cvResult{score: score{confusion: map[[2]Category]int{}}}
				out[path] = res
			}
			res.add(s)
			for _, r := range te {
				v := classify(Reply{Code: r.Code, Enhanced: r.Enhanced, Text: r.Text}, m)
				if len(v.Evidence) > 0 && v.Evidence[0].Kind == KindModel {
					res.modelRows++
					if string(v.Category) == r.Category {
						res.modelRight++
					}
				}
			}
		}
	}
	return out
}

func (s *score) add(o score) {
	s.rows += o.rows
	s.class += o.class
	s.category += o.category
	s.falseSup = append(s.falseSup, o.falseSup...)
	s.missedSup = append(s.missedSup, o.missedSup...)
	s.misses = append(s.misses, o.misses...)
	for k, n := range o.confusion {
		s.confusion[k] += n
	}
}

// TestCrossValidation runs 5-fold cross-validation on the development
// corpora (never the held-back fifth): per fold the learned fallback is
// retrained on the other four folds and the rules stay fixed. It reports
// class, category, false and missed suppressions per file, and how often
// the fallback decided and was right, beside the naive Bayes baseline it
// replaced; and it enforces cvFloors.
// MTAQ_CLASSIFIER_REPORT=1 prints the confusion matrices for
// docs/CLASSIFIER.md; MTAQ_CLASSIFIER_MISSES=1 (with -v) lists the misses.
func TestCrossValidation(t *testing.T) {
	t.Parallel()
	lr := crossValidate(t, trainFiles, func(rows []corpusRow) fallback { return trainLR(t, rows) })
	nb := crossValidate(t, trainFiles, func(rows []corpusRow) fallback { return trainNB(rows) })
	var b strings.Builder
	for _, path := range trainFiles {
		s, ok := lr[path]
		if !ok {
			continue
		}
		t.Logf("CV %s: %d rows, class %.1f%%, category %.1f%%, false suppressions %d (%.1f%%), missed suppressions %d; fallback decided %d rows, %d right (naive Bayes baseline: category %.1f%%, fallback %d/%d right, false suppressions %d)",
			path, s.rows, pct(s.class, s.rows), pct(s.category, s.rows), len(s.falseSup), pct(len(s.falseSup), s.rows),
			len(s.missedSup), s.modelRows, s.modelRight,
			pct(nb[path].category, nb[path].rows), nb[path].modelRight, nb[path].modelRows, len(nb[path].falseSup))
		for _, l := range s.falseSup {
			t.Logf("  false suppression: %s", l)
		}
		if testing.Verbose() && os.Getenv("MTAQ_CLASSIFIER_MISSES") != "" {
			for _, l := range s.misses {
				t.Logf("  category: %s", l)
			}
			for _, l := range s.missedSup {
				t.Logf("  missed suppression: %s", l)
			}
		}
		report(&b, "cross-validated "+path, s.score)
		want := cvFloors[path]
		if c := float64(s.class) / float64(s.rows); c < want.class {
			t.Errorf("CV %s: class accuracy %.3f, want ≥ %.3f", path, c, want.class)
		}
		if c := float64(s.category) / float64(s.rows); c < want.category {
			t.Errorf("CV %s: category accuracy %.3f, want ≥ %.3f", path, c, want.category)
		}
		if f := float64(len(s.falseSup)) / float64(s.rows); f > want.falseSuppress {
			t.Errorf("CV %s: false suppressions %.3f, want ≤ %.3f", path, f, want.falseSuppress)
		}
	}
	if os.Getenv("MTAQ_CLASSIFIER_REPORT") != "" {
		t.Log("\n" + b.String())
	}
}
