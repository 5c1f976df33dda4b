package scheduler

import (
	"reflect"
	"regexp"
	"testing"

	"github.com/mtaq/mtaq/policy"
)

// The cache answers what the classifier answers, per domain (operator
// rules can be per domain), and stays bounded.
func TestVerdictCacheMatchesClassifier(t *testing.T) {
	c := &policy.Classifier{Rules: []policy.Rule{{Name: "acme-soft", Code: 550,
		Text: regexp.MustCompile("(?i)temporarily blocked"), Domain: "acme.example", Class: policy.Soft,
		Category: policy.BlockedReputation}}}
	v := newVerdictCache(c)
	replies := []policy.Reply{
		{Code: 550, Enhanced: "5.1.1", Text: "user unknown"},
		{Code: 550, Text: "Temporarily blocked for 1 hour"},
		{Code: 451, Enhanced: "4.7.1", Text: "greylisted"},
	}
	for round := 0; round < 2; round++ { // the second round is served from the cache
		for _, r := range replies {
			for _, d := range []string{"acme.example", "other.example"} {
				if got, want := v.classify(r, d), c.Classify(r, d); !reflect.DeepEqual(got, want) {
					t.Fatalf("round %d %+v at %s: cache %+v, classifier %+v", round, r, d, got, want)
				}
			}
		}
	}
	if a, b := v.classify(replies[1], "acme.example"), v.classify(replies[1], "other.example"); a.Class == b.Class {
		t.Fatalf("the per-domain rule was not kept apart: %+v vs %+v", a, b)
	}
	for i := 0; i < 3*verdictCacheSize; i++ {
		v.classify(policy.Reply{Code: 450, Text: string(rune('a' + i%26))}, "x"+string(rune(i)))
	}
	if n := len(v.m); n > verdictCacheSize {
		t.Fatalf("cache holds %d verdicts, bound %d", n, verdictCacheSize)
	}
}
