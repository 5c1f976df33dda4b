package policy

import (
	"math"
	"strconv"
	"strings"
)

//go:generate env MTAQ_TRAIN_MODEL=1 go test -run TestTrainModel .

// The learned fallback is a multinomial naive Bayes over the words and
// word pairs of a reply's prose, plus the reply code and the enhanced
// code's subject. It is trained from the development corpora only
// (TestTrainModel writes model_weights.go) and consulted only when no
// phrase family speaks. What it decides is marked: Verdict.Rule
// "model:naive-bayes", an Evidence item of kind "model" with the words
// that weighed most, and a suppression it causes is an unclassified_bounce
// under the same guard as an unexplained reply (HardReason).

const (
	modelName      = "naive-bayes"
	modelThreshold = 0.6 // below this probability the model stays silent
	modelScale     = 50  // weight = modelScale × probability (30..50)
	nbAlpha        = 0.5 // additive smoothing
)

// nbCount is how often a feature occurred in one category's training rows.
type nbCount struct {
	cat   uint8 // index into Categories()
	count uint16
}

// nbLog holds the model in log space, built once from model_weights.go.
var nbLog = buildNB()

type nbModel struct {
	prior [18]float64 // log P(category)
	denom [18]float64 // log(tokens in category + α·|V|)
	words map[string][]nbCount
	ok    bool
}

func buildNB() nbModel {
	m := nbModel{words: nbWords}
	var docs int
	for _, n := range nbDocs {
		docs += n
	}
	if docs == 0 {
		return m
	}
	m.ok = true
	v := float64(len(nbWords))
	for c := range nbDocs {
		m.prior[c] = math.Log((float64(nbDocs[c]) + nbAlpha) / (float64(docs) + nbAlpha*18))
		m.denom[c] = math.Log(float64(nbTokens[c]) + nbAlpha*v)
	}
	return m
}

// features turns a reply into the model's features: words of two or more
// letters of the prose, adjacent pairs, the reply code and the enhanced
// code's class.subject.
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
				words = append(words, text[start:i])
			}
			start = -1
		}
	}
	f := make([]string, 0, 2*len(words)+2)
	f = append(f, words...)
	for i := 1; i < len(words); i++ {
		f = append(f, words[i-1]+"_"+words[i])
	}
	f = append(f, "#code"+strconv.Itoa(code))
	if i := strings.IndexByte(enhanced, '.'); i > 0 {
		if j := strings.IndexByte(enhanced[i+1:], '.'); j > 0 {
			f = append(f, "#enh"+enhanced[:i+1+j])
		}
	}
	return f
}

// predict returns the most probable category, its probability and the
// features that favoured it most.
func (m *nbModel) predict(feats []string) (Category, float64, []string) {
	if !m.ok {
		return None, 0, nil
	}
	score := m.prior
	known := 0
	for _, w := range feats {
		counts, ok := m.words[w]
		if !ok {
			continue
		}
		known++
		for c := range score {
			score[c] += math.Log(nbAlpha) - m.denom[c]
		}
		for _, n := range counts {
			score[n.cat] += math.Log(float64(n.count)+nbAlpha) - math.Log(nbAlpha)
		}
	}
	if known == 0 {
		return None, 0, nil
	}
	best := 0
	for c := range score {
		if score[c] > score[best] {
			best = c
		}
	}
	var sum float64
	for c := range score {
		sum += math.Exp(score[c] - score[best])
	}
	return Categories()[best], 1 / sum, m.topWords(feats, best)
}

// topWords lists up to three features that speak most for category c.
func (m *nbModel) topWords(feats []string, c int) []string {
	type fw struct {
		w string
		n uint16
	}
	var top []fw
	for _, w := range feats {
		for _, n := range m.words[w] {
			if int(n.cat) == c && !strings.HasPrefix(w, "#") {
				top = append(top, fw{w, n.count})
			}
		}
	}
	for i := 1; i < len(top); i++ { // few items: insertion sort
		for j := i; j > 0 && top[j].n > top[j-1].n; j-- {
			top[j], top[j-1] = top[j-1], top[j]
		}
	}
	var out []string
	for i := 0; i < len(top) && i < 3; i++ {
		out = append(out, strings.ReplaceAll(top[i].w, "_", " "))
	}
	return out
}

// modelEvidence asks the learned fallback about a reply; false when it is
// not sure enough to speak.
func modelEvidence(code int, enhanced, text string) (Evidence, bool) {
	cat, p, words := nbLog.predict(features(code, enhanced, text))
	if cat == None || p < modelThreshold {
		return Evidence{}, false
	}
	return Evidence{Kind: KindModel, Rule: modelName, Match: strings.Join(words, ", "), Category: cat,
		Weight: int(math.Round(modelScale * p))}, true
}
