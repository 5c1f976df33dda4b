package feedback

import (
	"regexp"
	"strings"
)

// complaint reads an RFC 5965 feedback report: the message/feedback-report
// part, or a text part carrying its fields when the producer mislabelled
// it, or a bare forwarded message from a complaints address (the older
// feedback loops). It reports whether the message is a complaint.
func (m *msg) complaint(rep *Report) bool {
	var g hdr
	switch {
	case len(m.arf) > 0:
		g = flatFields(m.arf[0])
	default:
		for _, s := range m.texts {
			if hasARFFields(s) {
				g = flatFields(s)
				break
			}
		}
	}
	if g == nil && !m.looksLikeOldFBL(rep) {
		return false
	}
	rep.Kind = KindComplaint
	rep.FeedbackType = strings.ToLower(firstWord(g.get("feedback-type")))
	if rep.FeedbackType == "" {
		rep.FeedbackType = "abuse"
	}
	rep.UserAgent = g.get("user-agent")
	rep.SourceIP = strings.Trim(g.get("source-ip"), "[] ")
	for _, k := range []string{"arrival-date", "received-date"} {
		if v := g.get(k); v != "" && rep.Arrival.IsZero() {
			rep.Arrival = parseDate(v)
		}
	}
	if v := g.get("original-mail-from"); v != "" {
		if a := firstAddr(v); a != "" {
			rep.Original.Sender = a
		}
		noteToken(rep, v)
	}
	if v := g.get("reporting-mta"); v != "" {
		rep.ReportingMTA = typedHost(v)
	}
	rcpt := ""
	for _, k := range []string{"original-rcpt-to", "removal-recipient"} {
		for _, v := range g.all(k) {
			if a := firstAddr(v); a != "" && !redacted(a) {
				rcpt = a
				break
			}
		}
		if rcpt != "" {
			break
		}
	}
	if rcpt == "" {
		rcpt = m.originalRecipient()
	}
	if rcpt != "" {
		rep.Original.Recipient = rcpt
	}
	// One complainant per report (F4: "" when masked).
	rep.Recipients = []Recipient{{Address: rcpt}}
	return true
}

// flatFields is every field of a report part, groups joined.
func flatFields(s string) hdr {
	var all hdr
	for _, g := range fieldGroups(s) {
		all = append(all, g...)
	}
	if all == nil {
		all = hdr{}
	}
	return all
}

var reARFLine = regexp.MustCompile(`(?im)^feedback-type:\s*[a-z]`)

// hasARFFields: a "Feedback-Type:" field line and one more ARF field.
func hasARFFields(s string) bool {
	if !reARFLine.MatchString(s[:min(len(s), maxBounceText)]) {
		return false
	}
	l := strings.ToLower(s)
	return strings.Contains(l, "user-agent:") || strings.Contains(l, "version:") || strings.Contains(l, "original-rcpt-to:") || strings.Contains(l, "original-mail-from:")
}

var (
	reFBLSubject = regexp.MustCompile(`(?i)\b(complaint|abuse report|spam report|feedback loop|fbl)\b`)
	reFBLFrom    = regexp.MustCompile(`(?i)^(scomp|fbl|feedbackloop|feedback-loop|complaints?|abuse|arf|jmrp|staff)[-_.+@]`)
)

// looksLikeOldFBL: a returned message, a complaints sender, and a subject
// that says complaint. Both signs are needed: abuse desks forward all
// kinds of mail.
func (m *msg) looksLikeOldFBL(rep *Report) bool {
	if len(m.orig) == 0 {
		return false
	}
	from := firstAddr(m.h.get("from"))
	return reFBLFrom.MatchString(from) && reFBLSubject.MatchString(rep.Subject)
}

// originalRecipient is the recipient the returned message names, when it
// names exactly one and did not mask it: Microsoft's
// X-HmXmrOriginalRecipient, else a To with one address.
func (m *msg) originalRecipient() string {
	h := m.originalHeader()
	if h == nil {
		return ""
	}
	for _, k := range []string{"x-hmxmroriginalrecipient", "x-original-to", "delivered-to", "to"} {
		vs := h.all(k)
		if len(vs) != 1 {
			continue
		}
		as := addrs(decodeWords(vs[0]))
		if len(as) == 1 && !redacted(as[0]) {
			return as[0]
		}
	}
	return ""
}
