package policy

import (
	"math"
	"strconv"
	"strings"
)

//go:generate env MTAQ_TRAIN_MODEL=1 go test -run TestTrainModel .

// The learned fallback is a multinomial logistic regression (softmax) over
// the words and word pairs of a reply's prose, the reply code and the
// enhanced code (whole and class.subject). It is trained from the
// development corpora only (TestTrainModel writes model_weights.go; the
// cross-validation test trains one per fold) and consulted only when no
// phrase family speaks. What it decides is marked: Verdict.Rule
// "model:logistic", an Evidence item of kind "model" with the words that
// weighed most, and a suppression it causes is an unclassified_bounce
// under the same guard as an unexplained reply (HardReason).

const (
	modelName      = "logistic"
	modelThreshold = 0.15 // below this probability the model stays silent (chosen by cross-validation: 91.1% against 90.9% at 0.3, round 13)
	modelScale     = 50   // weight = modelScale × probability, at least one above the reply code's prior (21..50)
)

// fallback is a learned model: the most probable category for a reply's
// features, its probability and the features that spoke most for it.
type fallback interface {
	predict(feats []string) (Category, float64, []string)
}

// learned is the embedded model (model_weights.go).
var learned fallback = &linModel{bias: lrBias, weights: lrWeights}

// lrWeight is one feature's weight for one category.
type lrWeight struct {
	cat uint8 // index into Categories()
	w   float32
}

// linModel scores category c as bias[c] plus the weights of the features
// present (each counted once), and turns the scores into probabilities
// with a softmax.
type linModel struct {
	bias    [18]float64
	weights map[string][]lrWeight
}

func (m *linModel) predict(feats []string) (Category, float64, []string) {
	if m == nil || len(m.weights) == 0 {
		return None, 0, nil
	}
	score := m.bias
	words := 0 // known prose features: the codes alone are the priors' to read
	seen := make(map[string]bool, len(feats))
	for _, f := range feats {
		ws, ok := m.weights[f]
		if !ok || seen[f] {
			continue
		}
		seen[f] = true
		if !strings.HasPrefix(f, "#") {
			words++
		}
		for _, w := range ws {
			score[w.cat] += float64(w.w)
		}
	}
	if words == 0 {
		return None, 0, nil
	}
	best, p := argmaxProb(score[:])
	return Categories()[best], p, m.topFeatures(feats, best)
}

// topFeatures lists up to three prose features that speak most for
// category c.
func (m *linModel) topFeatures(feats []string, c int) []string {
	type fw struct {
		f string
		w float32
	}
	var top []fw
	seen := map[string]bool{}
	for _, f := range feats {
		if seen[f] || strings.HasPrefix(f, "#") {
			continue
		}
		seen[f] = true
		for _, w := range m.weights[f] {
			if int(w.cat) == c && w.w > 0 {
				top = append(top, fw{f, w.w})
			}
		}
	}
	for i := 1; i < len(top); i++ { // few items: insertion sort
		for j := i; j > 0 && top[j].w > top[j-1].w; j-- {
			top[j], top[j-1] = top[j-1], top[j]
		}
	}
	var out []string
	for i := 0; i < len(top) && i < 3; i++ {
		out = append(out, strings.ReplaceAll(top[i].f, "_", " "))
	}
	return out
}

// features turns a reply into the model's features: words (stemmed) of two or more
// letters of the prose, adjacent pairs, the reply code and the enhanced
// code, whole and as class.subject.
func features(code int, enhanced, text string) []string {
	text = stripNoise(text)
	var words []string
	start := -1
	for i := 0; i <= len(text); i++ {
		letter := i < len(text) && text[i] >= 'a' && text[i] <= 'z'
		if letter && start < 0 {
			start = i
		} else if !letter && start >= 0 {
			if i-start >= 2 {
				words = append(words, stem(text[start:i]))
			}
			start = -1
		}
	}
	f := make([]string, 0, 2*len(words)+3)
	f = append(f, words...)
	for i := 1; i < len(words); i++ {
		f = append(f, words[i-1]+"_"+words[i])
	}
	f = append(f, "#code"+strconv.Itoa(code))
	if i := strings.IndexByte(enhanced, '.'); i > 0 {
		if j := strings.IndexByte(enhanced[i+1:], '.'); j > 0 {
			f = append(f, "#enh"+enhanced[:i+1+j], "#enh"+enhanced)
		}
	}
	return f
}

// modelEvidence asks learned fallback m about a reply; false when it is
// not sure enough to speak.
func modelEvidence(m fallback, code int, enhanced, text string) (Evidence, bool) {
	if m == nil {
		return Evidence{}, false
	}
	cat, p, words := m.predict(features(code, enhanced, text))
	if cat == None || p < modelThreshold {
		return Evidence{}, false
	}
	return Evidence{Kind: KindModel, Rule: modelName, Match: strings.Join(words, ", "), Category: cat,
		Weight: max(wReplyCode+1, int(math.Round(modelScale*p)))}, true
}

// argmaxProb is the highest score's index and its softmax probability.
func argmaxProb(score []float64) (best int, p float64) {
	for c := range score {
		if score[c] > score[best] {
			best = c
		}
	}
	var sum float64
	for c := range score {
		sum += math.Exp(score[c] - score[best])
	}
	return best, 1 / sum
}

// stem folds a word's common English endings, so that an unseen form
// ("rejecting", "limitations") meets the weights its siblings learned.
func stem(w string) string {
	for _, suf := range []string{"ations", "ation", "ions", "ion", "ings", "ing", "ed", "es", "s"} {
		if len(w) > len(suf)+3 && strings.HasSuffix(w, suf) {
			return w[:len(w)-len(suf)]
		}
	}
	return w
}
