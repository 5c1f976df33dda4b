package policy

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"
)

type corpusRow struct {
	Code     int    `json:"code"`
	Enhanced string `json:"enhanced"`
	Text     string `json:"text"`
	Class    string `json:"class"`
	Category string `json:"category"`
}

// TestBounceCorpus runs every row of the shared development corpus: class
// must be right for every row, category for at least 97%.
func TestBounceCorpus(t *testing.T) {
	t.Parallel()
	f, err := os.Open("../../shared/bounce-corpus/dev.jsonl")
	if err != nil {
		t.Skipf("corpus not found beside the checkout: %v", err)
	}
	defer f.Close()
	var rows, classOK, catOK int
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r corpusRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("row %d: %v", rows+1, err)
		}
		rows++
		v := Classify(Reply{Code: r.Code, Enhanced: r.Enhanced, Text: r.Text})
		if string(v.Class) == r.Class {
			classOK++
		} else {
			t.Errorf("class: %d %s %q: got %s want %s (rule %s)", r.Code, r.Enhanced, r.Text, v.Class, r.Class, v.Rule)
		}
		if string(v.Category) == r.Category {
			catOK++
		} else {
			t.Logf("category: %d %s %q: got %s want %s (rule %s)", r.Code, r.Enhanced, r.Text, v.Category, r.Category, v.Rule)
		}
	}
	classAcc := float64(classOK) / float64(rows)
	catAcc := float64(catOK) / float64(rows)
	t.Logf("dev corpus: %d rows, class accuracy %.1f%% (%d), category accuracy %.1f%% (%d)", rows, 100*classAcc, classOK, 100*catAcc, catOK)
	if classAcc < 1 || catAcc < 0.97 {
		t.Errorf("accuracy below target: class %.3f (want 1.000), category %.3f (want ≥ 0.970)", classAcc, catAcc)
	}
}
