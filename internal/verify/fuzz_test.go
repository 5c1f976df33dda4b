package verify

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParseList: any bytes either parse into valid lower-case A-label
// domains or fail naming a line; never a panic.
func FuzzParseList(f *testing.F) {
	f.Add(embeddedDisposable)
	f.Add([]byte("# c\nmailinator.com\n\nBÜCHER.test.\n"))
	f.Add([]byte("a b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := ParseList(bytes.NewReader(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error does not name a line: %v", err)
			}
			return
		}
		for d := range set {
			if !validListDomain(d) || strings.ToLower(d) != d {
				t.Fatalf("accepted %q", d)
			}
		}
	})
}

// FuzzTypo: the bounded distance agrees with the plain one within the
// bound, and a suggestion is always a provider other than the input.
func FuzzTypo(f *testing.F) {
	for _, s := range []string{"gmial.com", "hotmial.com", "yahooo.com", "gmail.com", "", "a"} {
		f.Add(s, "gmail.com")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 64 || len(b) > 64 {
			return
		}
		full := osaDistance(a, b, 1<<30)
		for limit := range 4 {
			got := osaDistance(a, b, limit)
			if full <= limit && got != full || full > limit && got <= limit {
				t.Fatalf("osa(%q,%q,%d)=%d, unbounded %d", a, b, limit, got, full)
			}
		}
		if s, ok := typoOf(a); ok && (s == a || !providerSet[s]) {
			t.Fatalf("typoOf(%q) = %q", a, s)
		}
	})
}
