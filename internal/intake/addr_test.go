package intake

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseAddress(t *testing.T) {
	ok := []string{
		"a@b.test", "first.last+tag@example.com", "!#$%&'*+-/=?^_`{|}~@x.test",
		"a@[192.0.2.1]", "a@[IPv6:2001:db8::1]", "a@[ipv6:::1]", "a@localhost",
		strings.Repeat("l", 64) + "@x.test", "a@xn--bcher-kva.test", "a@1a.test",
	}
	bad := []string{
		"", "a", "@x.test", "a@", "a b@x.test", "a>@x.test", "a<@x.test", "a\"b@x.test",
		"a\x00@x.test", "a\r\n@x.test", "a\t@x.test", ".a@x.test", "a.@x.test", "a..b@x.test",
		"a(c)@x.test", "a,b@x.test", "a;b@x.test", "a:b@x.test", "a\\b@x.test", "a@b@x.test",
		"a@x.test.", "a@.x.test", "a@-x.test", "a@x-.test", "a@x_y.test", "a@1.2.3.4",
		"a@[1.2.3]", "a@[IPv6:1.2.3.4]", "a@[2001:db8::1]", "a@[IPv6:fe80::1%eth0]",
		"a@x.test NOTIFY=NEVER", "a> NOTIFY=NEVER@x.test", "a@[tag:content]",
		strings.Repeat("l", 65) + "@x.test", "a@" + strings.Repeat("d", 64) + ".test",
		"a@" + strings.Repeat("d.", 127) + "test", "üser@x.test", "a@bücher.test",
	}
	for _, s := range ok {
		a, err := ParseAddress(s, false)
		if err != nil || a.String() != s {
			t.Errorf("ParseAddress(%q) = %v, %v", s, a, err)
		}
	}
	for _, s := range bad {
		if a, err := ParseAddress(s, false); err == nil {
			t.Errorf("ParseAddress(%q) accepted: %+v", s, a)
		}
	}
	for s, want := range map[string]bool{
		"üser@x.test": true, "a@bücher.test": true, "日本@例え.jp": true,
		"a\u00a0b@x.test": false, "a\u0085@x.test": false, "a@b\xff.test": false,
		"\xc3@x.test": false, "a@💌.test": false,
	} {
		if _, err := ParseAddress(s, true); (err == nil) != want {
			t.Errorf("ParseAddress(%q, utf8) err = %v, want ok=%v", s, err, want)
		}
	}
}

// TestASCIIDomain: issue 22, defect 8. A U-label domain is checked by IDNA
// and its A-label is the destination key; what IDNA refuses is refused.
func TestASCIIDomain(t *testing.T) {
	for s, want := range map[string]string{
		"u@bücher.test": "xn--bcher-kva.test", "u@BÜCHER.test": "xn--bcher-kva.test",
		"u@xn--bcher-kva.test": "xn--bcher-kva.test", "u@X.Test": "x.test", "u@[IPv6:::1]": "[ipv6:::1]",
	} {
		a, err := ParseAddress(s, true)
		if err != nil || a.ASCIIDomain() != want || a.String() != s {
			t.Errorf("ParseAddress(%q) = %+v (%q), %v; want domain key %q", s, a, a.ASCIIDomain(), err, want)
		}
	}
	// A joiner where IDNA allows none, and a bidi mix IDNA refuses.
	for _, s := range []string{"u@a\u200db.test", "u@a\u05d0.test"} {
		if a, err := ParseAddress(s, true); err == nil {
			t.Errorf("ParseAddress(%q) accepted: %+v", s, a)
		}
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"a@b.test", "a@[IPv6:::1]", "a> NOTIFY=NEVER@x", "üser@bücher.test", "a@[1.2.3.4]"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, utf8ok bool) {
		a, err := ParseAddress(s, utf8ok)
		if err != nil {
			return
		}
		if a.String() != s || len(s)+2 > maxPath || len(a.Local) > maxLocalPart {
			t.Fatalf("accepted %q as %+v", s, a)
		}
		// Nothing that could end the path or start a parameter when relayed.
		if strings.ContainsAny(s, " \t\r\n\x00<>\"\\,;()") {
			t.Fatalf("accepted %q with a forbidden character", s)
		}
		if !utf8.ValidString(s) || (!utf8ok && !isASCII(s)) {
			t.Fatalf("accepted %q: bad encoding", s)
		}
		if b, err := ParseAddress(a.String(), utf8ok); err != nil || b != a {
			t.Fatalf("not idempotent: %q → %+v, %v", s, b, err)
		}
		if d := a.ASCIIDomain(); d == "" || !isASCII(d) {
			t.Fatalf("%q: domain key %q", s, d)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
