package tlsrpt

import (
	"strings"
	"testing"
)

// FuzzParseRecords: any TXT strings a domain publishes either give an
// error or a record whose every rua is a mailto: with an address or an
// https: URL with a host, never anything mtaq would send elsewhere.
func FuzzParseRecords(f *testing.F) {
	for _, s := range []string{"v=TLSRPTv1; rua=mailto:a@x.test", "v=TLSRPTv1;rua=https://r.test/p,mailto:b@x.test",
		"v=TLSRPTv1; rua=mailto:%61@x.test?subject=x", "v=TLSRPTv1; rua=http://r.test/", "v=TLSRPTv1;", "v=spf1 -all"} {
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		rec, err := ParseRecords([]string{a, b})
		if err != nil {
			return
		}
		for _, u := range rec.RUA {
			switch u.Scheme {
			case "mailto":
				addr, err := mailAddress(u)
				if err != nil {
					continue // refused when sending
				}
				if !strings.Contains(addr, "@") {
					t.Fatalf("mailto without an address: %q", u)
				}
			case "https":
				if u.Host == "" {
					t.Fatalf("https without a host: %q", u)
				}
			default:
				t.Fatalf("scheme %q accepted: %q", u.Scheme, u)
			}
		}
	})
}
