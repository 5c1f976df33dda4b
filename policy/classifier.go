package policy

import "regexp"

// Rule is an operator's override, tried before the built-in rules: the
// first rule whose every set condition matches decides the fields it sets.
type Rule struct {
	Name     string
	Code     int            // 0: any code
	Enhanced string         // "": any; "5.7.1" exact
	Text     *regexp.Regexp // nil: any text
	Domain   string         // "": any destination; else lower-case exact
	Class    Class          // "": the built-in class
	Category Category       // "": the built-in category
	Suppress *bool          // nil: derived from class and category
}

// Classifier is Classify plus the operator's rules. The zero value uses the
// built-in rules alone.
type Classifier struct {
	Rules []Rule
}

// Classify reads reply r from a server of destination domain.
func (c *Classifier) Classify(r Reply, domain string) Verdict {
	return Classify(r)
}
