package feedback

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// fieldGroups reads report fields ("Name: value", continuation lines
// unfolded) in groups: a blank line, or a line that is no field, ends a
// group. Prose around the fields (a mislabelled text part) is skipped.
func fieldGroups(s string) []hdr {
	var groups []hdr
	var cur hdr
	lastWasField := false
	flush := func() {
		if len(cur) > 0 {
			groups = append(groups, cur)
			cur = nil
		}
		lastWasField = false
	}
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimRight(l, "\r")
		switch {
		case strings.TrimSpace(l) == "":
			flush()
		case (l[0] == ' ' || l[0] == '\t') && lastWasField:
			f := &cur[len(cur)-1]
			if len(f.value) < 16<<10 {
				f.value = joinFold(f.value, strings.TrimSpace(l))
			}
		default:
			i := indexColon(l)
			if i < 0 {
				flush()
				continue
			}
			cur = append(cur, field{strings.ToLower(strings.TrimSpace(l[:i])), strings.TrimSpace(l[i+1:])})
			lastWasField = true
		}
		if len(groups) > 4*maxRecipients {
			break
		}
	}
	flush()
	return groups
}

var (
	reEnhanced = regexp.MustCompile(`(?:^|[^0-9.])([245]\.[0-9]{1,3}\.[0-9]{1,3})(?:[^0-9.]|\.(?:[^0-9]|$)|$)`)
	// reReply is an SMTP reply code where replies are quoted: at the
	// start, after punctuation or a word like "said:", followed by a
	// space, '-', ':' or the end.
	reReply = regexp.MustCompile(`(?:^|[\s;:('"\[#<>=,])([245][0-9][0-9])(?:[ \t]*[-:]|[ \t]+|\r?\n|$)`)
)

// findEnhanced is the first RFC 3463 code in s, failure classes first.
func findEnhanced(s string) string {
	var first string
	for _, m := range reEnhanced.FindAllStringSubmatch(s, 20) {
		if m[1][0] != '2' {
			return m[1]
		}
		if first == "" {
			first = m[1]
		}
	}
	return first
}

// findReply is the first failure reply code in s (4xx or 5xx), else the
// first 2xx, with the index after it; 0 when there is none.
func findReply(s string) (code, end int) {
	first, firstEnd := 0, 0
	for _, m := range reReply.FindAllStringSubmatchIndex(s, 50) {
		c, _ := strconv.Atoi(s[m[2]:m[3]])
		if !plausibleCode(c) {
			continue
		}
		if c >= 400 {
			return c, m[3]
		}
		if first == 0 {
			first, firstEnd = c, m[3]
		}
	}
	return first, firstEnd
}

// plausibleCode: a reply code RFC 5321 could send (x[0-5]x).
func plausibleCode(c int) bool { return c >= 200 && c < 600 && c/10%10 <= 5 }

// parseDiagnostic reads a Diagnostic-Code value: "smtp; 550 5.1.1 text"
// or any other type, or free text.
func parseDiagnostic(v string) (code int, enhanced, text string) {
	v = collapse(v)
	if t, rest, ok := strings.Cut(v, ";"); ok && len(t) < 20 && !strings.ContainsAny(strings.TrimSpace(t), " <>@") {
		v = strings.TrimSpace(rest)
	}
	code, enhanced = leadingReply(v)
	if code == 0 {
		code, _ = findReply(v)
	}
	if enhanced == "" {
		enhanced = findEnhanced(v)
	}
	return code, enhanced, capText(v)
}

var reLeading = regexp.MustCompile(`^([245][0-9][0-9])(?:[ -]+(?:#?([245]\.[0-9]{1,3}\.[0-9]{1,3})\b)?|$)`)

// leadingReply reads "550 5.1.1" or "550-5.1.1" at the start of s.
func leadingReply(s string) (int, string) {
	m := reLeading.FindStringSubmatch(s)
	if m == nil {
		return 0, ""
	}
	c, _ := strconv.Atoi(m[1])
	return c, m[2]
}

// replyText is text without its leading reply and enhanced codes, for
// the classifier (it reads the text as the remote wrote it after them).
func replyText(s string) string {
	if m := reLeading.FindStringIndex(s); m != nil {
		return strings.TrimLeft(s[m[1]:], " -:")
	}
	return s
}

var reSpaces = regexp.MustCompile(`\s+`)

// collapse turns runs of white space (folds, tabs, line ends) into one
// space; multi-line replies ("550-5.1.1 ... 550 5.1.1 ...") stay as sent.
func collapse(s string) string { return strings.TrimSpace(reSpaces.ReplaceAllString(s, " ")) }

// capText collapses s and cuts it to maxText bytes on a rune boundary.
func capText(s string) string {
	s = collapse(s)
	if len(s) <= maxText {
		return s
	}
	s = s[:maxText]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// statusFrom is the RFC 3464 status for a recipient: the field when it
// holds one, as written (a more precise code in the diagnostic stays in
// Enhanced); without it, the diagnostic's enhanced code, else the reply
// code's class.
func statusFrom(field, enhanced string, code int) string {
	if m := reStatus.FindString(field); m != "" {
		return m
	}
	switch {
	case enhanced != "":
		return enhanced
	case code >= 400:
		return strconv.Itoa(code/100) + ".0.0"
	}
	return ""
}

var reStatus = regexp.MustCompile(`\b[245]\.[0-9]{1,3}\.[0-9]{1,3}\b`)
