package intake

import (
	"errors"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// RFC 5321 §4.5.3.1 size limits, in octets.
const (
	maxLocalPart = 64
	maxDomain    = 255
	maxPath      = 256 // including the angle brackets
)

// Address is a syntactically checked mailbox, local@domain.
type Address struct {
	Local  string
	Domain string // as given; IP literals keep their brackets
}

// String returns local@domain.
func (a Address) String() string { return a.Local + "@" + a.Domain }

// ASCIIDomain returns the domain as a lower-case A-label (RFC 5890), the
// form DNS and the destination key use: "bücher.test" and
// "xn--bcher-kva.test" are one destination. ParseAddress has checked that
// the conversion succeeds.
func (a Address) ASCIIDomain() string {
	d, _ := toASCII(a.Domain)
	return d
}

// toASCII converts a U-label domain with IDNA's lookup profile; an ASCII
// domain is only lower-cased (delivery does the same).
func toASCII(d string) (string, error) {
	for i := 0; i < len(d); i++ {
		if d[i] >= utf8.RuneSelf {
			a, err := idna.Lookup.ToASCII(d)
			return strings.ToLower(a), err
		}
	}
	return strings.ToLower(d), nil
}

var (
	errNoAt      = errors.New("no @")
	errLength    = errors.New("address too long")
	errLocalPart = errors.New("local part needs quoting or has forbidden characters")
	errDomain    = errors.New("invalid domain")
)

// ParseAddress checks a MAIL/RCPT path as go-smtp hands it over: brackets
// and parameters stripped, a quoted local part already unquoted. Only local
// parts that are valid unquoted (dot-atom) are accepted, so the address can
// be relayed as is and never smuggles '>', spaces or ESMTP parameters.
// utf8 allows non-ASCII (RFC 6531, MAIL ... SMTPUTF8).
func ParseAddress(s string, utf8 bool) (Address, error) {
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return Address{}, errNoAt
	}
	a := Address{Local: s[:i], Domain: s[i+1:]}
	if len(a.Local) > maxLocalPart || len(a.Domain) > maxDomain || len(s)+2 > maxPath {
		return Address{}, errLength
	}
	if !validLocal(a.Local, utf8) {
		return Address{}, errLocalPart
	}
	if !validDomain(a.Domain, utf8) {
		return Address{}, errDomain
	}
	return a, nil
}

// validLocal accepts RFC 5322 dot-atom: atext runs separated by single
// dots, plus non-ASCII letters when utf8 is set.
func validLocal(s string, utf8ok bool) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if r == '.' || isAtext(r) {
			continue
		}
		if !utf8ok || !isUTF8Char(r) {
			return false
		}
	}
	return true
}

func isAtext(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return r < utf8.RuneSelf && strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
}

// isUTF8Char accepts a printable non-ASCII rune; invalid UTF-8 decodes to
// RuneError and is refused.
func isUTF8Char(r rune) bool {
	return r >= utf8.RuneSelf && r != utf8.RuneError &&
		!unicode.IsControl(r) && !unicode.IsSpace(r) && unicode.IsPrint(r)
}

// validDomain accepts a host name or an address literal ([192.0.2.1],
// [IPv6:2001:db8::1]).
func validDomain(s string, utf8ok bool) bool {
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		return validLiteral(s[1 : len(s)-1])
	}
	return validHostname(s, utf8ok)
}

func validLiteral(s string) bool {
	if len(s) > 5 && strings.EqualFold(s[:5], "IPv6:") {
		a, err := netip.ParseAddr(s[5:])
		return err == nil && a.Is6() && a.Zone() == ""
	}
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4()
}

// validHostname checks LDH labels (1..63 octets, no edge hyphens); with
// utf8, labels may hold non-ASCII letters (U-labels), and the name must
// convert to an A-label of at most 255 octets (IDNA lookup profile): the
// address is kept as given, delivery converts the domain for DNS and the
// envelope. An all-numeric last label is refused: a bare IP must be
// bracketed.
func validHostname(s string, utf8ok bool) bool {
	if s == "" {
		return false
	}
	if a, err := toASCII(s); err != nil || len(a) > maxDomain {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			ascii := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-'
			if !ascii && !(utf8ok && isUTF8Label(r)) {
				return false
			}
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}

func isUTF8Label(r rune) bool {
	return r >= utf8.RuneSelf && r != utf8.RuneError &&
		(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r))
}
