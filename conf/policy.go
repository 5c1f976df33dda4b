package conf

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/mtaq/mtaq/policy"
)

// Policy configures how replies are read.
type Policy struct {
	// Rules ([[policy.rule]]) are tried in order before the built-in
	// classifier's verdict is returned; the first that matches wins. They
	// let an operator fix a provider's odd reply without a release.
	Rules []PolicyRule `toml:"rule"`
}

// PolicyRule is one operator override. Every condition that is set must
// match (at least one must be set); the rule then replaces what it sets (at
// least one of class, category, suppress). Rules apply to 4xx and 5xx
// replies only.
type PolicyRule struct {
	Name     string `toml:"name"`     // shown in verdicts as "operator:NAME"
	Code     int    `toml:"code"`     // reply code, 200..599; 0: any
	Enhanced string `toml:"enhanced"` // "5.7.1", or the prefix "5.7."
	Text     string `toml:"text"`     // Go regexp on the reply text as received
	Domain   string `toml:"domain"`   // recipient domain, subdomains included
	Class    string `toml:"class"`    // soft or hard
	Category string `toml:"category"` // one of policy.Categories()
	// Suppress: whether a hard verdict suppresses the address; unset, it
	// follows the category as for a built-in verdict.
	Suppress *bool `toml:"suppress"`
}

var (
	enhancedExact  = regexp.MustCompile(`^[245]\.\d{1,3}\.\d{1,3}$`)
	enhancedPrefix = regexp.MustCompile(`^[245]\.(\d{1,3}\.)?$`)
)

func validatePolicy(k *checker, p Policy) {
	for i, r := range p.Rules {
		validateRule(k, fmt.Sprintf("policy.rule[%d]", i), r)
	}
}

// validateRule reports each bad field under its own key and the rule-wide
// problems (matches everything, changes nothing) under the rule's table.
func validateRule(k *checker, key string, r PolicyRule) {
	switch {
	case r.Code == 0:
	case r.Code < 200 || r.Code > 599:
		k.add(key+".code", "must be a reply code 200..599, got %d", r.Code)
	case r.Code < 400:
		// Delivered mail is never turned into a bounce.
		k.add(key+".code", "%d is a success; rules apply to 4xx and 5xx replies only", r.Code)
	}
	if r.Enhanced != "" && !enhancedExact.MatchString(r.Enhanced) && !enhancedPrefix.MatchString(r.Enhanced) {
		k.add(key+".enhanced", `%q is neither an enhanced status code like "5.7.1" nor a prefix like "5.7."`, r.Enhanced)
	}
	if r.Text != "" {
		if _, err := regexp.Compile(r.Text); err != nil {
			k.add(key+".text", "invalid regular expression: %v", err)
		}
	}
	if r.Domain != "" && !isHostname(strings.TrimSuffix(r.Domain, ".")) {
		k.add(key+".domain", "%q is not a valid DNS name", r.Domain)
	}
	if r.Class != "" && r.Class != string(policy.Soft) && r.Class != string(policy.Hard) {
		k.add(key+".class", "must be soft or hard, got %q", r.Class)
	}
	if r.Category != "" && !slices.Contains(policy.Categories(), policy.Category(r.Category)) {
		k.add(key+".category", "unknown category %q (one of %s)", r.Category, categoryNames())
	}
	if r.Class == string(policy.Soft) && r.Suppress != nil && *r.Suppress {
		k.add(key+".suppress", "a soft verdict never suppresses; set class = \"hard\" or drop suppress")
	}
	if r.Code == 0 && r.Enhanced == "" && r.Text == "" && r.Domain == "" {
		k.add(key, "matches every reply: set at least one of code, enhanced, text, domain")
	}
	if r.Class == "" && r.Category == "" && r.Suppress == nil {
		k.add(key, "overrides nothing: set at least one of class, category, suppress")
	}
}

func categoryNames() string {
	var names []string
	for _, c := range policy.Categories() {
		names = append(names, string(c))
	}
	return strings.Join(names, ", ")
}

// Classifier builds the reply classifier with the operator's rules. Load
// has validated them already; the error is for a Policy built in code.
func (p Policy) Classifier() (*policy.Classifier, error) {
	k := &checker{}
	validatePolicy(k, p)
	if len(k.probs) > 0 {
		errs := make([]error, len(k.probs))
		for i, pr := range k.probs {
			errs[i] = pr
		}
		return nil, errors.Join(errs...)
	}
	c := &policy.Classifier{Rules: make([]policy.Rule, len(p.Rules))}
	for i, r := range p.Rules {
		c.Rules[i] = policy.Rule{
			Name: r.Name, Code: r.Code, Enhanced: r.Enhanced,
			Domain: strings.TrimSuffix(r.Domain, "."), Class: policy.Class(r.Class),
			Category: policy.Category(r.Category), Suppress: r.Suppress,
		}
		if r.Text != "" {
			c.Rules[i].Text = regexp.MustCompile(r.Text) // validated above
		}
	}
	return c, nil
}
