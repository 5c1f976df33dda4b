package policy

import (
	"reflect"
	"regexp"
	"testing"
)

func ptr(b bool) *bool { return &b }

func TestClassifierOperatorRules(t *testing.T) {
	t.Parallel()
	c := &Classifier{Rules: []Rule{
		{Name: "acme-blocklist-is-soft", Code: 550, Enhanced: "5.7.1", Text: regexp.MustCompile(`(?i)temporarily blocked`), Domain: "acme.example", Class: Soft, Category: BlockedReputation},
		{Name: "odd-full", Enhanced: "5.7.", Text: regexp.MustCompile(`box overflow`), Category: MailboxFull},
		{Text: regexp.MustCompile(`^Rejected$`), Suppress: ptr(false)},
		{Name: "not-really-gone", Domain: "keep.example", Category: UserUnknown, Suppress: ptr(false)},
		{Name: "full-means-gone", Code: 552, Domain: "gone.example", Category: UserUnknown},
		{Name: "hard-full", Text: regexp.MustCompile(`archived quota`), Class: Hard, Category: MailboxFull},
	}}
	cases := []struct {
		name   string
		reply  Reply
		domain string
		want   Verdict
	}{
		{"all conditions, subdomain", Reply{550, "5.7.1", "You are Temporarily Blocked"}, "eu.acme.example",
			Verdict{Soft, BlockedReputation, SideSender, false, "operator:acme-blocklist-is-soft", nil}},
		{"domain must match", Reply{550, "5.7.1", "You are temporarily blocked"}, "notacme.example",
			Verdict{Hard, BlockedReputation, SideSender, false, "text:blocklist", nil}},
		{"code must match", Reply{554, "5.7.1", "You are temporarily blocked"}, "acme.example",
			Verdict{Hard, BlockedReputation, SideSender, false, "text:blocklist", nil}},
		{"enhanced prefix, 5xx full stays soft", Reply{554, "5.7.900", "box overflow"}, "x.example",
			Verdict{Soft, MailboxFull, SideRecipient, false, "operator:odd-full", nil}},
		{"enhanced prefix needs the prefix", Reply{554, "5.1.1", "box overflow"}, "x.example",
			Verdict{Hard, UserUnknown, SideRecipient, true, "enhanced:5.1.1", nil}},
		{"unnamed rule, suppress only", Reply{550, "", "Rejected"}, "x.example",
			Verdict{Hard, Unclassified, SideUnknown, false, "operator:#3", nil}},
		{"suppress override keeps category", Reply{550, "5.1.1", "user unknown"}, "KEEP.example.",
			Verdict{Hard, UserUnknown, SideRecipient, false, "operator:not-really-gone", nil}},
		{"category replaces a softened one: class from the code", Reply{552, "5.2.2", "mailbox full"}, "gone.example",
			Verdict{Hard, UserUnknown, SideRecipient, true, "operator:full-means-gone", nil}},
		{"explicit class beats the soft rule", Reply{552, "5.2.2", "archived quota"}, "x.example",
			Verdict{Hard, MailboxFull, SideRecipient, false, "operator:hard-full", nil}},
		{"4xx category change keeps soft", Reply{452, "4.2.2", "mailbox full"}, "keep.example",
			Verdict{Soft, UserUnknown, SideRecipient, false, "operator:not-really-gone", nil}},
		{"success is never overridden", Reply{250, "2.0.0", "ok"}, "keep.example",
			Verdict{Success, None, SideUnknown, false, "code:2xx", nil}},
		{"no rule matches: built-in", Reply{550, "5.1.1", "user unknown"}, "other.example",
			Verdict{Hard, UserUnknown, SideRecipient, true, "text:user-unknown", nil}},
	}
	for _, tc := range cases {
		if got := c.Classify(tc.reply, tc.domain); !sameVerdict(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// sameVerdict compares what a verdict decides, not the evidence it lists.
func sameVerdict(a, b Verdict) bool {
	return a.Class == b.Class && a.Category == b.Category && a.Side == b.Side && a.Suppress == b.Suppress && a.Rule == b.Rule
}

func TestClassifierZeroAndNil(t *testing.T) {
	t.Parallel()
	r := Reply{550, "5.1.1", "user unknown"}
	var nilC *Classifier
	if got, want := nilC.Classify(r, "x"), Classify(r); !reflect.DeepEqual(got, want) {
		t.Errorf("nil classifier: %+v, want %+v", got, want)
	}
	if got, want := (&Classifier{}).Classify(r, "x"), Classify(r); !reflect.DeepEqual(got, want) {
		t.Errorf("zero classifier: %+v, want %+v", got, want)
	}
}

func TestInDomain(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		domain, parent string
		want           bool
	}{
		{"example.com", "example.com", true},
		{"eu.example.com", "example.com", true},
		{"EU.Example.COM.", "example.com", true},
		{"badexample.com", "example.com", false},
		{"com", "example.com", false},
		{"example.com", "", false},
	} {
		if got := InDomain(c.domain, c.parent); got != c.want {
			t.Errorf("InDomain(%q, %q) = %v", c.domain, c.parent, got)
		}
	}
}

// TestFallbackNeedsAWord: the learned fallback reads words; a reply whose
// only known features are its codes is the priors' to read, so the
// fallback stays silent however low its threshold.
func TestFallbackNeedsAWord(t *testing.T) {
	t.Parallel()
	if c, _, _ := learned.predict([]string{"#code550", "#enh5.7", "#enh5.7.1"}); c != None {
		t.Errorf("codes alone: the fallback said %s", c)
	}
	v := Classify(Reply{Code: 550, Text: "qzxv wplk"})
	if v.Rule != "code:550" || v.Category != Unclassified {
		t.Errorf("550 qzxv wplk: %s by %s, want unclassified by code:550", v.Category, v.Rule)
	}
	if c, _, _ := learned.predict(features(550, "", "user unknown")); c == None {
		t.Error("known words: the fallback stayed silent")
	}
}
