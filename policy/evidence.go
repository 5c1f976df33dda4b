package policy

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
)

// Evidence is one thing the classifier found in a reply, with the category
// it speaks for and how strongly (0..100). The category whose strongest
// item weighs most wins; a tie goes to the category with more support
// (the sum of its weights), then to the one found first.
//
// Weights, by tier (rules.go and priors.go set them):
//
//	99      X.1.7 / X.1.8: the sender's own address, whatever the text says
//	75-96   a specific phrase ("user unknown", "mailbox full", "spamhaus")
//	55      an enhanced code with a registered, specific meaning (5.1.1, 5.7.26)
//	40-70   a generic phrase ("policy", "internal error", "rejected")
//	30      the subject of an enhanced code (5.4.x network, 5.5.x protocol)
//	21-50   the learned fallback, when no phrase gives a reason (50 × its
//	        probability, never below the reply code's prior it refines)
//	20      the reply code alone (421, 452, 5xx)
type Evidence struct {
	Kind EvidenceKind `json:"kind"`
	// Rule names the family or prior: "mailbox-full", "5.1.1", "550".
	Rule string `json:"rule"`
	// Match is what was found: the words of the text that matched, or the
	// code.
	Match    string   `json:"match,omitempty"`
	Category Category `json:"category,omitempty"`
	Weight   int      `json:"weight"`
}

// EvidenceKind says where an Evidence item came from.
type EvidenceKind string

// Evidence kinds.
const (
	KindPhrase   EvidenceKind = "phrase"   // a phrase family of rules.go matched the text
	KindEnhanced EvidenceKind = "enhanced" // the enhanced code's prior
	KindInText   EvidenceKind = "enhanced-in-text"
	KindInURL    EvidenceKind = "phrase-in-url" // a phrase found only inside a URL or address
	// KindInPrefix: a phrase found only in a "... rejected:" prefix whose
	// reason follows the colon.
	KindInPrefix EvidenceKind = "phrase-in-prefix"
	KindCode     EvidenceKind = "code"     // the reply code's prior
	KindModel    EvidenceKind = "model"    // the learned fallback (model.go)
	KindOperator EvidenceKind = "operator" // a [[policy.rule]] decided (Weight 100)
	// KindGuard is not about the category: it says why an unexplained 5xx
	// suppresses the address or not (Weight 0).
	KindGuard EvidenceKind = "guard"
)

// String words an item for explanations: `phrase mailbox-full "mailbox is
// full" → mailbox_full (89)`.
func (e Evidence) String() string {
	s := string(e.Kind) + " " + e.Rule
	if e.Match != "" && e.Match != e.Rule {
		s += " " + strconv.Quote(e.Match)
	}
	if e.Kind == KindGuard {
		return s
	}
	return s + " → " + string(e.Category) + " (" + strconv.Itoa(e.Weight) + ")"
}

// rule returns the Verdict.Rule for a deciding item.
func (e Evidence) rule() string {
	switch e.Kind {
	case KindPhrase, KindInURL, KindInPrefix:
		return "text:" + e.Rule
	case KindEnhanced:
		return "enhanced:" + e.Rule
	case KindInText:
		return "enhanced-in-text"
	case KindModel:
		return "model:" + e.Rule
	}
	if e.Kind == KindCode && e.Rule != "local" {
		return "code:" + e.Rule
	}
	return e.Rule
}

// wInURLPenalty: a phrase found only in a URL or address weighs this much
// less, below the specific enhanced codes.
const wInURLPenalty = 40

// wNoReason: a reply that says only that it failed.
const wNoReason = 40

// vagueWords say that something failed, never why.
var vagueWords = map[string]bool{"message": true, "mail": true, "email": true, "e": true, "rejected": true,
	"refused": true, "denied": true, "failed": true, "failure": true, "transaction": true, "delivery": true,
	"deliver": true, "delivered": true, "to": true, "not": true, "accepted": true, "error": true, "sorry": true,
	"permanent": true, "temporary": true, "unable": true, "undeliverable": true, "rejet": true, "rejete": true,
	"requested": true, "action": true, "taken": true, "the": true, "your": true, "was": true, "has": true,
	"been": true, "is": true, "reject": true, "smtp": true, "could": true, "be": true, "no": true,
	"other": true, "undefined": true, "status": true, "unspecified": true, "permanently": true, "server": true}

// hostOnlyRE matches a reply whose only words are a host name (the
// server naming itself): no reason at all.
var hostOnlyRE = regexp.MustCompile(`^\W*[a-z0-9-]+(\.[a-z0-9-]+)+\W*$`)

// vagueOnly reports whether the prose has words and all of them are vague.
func vagueOnly(prose string) bool {
	n := 0
	for _, w := range strings.FieldsFunc(prose, func(r rune) bool { return r < 'a' || r > 'z' }) {
		if !vagueWords[w] {
			return false
		}
		n++
	}
	return n > 0
}

// gather collects the evidence on reply r whose text is normalised and
// lower-cased.
func gather(r Reply, text string, m fallback) []Evidence {
	ev := make([]Evidence, 0, 6)
	// URLs and addresses carry noise ("reason/#filtered", "<spam@x>"): read
	// the prose first, and the whole text only when the prose says nothing.
	prose := stripNoise(text)
	ev = matchPhrases(ev, prose, r)
	ev = discountPrefix(ev, prose)
	if prose != text {
		// Words inside a URL or address ("help_spam_16.htm",
		// "openspf.net/why") are weak: they name a help page, not the
		// reason; they count only for families the prose did not match.
		n := len(ev)
		for _, e := range matchPhrases(nil, text, r) {
			if !slices.ContainsFunc(ev[:n], func(o Evidence) bool { return o.Rule == e.Rule }) {
				e.Kind, e.Weight = KindInURL, e.Weight-wInURLPenalty
				ev = append(ev, e)
			}
		}
	}
	if len(ev) == 0 && (vagueOnly(prose) || hostOnlyRE.MatchString(prose)) {
		ev = append(ev, Evidence{Kind: KindPhrase, Rule: "no-reason", Match: strings.TrimSpace(text),
			Category: Unclassified, Weight: wNoReason})
	}
	// A bare "no reason" is no phrase: the fallback may still read it.
	phrases := 0
	for _, e := range ev {
		if (e.Kind == KindPhrase || e.Kind == KindInPrefix) && e.Rule != "no-reason" {
			phrases++
		}
	}
	if e, ok := enhancedPrior(r.Enhanced, KindEnhanced); ok {
		if r.Code == 503 && CategorySide(e.Category) == SideRecipient {
			// "503 5.1.1 No recipients": the code says the dialogue is
			// out of order, so the address code says little.
			e.Weight = wWeakCode
		}
		ev = append(ev, e)
	} else if e, ok := embeddedEnhanced(text); ok {
		ev = append(ev, e)
	}
	if phrases == 0 {
		if e, ok := modelEvidence(m, r.Code, r.Enhanced, text); ok {
			// Issue 15 item 1: a 5xx that only says it failed, with no
			// enhanced code, 5.0.0 or 5.1.x, is taken at its word; the
			// fallback's reading of its vague words ("message rejected")
			// follows a labelling split and does not outweigh that.
			if len(ev) > 0 && ev[0].Rule == "no-reason" && r.Code >= 500 &&
				(r.Enhanced == "" || r.Enhanced == "5.0.0" || strings.HasPrefix(r.Enhanced, "5.1.")) {
				e.Weight = min(e.Weight, wNoReason-1)
			}
			ev = append(ev, e)
		}
	}
	return append(ev, codePrior(r.Code))
}

// wPrefixDiscount: a specific phrase found only in the "<what> rejected:"
// prefix of a reply that gives its reason after the colon weighs this much
// less. Postfix and the servers that copy its wording put the object of
// the refusal first ("Sender IP address rejected:", "Recipient address
// rejected:") and the reason after it; the reason decides.
const wPrefixDiscount = 20

// prefixRE splits "<up to six words> rejected|refused|denied|blocked:
// <reason>".
var prefixRE = regexp.MustCompile(`^\W*((?:[a-z0-9'-]+ ){0,5}(?:rejected|refused|denied|blocked)) ?: *(\S.*)$`)

// discountPrefix lowers the phrases of weight 60 or more that lie wholly in
// the prefix of a reply whose reason follows it.
func discountPrefix(ev []Evidence, prose string) []Evidence {
	m := prefixRE.FindStringSubmatch(prose)
	if m == nil {
		return ev
	}
	prefix := m[1]
	for i := range ev {
		e := &ev[i]
		// The sender named in the prefix keeps its weight: "Sender address
		// rejected: User unknown" is about our address, not a recipient.
		if e.Kind == KindPhrase && e.Weight >= 60 && e.Category != InvalidSender && strings.Contains(prefix, e.Match) {
			e.Kind, e.Weight = KindInPrefix, e.Weight-wPrefixDiscount
		}
	}
	return ev
}

// decide picks the category: strongest item, then support, then order.
func decide(ev []Evidence) (Category, string) {
	best := -1
	var bestSupport int
	for i, e := range ev {
		if e.Kind == KindGuard {
			continue
		}
		support := 0
		for _, o := range ev {
			if o.Category == e.Category && o.Kind != KindGuard {
				support += o.Weight
			}
		}
		if best < 0 || e.Weight > ev[best].Weight || (e.Weight == ev[best].Weight && support > bestSupport) {
			best, bestSupport = i, support
		}
	}
	if best < 0 {
		return Unclassified, "none"
	}
	// The deciding item first, the rest strongest first, for explanations.
	win := ev[best]
	copy(ev[1:best+1], ev[:best])
	ev[0] = win
	slices.SortStableFunc(ev[1:], func(a, b Evidence) int { return b.Weight - a.Weight })
	return win.Category, win.rule()
}

// unexplainedSuppresses: an unexplained 5xx (or a tentative verdict)
// suppresses only when nothing in it points away from the address: no
// enhanced code, X.0.0 or an X.1.x address code (also among the codes
// quoted in the text), no mention of the client host, an IP or the sender,
// and no provider reason code.
func unexplainedSuppresses(r Reply, text string) (bool, Evidence) {
	e := r.Enhanced
	if e != "" && e != "5.0.0" && !strings.HasPrefix(e, "5.1.") {
		return false, Evidence{Kind: KindGuard, Rule: "not-an-address-code", Match: e}
	}
	for _, m := range enhancedRE.FindAllString(text, 4) {
		if m != "5.0.0" && !strings.HasPrefix(m, "5.1.") {
			return false, Evidence{Kind: KindGuard, Rule: "not-an-address-code", Match: m}
		}
	}
	if m := clientRE.FindString(text); m != "" {
		return false, Evidence{Kind: KindGuard, Rule: "names-client-or-sender", Match: m}
	}
	// What vetoes an explained recipient category vetoes a guess too.
	if m := ourSideRE.FindString(stripNoise(text)); m != "" {
		return false, Evidence{Kind: KindGuard, Rule: "names-our-side", Match: m}
	}
	if m := productCodeRE.FindString(text); m != "" {
		return false, Evidence{Kind: KindGuard, Rule: "provider-code", Match: m}
	}
	// A refusal by rule ("no access", "not allowed", "prohibited") says
	// the server would not take the mail, not that the address is gone.
	if m := refusalRE.FindString(stripNoise(text)); m != "" {
		return false, Evidence{Kind: KindGuard, Rule: "refusal-by-rule", Match: m}
	}
	// A reply that gives a reason no rule reads ("smtpport check error",
	// a sentence in another language) is no evidence about the address:
	// only a bare failure, or one that says the recipient failed, is taken
	// at its word.
	if prose := stripNoise(text); !vagueOnly(prose) && !hostOnlyRE.MatchString(prose) && !(addressWordRE.MatchString(prose) && failWordRE.MatchString(prose)) {
		return false, Evidence{Kind: KindGuard, Rule: "reason-not-understood", Match: strings.TrimSpace(prose)}
	}
	return true, Evidence{Kind: KindGuard, Rule: "taken-at-its-word", Match: e}
}

// addressWordRE finds words about the recipient or its address.
var addressWordRE = regexp.MustCompile(`\b(users?|recipients?|rcpt|mailbox(es)?|address(es)?|addressee|accounts?|destination|inbox|local.part)\b`)

// refusalRE finds words of permission or filtering (a refusal by rule) or
// of a feature the server lacks ("Cc recipients are not supported").
var refusalRE = regexp.MustCompile(`\b(access|allowed|supported|unsupported|permitted|prohibited|forbidden|blocked|blocking|banned|filtered|filter|authori[sz]ed|permission|rule|rules|administrator)\b`)

// failWordRE finds words that say something failed or is missing: a
// sentence that names the recipient without one ("bounces are never sent
// to more than one recipient") states a rule, not a failed address.
var failWordRE = regexp.MustCompile(`\b(rejected|refused|denied|failed|failure|undeliverable|unable|invalid|unavailable|unknown|not|no|cannot|can't|bad|error|wrong|illegal|other|undefined)\b`)

// clientRE finds text about our side of the connection: then an
// unexplained refusal is about us, not the address.
var clientRE = regexp.MustCompile(`\bclient\b|\bips?\b|\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b|ipv6:|\bsender\b|\bsending\b|` +
	`\bmail from\b|\bfrom (address|domain)\b|\byour from\b|\b(helo|ehlo)\b|(connecting|sending|your) (host|server|domain|network|mail ?server|ip)|\bconnections?\b`)

// ourSideRE finds words about the sending side or the message rather than
// the address: the sender, our client host or IP, HELO, content, spam,
// policy, reputation, lists, authentication. They veto a suppression even
// when a recipient phrase matched too.
var ourSideRE = regexp.MustCompile(`\bsender\b|\bsending\b|\bclient\b|\bips?\b|ip address|\b(helo|ehlo)\b|\bmail from\b|` +
	`(connecting|sending|your) (host|server|domain|network|mail ?server|ip)|your (e-?mail |return )?address|return-?path|\bspam|\bcontent\b|\bpolic(y|ies)\b|` +
	`reputation|black ?list|block ?list|authenticat|\bspf\b|dkim|dmarc|\bheader\b`)

// productCodeRE finds a provider's own reason code (AOL's "RTR:BG",
// Orange's "[506]", Cox's "AUP#CDRBL", Comcast's "BL000010", Yahoo's
// "[TS02]", a closing "E2110" or "S3150"): the server had a reason and
// encoded it; without a rule that reads it, the reply is no evidence
// about the address.
var productCodeRE = regexp.MustCompile(`^\W*[a-z]{2,4}:[a-z0-9]{1,3}\b|\[\d{3}\]|\baup#|\bbl\d{3,}|\[[a-z]{2,3}\d\d\]|\b[a-z]{2,3}\d+-ip\d*\b|\b[a-z]{1,2}\d{4}\W*$`)

// noiseRE matches URLs and mail addresses.
// The domain part is labels joined by single dots (or an address literal),
// so sendmail's "jdoe@example.com... User unknown" keeps its reason.
var noiseRE = regexp.MustCompile(`(https?://|www\.)\S+|<?[^\s<>@]+@(\[[0-9a-f.:]+\]|[a-z0-9-]+(\.[a-z0-9-]+)*)>?`)

func stripNoise(text string) string {
	if !strings.Contains(text, "@") && !strings.Contains(text, "http") && !strings.Contains(text, "www.") {
		return text
	}
	return noiseRE.ReplaceAllString(text, " ")
}

// phrase is one alternative of a family, with a literal that every match
// contains, so most alternatives are ruled out by strings.Contains before
// any regexp runs.
type phrase struct {
	lit string         // "": no literal found, always run re
	re  *regexp.Regexp // nil: the phrase is lit itself
}

func compilePhrase(src string) phrase {
	re := regexp.MustCompile(src)
	p := phrase{re: re}
	t, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return p
	}
	t = t.Simplify()
	if t.Op == syntax.OpLiteral && t.Flags&syntax.FoldCase == 0 {
		return phrase{lit: string(t.Rune)}
	}
	if t.Op == syntax.OpConcat {
		for _, s := range t.Sub {
			if s.Op == syntax.OpLiteral && s.Flags&syntax.FoldCase == 0 && len(s.Rune) > len([]rune(p.lit)) {
				p.lit = string(s.Rune)
			}
		}
	}
	return p
}

// find returns the matched words, or "" (with false) when p does not match.
func (p *phrase) find(text string) (string, bool) {
	if p.lit != "" && !strings.Contains(text, p.lit) {
		return "", false
	}
	if p.re == nil {
		return p.lit, true
	}
	loc := p.re.FindStringIndex(text)
	if loc == nil {
		return "", false
	}
	return strings.TrimSpace(text[loc[0]:loc[1]]), true
}

// matchPhrases appends one item per family that matches text of reply r.
func matchPhrases(ev []Evidence, text string, r Reply) []Evidence {
	soft := classOf(r) != Hard
	for i := range families {
		f := &families[i]
		if (f.softOnly && !soft) || (f.remoteOnly && r.Code == 0) || !f.enhancedAllowed(r.Enhanced) {
			continue
		}
		for j := range f.phrases {
			if m, ok := f.phrases[j].find(text); ok {
				ev = append(ev, Evidence{Kind: KindPhrase, Rule: f.name, Match: m, Category: f.cat, Weight: f.weight})
				break
			}
		}
	}
	return ev
}
