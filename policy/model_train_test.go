package policy

import (
	"bytes"
	"fmt"
	"go/format"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
)

// trainFiles are the development corpora the model learns from. The
// held-back fifth is never read: it is the estimate on unseen replies.
var trainFiles = []string{"../../shared/bounce-corpus/dev.jsonl", "testdata/replies/dev.jsonl"}

// Training settings of the logistic fallback, chosen by cross-validation
// on the development corpora (TestCrossValidation), never on held-back
// rows.
const (
	lrEpochs = 20
	lrRate   = 0.3  // AdaGrad's base step
	lrL2     = 3e-3 // weight decay per update, against memorising rare words
	lrKeep   = 0.02 // weights smaller than this are not embedded
	minRows  = 2    // a feature seen in fewer rows is dropped: it would only memorise
)

// catIndex maps a category to its index in Categories().
func catIndex() map[Category]int {
	index := map[Category]int{}
	for i, c := range Categories() {
		index[c] = i
	}
	return index
}

// rowFeatures is features() as Classify computes them for a labelled row.
func rowFeatures(r corpusRow) []string {
	return features(r.Code, r.Enhanced, strings.ToLower(normalize(r.Text)))
}

// trainLR fits the softmax regression on rows: the vocabulary is every
// feature seen in minRows rows or more, each row's features count once,
// AdaGrad in a fixed order (deterministic, so go generate reproduces the
// same weights).
func trainLR(t testing.TB, rows []corpusRow) *linModel {
	index := catIndex()
	rowsWith := map[string]int{}
	type example struct {
		feats []int
		cat   int
	}
	for _, r := range rows {
		seen := map[string]bool{}
		for _, f := range rowFeatures(r) {
			if !seen[f] {
				seen[f] = true
				rowsWith[f]++
			}
		}
	}
	var vocab []string
	for f, n := range rowsWith {
		if n >= minRows {
			vocab = append(vocab, f)
		}
	}
	slices.Sort(vocab)
	fi := map[string]int{}
	for i, f := range vocab {
		fi[f] = i
	}
	var ex []example
	for _, r := range rows {
		c, ok := index[Category(r.Category)]
		if !ok {
			t.Fatalf("unknown category %q", r.Category)
		}
		e := example{cat: c}
		seen := map[int]bool{}
		for _, f := range rowFeatures(r) {
			if j, ok := fi[f]; ok && !seen[j] {
				seen[j] = true
				e.feats = append(e.feats, j)
			}
		}
		ex = append(ex, e)
	}
	const k = 18
	w := make([][k]float64, len(vocab))
	g2 := make([][k]float64, len(vocab))
	var b, b2 [k]float64
	order := make([]int, len(ex))
	for i := range order {
		order[i] = i
	}
	seed := uint64(0x9e3779b97f4a7c15)
	for epoch := 0; epoch < lrEpochs; epoch++ {
		for i := len(order) - 1; i > 0; i-- { // Fisher-Yates with a fixed LCG
			seed = seed*6364136223846793005 + 1442695040888963407
			j := int((seed >> 33) % uint64(i+1))
			order[i], order[j] = order[j], order[i]
		}
		for _, n := range order {
			e := ex[n]
			s := b
			for _, j := range e.feats {
				for c := range s {
					s[c] += w[j][c]
				}
			}
			mx := s[0]
			for _, v := range s {
				mx = math.Max(mx, v)
			}
			var sum float64
			for c := range s {
				s[c] = math.Exp(s[c] - mx)
				sum += s[c]
			}
			for c := range s {
				g := s[c] / sum
				if c == e.cat {
					g--
				}
				b2[c] += g * g
				b[c] -= lrRate * g / (math.Sqrt(b2[c]) + 1e-8)
				for _, j := range e.feats {
					gj := g + lrL2*w[j][c]
					g2[j][c] += gj * gj
					w[j][c] -= lrRate * gj / (math.Sqrt(g2[j][c]) + 1e-8)
				}
			}
		}
	}
	m := &linModel{bias: b, weights: map[string][]lrWeight{}}
	for j, f := range vocab {
		for c := range k {
			if math.Abs(w[j][c]) >= lrKeep {
				m.weights[f] = append(m.weights[f], lrWeight{uint8(c), float32(w[j][c])})
			}
		}
	}
	return m
}

// nbModel is the multinomial naive Bayes the logistic model replaced,
// kept here as the baseline the cross-validation reports beside it.
type nbModel struct {
	prior, denom [18]float64
	counts       map[string]map[int]int
}

func trainNB(rows []corpusRow) *nbModel {
	const alpha = 0.5
	index := catIndex()
	var docs, tokens [18]int
	counts := map[string]map[int]int{}
	rowsWith := map[string]int{}
	for _, r := range rows {
		c := index[Category(r.Category)]
		docs[c]++
		seen := map[string]bool{}
		for _, f := range rowFeatures(r) {
			if counts[f] == nil {
				counts[f] = map[int]int{}
			}
			counts[f][c]++
			if !seen[f] {
				seen[f] = true
				rowsWith[f]++
			}
		}
	}
	for f := range counts {
		if rowsWith[f] < minRows {
			delete(counts, f)
		}
	}
	for _, cs := range counts {
		for c, n := range cs {
			tokens[c] += n
		}
	}
	m := &nbModel{counts: counts}
	for c := range docs {
		m.prior[c] = math.Log((float64(docs[c]) + alpha) / (float64(len(rows)) + alpha*18))
		m.denom[c] = math.Log(float64(tokens[c]) + alpha*float64(len(counts)))
	}
	return m
}

func (m *nbModel) predict(feats []string) (Category, float64, []string) {
	const alpha = 0.5
	score := m.prior
	known := 0
	for _, f := range feats {
		cs, ok := m.counts[f]
		if !ok {
			continue
		}
		known++
		for c := range score {
			n := float64(cs[c])
			score[c] += math.Log(n+alpha) - m.denom[c]
		}
	}
	if known == 0 {
		return None, 0, nil
	}
	best, p := argmaxProb(score[:])
	return Categories()[best], p, nil
}

// readTrainRows reads the training files, refusing the held-back fifth.
func readTrainRows(t *testing.T, files []string) ([]corpusRow, []string) {
	var rows []corpusRow
	var used []string
	for _, path := range files {
		if strings.Contains(path, "heldback") {
			t.Fatalf("%s: the held-back fifth is never trained on", path)
		}
		rs, ok := readRows(t, path)
		if !ok {
			t.Logf("%s: absent, skipped", path)
			continue
		}
		used = append(used, fmt.Sprintf("%s (%d rows)", path, len(rs)))
		rows = append(rows, rs...)
	}
	return rows, used
}

// TestTrainModel writes model_weights.go from the development corpora
// (go generate ./policy, or MTAQ_TRAIN_MODEL=1 go test -run TestTrainModel
// ./policy; MTAQ_TRAIN=a.jsonl,b.jsonl names other files).
func TestTrainModel(t *testing.T) {
	if os.Getenv("MTAQ_TRAIN_MODEL") == "" {
		t.Skip("set MTAQ_TRAIN_MODEL=1 to retrain the learned fallback")
	}
	files := trainFiles
	if env := os.Getenv("MTAQ_TRAIN"); env != "" {
		files = strings.Split(env, ",")
	}
	rows, used := readTrainRows(t, files)
	m := trainLR(t, rows)
	var feats []string
	for f := range m.weights {
		feats = append(feats, f)
	}
	slices.Sort(feats)
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by TestTrainModel (go generate ./policy); DO NOT EDIT.\n")
	fmt.Fprintf(&b, "// Trained on: %s.\n\npackage policy\n\n", strings.Join(used, ", "))
	b.WriteString("// lrBias: each category's bias, in Categories() order.\nvar lrBias = [18]float64{")
	for c, v := range m.bias {
		if c > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%.4g", v)
	}
	b.WriteString("}\n\n// lrWeights: per feature, its weight for each category it speaks for or against.\nvar lrWeights = map[string][]lrWeight{\n")
	for _, f := range feats {
		fmt.Fprintf(&b, "\t%q: {", f)
		for i, w := range m.weights[f] {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "{%d, %.3g}", w.cat, w.w)
		}
		b.WriteString("},\n")
	}
	b.WriteString("}\n")
	src, err := format.Source(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("model_weights.go", src, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("model_weights.go: %d features from %s", len(feats), strings.Join(used, ", "))
}
