package feedback

import (
	"regexp"
	"strconv"
	"strings"
)

// reAddr finds addresses in free text: a dot-atom local part (letters of
// any script allowed, RFC 6531) and a domain with at least one dot.
var reAddr = regexp.MustCompile(`[\p{L}\p{N}!#$%&'*+/=?^_{|}~.\-]+@(?:[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?\.)+[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?`)

// normAddr cleans one address: angle brackets, a "mailto:", quotes
// around it and trailing punctuation go; the domain is lower-cased.
// "" when what is left is not local@domain.
func normAddr(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			s = s[i+1 : i+j]
		}
	}
	s = strings.Trim(s, " \t<>\"'()[],;:")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "mailto:"), "MAILTO:")
	s = strings.TrimRight(s, ".")
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.ContainsAny(s, " \t\r\n<>") {
		return ""
	}
	local, domain := s[:at], strings.ToLower(strings.TrimRight(s[at+1:], "."))
	if strings.Count(local, "@") > 0 && !strings.HasPrefix(local, `"`) {
		return ""
	}
	return local + "@" + domain
}

// typedAddr reads an RFC 3464 address field, "rfc822; a@b" or
// "utf-8; a\x{E9}@b" (RFC 6533) or a bare address; xtext (+XX) and
// \x{...} escapes are undone.
func typedAddr(v string) string {
	v = strings.TrimSpace(v)
	typ := ""
	if t, rest, ok := strings.Cut(v, ";"); ok && !strings.Contains(t, "@") {
		typ, v = strings.ToLower(strings.TrimSpace(t)), strings.TrimSpace(rest)
	}
	if strings.Contains(v, "\\x{") {
		v = unescapeUTF8(v)
	}
	if typ != "" && strings.Contains(v, "+") {
		v = unXtext(v)
	}
	// A trailing comment: "a@b (expanded from <c@d>)".
	if i := strings.Index(v, " ("); i > 0 && strings.Contains(v[:i], "@") {
		v = v[:i]
	}
	if a := normAddr(v); a != "" {
		return a
	}
	if m := reAddr.FindString(v); m != "" {
		return normAddr(m)
	}
	return ""
}

var reUTF8Esc = regexp.MustCompile(`\\x\{([0-9A-Fa-f]{1,6})\}`)

func unescapeUTF8(s string) string {
	return reUTF8Esc.ReplaceAllStringFunc(s, func(m string) string {
		n, err := strconv.ParseUint(m[3:len(m)-1], 16, 32)
		if err != nil || n > 0x10FFFF {
			return m
		}
		return string(rune(n))
	})
}

var reXtext = regexp.MustCompile(`\+([0-9A-F]{2})`)

// unXtext decodes RFC 3461 xtext ("+2B" is '+'); a '+' not followed by
// two upper-case hex digits is left alone (a plain subaddress).
func unXtext(s string) string {
	return reXtext.ReplaceAllStringFunc(s, func(m string) string {
		n, _ := strconv.ParseUint(m[1:], 16, 8)
		if n < 33 || n > 126 {
			return m
		}
		return string(rune(n))
	})
}

func domainOf(a string) string {
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		return a[i+1:]
	}
	return ""
}

func localOf(a string) string {
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		return a[:i]
	}
	return a
}

// reRedacted matches local parts that a feedback loop put in place of
// the complainant's: "redacted", "xxxxx", "*****", "[hidden]".
var reRedacted = regexp.MustCompile(`(?i)^(?:.*redacted.*|x{3,}|\*+|#+|\.+|[-_]+|hidden|removed|anonymi[sz]ed|undisclosed.*)$`)

// redacted reports whether a complaint's address was masked (F4).
func redacted(a string) bool {
	if a == "" {
		return true
	}
	l := strings.Trim(localOf(a), `"[]<> `)
	return reRedacted.MatchString(l) || strings.Contains(strings.ToLower(domainOf(a)), "redacted")
}

// firstAddr is the first address in a header value (display names and
// comments allowed), "" when none.
func firstAddr(v string) string {
	v = decodeWords(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if a := normAddr(v[i:]); a != "" {
			return a
		}
	}
	if m := reAddr.FindString(v); m != "" {
		return normAddr(m)
	}
	return ""
}

// addrs are all addresses in a header value.
func addrs(v string) []string {
	var out []string
	for _, m := range reAddr.FindAllString(v, 50) {
		if a := normAddr(m); a != "" {
			out = append(out, a)
		}
	}
	return out
}
