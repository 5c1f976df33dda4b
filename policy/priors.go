package policy

import (
	"regexp"
	"strconv"
	"strings"
)

// Weights of the priors (see Evidence).
const (
	wSenderAddress = 99 // X.1.7, X.1.8
	wSpecificCode  = 55 // a registered detail with one meaning
	wSubjectCode   = 30 // only the subject: network, protocol, system
	wWeakCode      = 25 // a detail that is usually about something else here
	wInTextPenalty = 10 // an enhanced code quoted in the text weighs this much less
	wReplyCode     = 20
	wAuthCode      = 50 // 530, 535, 538: SMTP AUTH's own codes, below a specific enhanced code
	wSequenceCode  = 41 // 503: above an address code it weakens (gather) and "no reason", below any phrase
)

// enhancedPrior is what an RFC 3463 code says on its own. X.0.0, X.1.0,
// X.2.0 and X.7.0/X.7.1 say nothing: providers use them for everything.
func enhancedPrior(e string, kind EvidenceKind) (Evidence, bool) {
	parts := strings.Split(e, ".")
	if len(parts) != 3 {
		return Evidence{}, false
	}
	subj, err1 := strconv.Atoi(parts[1])
	det, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil {
		return Evidence{}, false
	}
	cat, w := codeMeaning(parts[0], subj, det)
	if cat == None {
		return Evidence{}, false
	}
	if kind == KindInText {
		// Quoted codes are often the sending relay's own, about anything.
		w = min(w, wSpecificCode) - wInTextPenalty
	}
	return Evidence{Kind: kind, Rule: e, Category: cat, Weight: w}, true
}

// codeMeaning maps subject.detail to a category and weight.
func codeMeaning(class string, subj, det int) (Category, int) {
	switch subj {
	case 1:
		return addressMeaning(det)
	case 2:
		switch det {
		case 1:
			// "Mailbox disabled" on a transient code is a contradiction
			// providers use for volume (Gmail's "receiving mail too
			// quickly", Vade's deferrals): only a 5.2.1 says disabled.
			if class != "5" {
				return RateLimited, wWeakCode
			}
			return MailboxDisabled, wSpecificCode
		case 2:
			return MailboxFull, wSpecificCode
		case 3:
			return MessageTooLarge, wSpecificCode
		}
	case 3:
		switch det {
		case 4:
			return MessageTooLarge, wSpecificCode
		case 0, 1, 2, 5:
			return SystemError, wSubjectCode
		}
	case 4:
		if det == 5 { // congestion: on a 5.4.5, providers' daily sending limits
			if class == "5" {
				return RateLimited, wSubjectCode
			}
			return SystemError, wSubjectCode
		}
		return NetworkError, wSubjectCode
	case 5:
		if det == 3 {
			return RateLimited, wSpecificCode
		}
		return SyntaxError, wSubjectCode
	case 6:
		return SyntaxError, wSubjectCode
	case 7:
		return securityMeaning(det)
	}
	return None, 0
}

func addressMeaning(det int) (Category, int) {
	switch det {
	case 1, 3:
		return UserUnknown, wSpecificCode
	case 2, 10:
		return DomainNotFound, wSpecificCode
	case 6:
		return MailboxDisabled, wSpecificCode
	case 7, 8: // the sender's own address, whatever the text says of it
		return InvalidSender, wSenderAddress
	}
	return None, 0
}

func securityMeaning(det int) (Category, int) {
	switch {
	case det == 13:
		return MailboxDisabled, wSpecificCode
	case det == 17: // RRVS: the mailbox changed owner since the date given
		return MailboxDisabled, wSpecificCode
	case det == 2: // mailing-list expansion prohibited
		return PolicyRejected, wSpecificCode
	case det == 18:
		return DomainNotFound, wSpecificCode
	case det >= 20 && det <= 24, det == 26, det == 29:
		return AuthFailure, wSpecificCode
	case det == 25:
		return ReverseDNS, wSpecificCode
	case det == 27:
		return InvalidSender, wSpecificCode
	case det == 28:
		return BlockedReputation, wSpecificCode
	case det == 10, det == 30:
		return PolicyRejected, wSpecificCode
	case det == 8, det == 9:
		// AUTH's codes: on a delivery reply usually a bare refusal.
		return AuthFailure, wWeakCode
	}
	return None, 0
}

var enhancedRE = regexp.MustCompile(`\b[245]\.\d{1,3}\.\d{1,3}\b`)

// embeddedEnhanced finds an enhanced code quoted in the text, e.g. "(#5.1.1)".
func embeddedEnhanced(text string) (Evidence, bool) {
	if !strings.ContainsAny(text, "245") {
		return Evidence{}, false
	}
	for _, m := range enhancedRE.FindAllString(text, 3) {
		if e, ok := enhancedPrior(m, KindInText); ok {
			return e, true
		}
	}
	return Evidence{}, false
}

// codePrior is the last resort: what the bare reply code suggests.
func codePrior(code int) Evidence {
	e := Evidence{Kind: KindCode, Rule: strconv.Itoa(code), Category: Unclassified, Weight: wReplyCode}
	switch code {
	case 421:
		e.Category = SystemError
	case 452, 552:
		e.Category = MailboxFull
	case 500, 501, 502, 504, 555:
		e.Category = SyntaxError
	// Bad sequence of commands has one meaning; a server that answers
	// it to RCPT with its address code is complaining about the dialogue.
	case 503:
		e.Category, e.Weight = SyntaxError, wSequenceCode
	// RFC 4954's own codes say one thing each, as an enhanced code would.
	case 530: // authentication required: for relaying
		e.Category, e.Weight = RelayDenied, wAuthCode
	case 535: // credentials invalid
		e.Category, e.Weight = AuthFailure, wAuthCode
	case 538: // encryption required for the mechanism
		e.Category, e.Weight = PolicyRejected, wAuthCode
	case 0:
		e.Rule, e.Category = "local", NetworkError
	}
	return e
}
