package conf

import (
	"reflect"
	"strings"
	"testing"

	"github.com/mtaq/mtaq/policy"
)

const policyDoc = `hostname = "h.example"

[[policy.rule]]
name = "acme-blocklist-is-soft"
code = 550
enhanced = "5.7.1"
text = "(?i)temporarily blocked"
domain = "acme.example"
class = "soft"
category = "blocked_reputation"

[[policy.rule]]
enhanced = "5.2."
text = "(?i)over the limit"
category = "mailbox_full"

[[policy.rule]]
domain = "keep.example"
suppress = false
`

func TestPolicyRulesLoad(t *testing.T) {
	t.Parallel()
	c, err := Parse("mtaq.toml", []byte(policyDoc))
	if err != nil {
		t.Fatal(err)
	}
	f := false
	want := []PolicyRule{
		{Name: "acme-blocklist-is-soft", Code: 550, Enhanced: "5.7.1", Text: "(?i)temporarily blocked",
			Domain: "acme.example", Class: "soft", Category: "blocked_reputation"},
		{Enhanced: "5.2.", Text: "(?i)over the limit", Category: "mailbox_full"},
		{Domain: "keep.example", Suppress: &f},
	}
	if !reflect.DeepEqual(c.Policy.Rules, want) {
		t.Fatalf("rules %+v", c.Policy.Rules)
	}
	cl, err := c.Policy.Classifier()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		reply  policy.Reply
		domain string
		rule   string
		class  policy.Class
	}{
		{policy.Reply{Code: 550, Enhanced: "5.7.1", Text: "Temporarily blocked"}, "mx.acme.example", "operator:acme-blocklist-is-soft", policy.Soft},
		{policy.Reply{Code: 550, Enhanced: "5.2.0", Text: "over the limit"}, "x.example", "operator:#2", policy.Soft},
		{policy.Reply{Code: 550, Enhanced: "5.1.1", Text: "user unknown"}, "keep.example", "operator:#3", policy.Hard},
		{policy.Reply{Code: 550, Enhanced: "5.1.1", Text: "user unknown"}, "x.example", "text:user-unknown", policy.Hard},
	} {
		v := cl.Classify(tc.reply, tc.domain)
		if v.Rule != tc.rule || v.Class != tc.class {
			t.Errorf("%+v at %s: got %+v, want rule %s class %s", tc.reply, tc.domain, v, tc.rule, tc.class)
		}
	}
	if v := cl.Classify(policy.Reply{Code: 550, Enhanced: "5.1.1", Text: "user unknown"}, "keep.example"); v.Suppress {
		t.Errorf("suppress = false not applied: %+v", v)
	}
}

func TestPolicyRuleErrors(t *testing.T) {
	t.Parallel()
	doc := `hostname = "h.example"
[[policy.rule]]
code = 150
enhanced = "5.7"
text = "(unclosed"
domain = "bad_domain"
class = "permanent"
category = "user_gone"
[[policy.rule]]
name = "empty"
[[policy.rule]]
code = 250
class = "soft"
suppress = true
[[policy.rule]]
text = "x"
mtach = "y"
category = "spam_content"
`
	_, err := Parse("mtaq.toml", []byte(doc))
	want := []string{
		"mtaq.toml:17: policy.rule[3].mtach: unknown key",
		"mtaq.toml:3: policy.rule[0].code: must be a reply code 200..599, got 150",
		`mtaq.toml:4: policy.rule[0].enhanced: "5.7" is neither an enhanced status code like "5.7.1" nor a prefix like "5.7."`,
		"mtaq.toml:5: policy.rule[0].text: invalid regular expression: error parsing regexp: missing closing ): `(unclosed`",
		`mtaq.toml:6: policy.rule[0].domain: "bad_domain" is not a valid DNS name`,
		`mtaq.toml:7: policy.rule[0].class: must be soft or hard, got "permanent"`,
		`mtaq.toml:8: policy.rule[0].category: unknown category "user_gone" (one of ` + categoryNames() + `)`,
		"mtaq.toml:9: policy.rule[1]: matches every reply: set at least one of code, enhanced, text, domain",
		"mtaq.toml:9: policy.rule[1]: overrides nothing: set at least one of class, category, suppress",
		"mtaq.toml:12: policy.rule[2].code: 250 is a success; rules apply to 4xx and 5xx replies only",
		`mtaq.toml:14: policy.rule[2].suppress: a soft verdict never suppresses; set class = "hard" or drop suppress`,
	}
	if got := lines(err); !reflect.DeepEqual(got, want) {
		t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestPolicyRuleTypeError(t *testing.T) {
	t.Parallel()
	doc := "hostname = \"h.example\"\n[[policy.rule]]\ncode = \"550\"\nclass = \"soft\"\n"
	_, err := Parse("mtaq.toml", []byte(doc))
	want := []string{
		"mtaq.toml:3: policy.rule[0].code: expected an integer, got a string",
		"mtaq.toml:2: policy.rule[0]: matches every reply: set at least one of code, enhanced, text, domain",
	}
	if got := lines(err); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestPolicyClassifierRefusesInvalid(t *testing.T) {
	t.Parallel()
	p := Policy{Rules: []PolicyRule{{Text: "(", Class: "soft"}}}
	if _, err := p.Classifier(); err == nil || !strings.Contains(err.Error(), "policy.rule[0].text") {
		t.Fatalf("got %v", err)
	}
	c, err := Policy{}.Classifier()
	if err != nil || len(c.Rules) != 0 {
		t.Fatalf("empty policy: %v %v", c, err)
	}
}

func TestEnhancedForms(t *testing.T) {
	t.Parallel()
	for s, ok := range map[string]bool{
		"5.7.1": true, "4.2.22": true, "5.7.": true, "5.": true, "5.7.509": true,
		"5.7": false, "6.1.1": false, "5..": false, "x.y.z": false, "5.7.1.": false,
	} {
		k := &checker{}
		validateRule(k, "r", PolicyRule{Enhanced: s, Class: "soft"})
		if got := len(k.probs) == 0; got != ok {
			t.Errorf("enhanced %q: valid = %v, want %v (%v)", s, got, ok, k.probs)
		}
	}
}
