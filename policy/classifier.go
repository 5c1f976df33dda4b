package policy

import (
	"regexp"
	"strconv"
	"strings"
)

// Rule is an operator's override, tried before the built-in verdict is
// returned: the first rule whose every set condition matches decides the
// fields it sets. A rule with no condition matches every failure.
type Rule struct {
	Name string
	Code int // 0: any code
	// Enhanced: "" any; "5.7.1" exact; "5.7." (trailing dot) a prefix.
	Enhanced string
	Text     *regexp.Regexp // nil: any text; matched against the raw text
	// Domain: "" any; else the recipient domain or a parent of it
	// ("example.com" matches "example.com" and "eu.example.com").
	Domain   string
	Class    Class    // "": the class the code gives
	Category Category // "": the built-in category
	Suppress *bool    // nil: derived from class and category
}

// Categories lists every category a verdict can carry, for callers that
// check names (configuration).
func Categories() []Category {
	return []Category{UserUnknown, MailboxFull, MailboxDisabled, DomainNotFound,
		InvalidSender, BlockedReputation, SpamContent, PolicyRejected, AuthFailure,
		ReverseDNS, RateLimited, Greylisting, MessageTooLarge, RelayDenied,
		SyntaxError, NetworkError, SystemError, Unclassified}
}

// Classifier is Classify plus the operator's rules. The zero value uses the
// built-in rules alone. It is read-only after construction and safe for
// concurrent use.
type Classifier struct {
	Rules []Rule
}

// Classify reads reply r from a server of the recipient's domain. Operator
// rules apply to failures only: a delivered message stays delivered.
func (c *Classifier) Classify(r Reply, domain string) Verdict {
	v := Classify(r)
	if c == nil || v.Class == Success {
		return v
	}
	for i := range c.Rules {
		if c.Rules[i].matches(r, domain) {
			return c.Rules[i].apply(r, v, i)
		}
	}
	return v
}

func (ru *Rule) matches(r Reply, domain string) bool {
	if ru.Code != 0 && ru.Code != r.Code {
		return false
	}
	if ru.Enhanced != "" && !enhancedMatches(ru.Enhanced, r.Enhanced) {
		return false
	}
	if ru.Domain != "" && !InDomain(domain, ru.Domain) {
		return false
	}
	return ru.Text == nil || ru.Text.MatchString(r.Text)
}

func enhancedMatches(pattern, e string) bool {
	if strings.HasSuffix(pattern, ".") {
		return strings.HasPrefix(e, pattern)
	}
	return e == pattern
}

// InDomain reports whether domain is parent or one of its subdomains,
// ignoring case and a trailing dot.
func InDomain(domain, parent string) bool {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	parent = strings.TrimSuffix(strings.ToLower(parent), ".")
	return parent != "" && (domain == parent || strings.HasSuffix(domain, "."+parent))
}

// apply overrides v with what rule i sets. Side always follows the final
// category; suppression is derived as for a built-in verdict unless the
// rule sets it.
func (ru *Rule) apply(r Reply, v Verdict, i int) Verdict {
	if ru.Category != "" {
		v.Category = ru.Category
	}
	if ru.Class != "" {
		v.Class = ru.Class
	} else {
		// Recompute from the code: the built-in may have softened a 5xx
		// for a category the rule has just replaced.
		v.Class = classOf(r)
		if v.Class == Hard && (v.Category == MailboxFull || v.Category == MessageTooLarge) {
			v.Class = Soft
		}
	}
	v.Side = CategorySide(v.Category)
	v.Suppress = v.Class == Hard && suppressing(v.Category)
	v.Rule = "operator:" + ru.Name
	if ru.Name == "" {
		v.Rule = "operator:#" + strconv.Itoa(i+1)
	}
	// The rule decides: it goes first, the built-in evidence stays for
	// the explanation, without the built-in verdict's guard.
	ev := make([]Evidence, 0, len(v.Evidence)+2)
	ev = append(ev, Evidence{Kind: KindOperator, Rule: strings.TrimPrefix(v.Rule, "operator:"),
		Category: v.Category, Weight: 100})
	for _, e := range v.Evidence {
		if e.Kind != KindGuard {
			ev = append(ev, e)
		}
	}
	if v.Class == Hard && v.Category == Unclassified {
		var g Evidence
		v.Suppress, g = unexplainedSuppresses(r, strings.ToLower(normalize(r.Text)))
		ev = append(ev, g)
	}
	if ru.Suppress != nil {
		v.Suppress = *ru.Suppress
	}
	v.Evidence = ev
	return v
}
