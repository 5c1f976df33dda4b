package doctor

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/dnstest"
)

func testResolver(t *testing.T) (*dnstest.Server, Resolver) {
	t.Helper()
	srv := dnstest.New(t)
	return srv, NewResolver([]string{srv.Addr()})
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rfc7208Zone is RFC 7208 Appendix A's example data.
var rfc7208Zone = []string{
	"example.com. 600 IN MX 10 mail-a.example.com.",
	"example.com. 600 IN MX 20 mail-b.example.com.",
	"example.com. 600 IN A 192.0.2.10",
	"example.com. 600 IN A 192.0.2.11",
	"amy.example.com. 600 IN A 192.0.2.65",
	"bob.example.com. 600 IN A 192.0.2.66",
	"mail-a.example.com. 600 IN A 192.0.2.129",
	"mail-b.example.com. 600 IN A 192.0.2.130",
	"www.example.com. 600 IN CNAME example.com.",
	"example.org. 600 IN MX 10 mail-c.example.org.",
	"mail-c.example.org. 600 IN A 192.0.2.140",
}

// TestCheckSPF runs RFC 7208 Appendix A.1's records for example.com
// against addresses they allow and refuse, then the limits of §4.6.4 and
// include/redirect (§5.2, §6.1).
func TestCheckSPF(t *testing.T) {
	cases := []struct {
		record string
		ip     string
		want   SPFResult
	}{
		// A.1: "any sending host allowed"
		{"v=spf1 +all", "192.0.2.200", SPFPass},
		// A.1: a: "hosts 192.0.2.10 and 192.0.2.11 are allowed"
		{"v=spf1 a -all", "192.0.2.10", SPFPass},
		{"v=spf1 a -all", "192.0.2.11", SPFPass},
		{"v=spf1 a -all", "192.0.2.65", SPFFail},
		// A.1: "no sending hosts allowed" (example.org has no A)
		{"v=spf1 a:example.org -all", "192.0.2.10", SPFFail},
		// A.1: mx: 192.0.2.129 and 192.0.2.130
		{"v=spf1 mx -all", "192.0.2.129", SPFPass},
		{"v=spf1 mx -all", "192.0.2.130", SPFPass},
		{"v=spf1 mx -all", "192.0.2.10", SPFFail},
		// A.1: mx:example.org allows 192.0.2.140
		{"v=spf1 mx:example.org -all", "192.0.2.140", SPFPass},
		{"v=spf1 mx mx:example.org -all", "192.0.2.140", SPFPass},
		{"v=spf1 mx mx:example.org -all", "192.0.2.129", SPFPass},
		// A.1: mx/30 and mx:example.org/30 allow the /30 around each
		{"v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.131", SPFPass},
		{"v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.143", SPFPass},
		{"v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.144", SPFFail},
		// A.1: ptr: treated as no match here, so -all decides
		{"v=spf1 ptr -all", "192.0.2.65", SPFFail},
		// A.1: ip4:192.0.2.128/28
		{"v=spf1 ip4:192.0.2.128/28 -all", "192.0.2.143", SPFPass},
		{"v=spf1 ip4:192.0.2.128/28 -all", "192.0.2.144", SPFFail},
		// Qualifiers (§4.6.2) and the default neutral (§4.7).
		{"v=spf1 ~all", "192.0.2.1", SPFSoftFail},
		{"v=spf1 ?all", "192.0.2.1", SPFNeutral},
		{"v=spf1 ip4:192.0.2.1", "192.0.2.2", SPFNeutral},
		{"v=spf1 ip6:2001:db8::/32 -all", "2001:db8::5", SPFPass},
		{"v=spf1 a//64 -all", "2001:db8::5", SPFFail}, // example.com has no AAAA
		// include passes only on pass; redirect takes the target's result.
		{"v=spf1 include:inc.example.net -all", "198.51.100.7", SPFPass},
		{"v=spf1 include:inc.example.net -all", "198.51.100.8", SPFFail},
		{"v=spf1 include:none.example.net -all", "198.51.100.7", SPFPermError},
		{"v=spf1 redirect=inc.example.net", "198.51.100.7", SPFPass},
		{"v=spf1 redirect=inc.example.net", "198.51.100.8", SPFSoftFail},
		// exists with macros (§7): %{ir} is 1.2.0.192.
		{"v=spf1 exists:%{ir}.allow.example.net -all", "192.0.2.1", SPFPass},
		{"v=spf1 exists:%{i}.allow.example.net -all", "192.0.2.1", SPFFail},
		{"v=spf1 exists:%{ir}.%{v}.example.net -all", "192.0.2.1", SPFPermError}, // v is not supported
		// §4.6.4: more than 10 lookups; more than 2 void lookups.
		{"v=spf1 a a a a a a a a a a a -all", "198.51.100.9", SPFPermError},
		{"v=spf1 a:v1.example.net a:v2.example.net a:v3.example.net -all", "198.51.100.9", SPFPermError},
		{"v=spf1 a:v1.example.net a:v2.example.net -all", "198.51.100.9", SPFFail},
		// §4.6: unknown mechanisms are errors; unknown modifiers are not.
		{"v=spf1 foo -all", "192.0.2.1", SPFPermError},
		{"v=spf1 foo=bar -all", "192.0.2.1", SPFFail},
	}
	srv, _ := testResolver(t)
	srv.Add(rfc7208Zone...)
	srv.Add(`inc.example.net. 300 IN TXT "v=spf1 ip4:198.51.100.7 ~all"`,
		`1.2.0.192.allow.example.net. 300 IN A 127.0.0.2`)
	for _, c := range cases {
		srv.Reset("example.com")
		srv.Add(rfc7208Zone[:4]...)
		srv.Add(`example.com. 300 IN TXT "` + c.record + `"`)
		// A new resolver each time: delivery's caches answers.
		r := NewResolver([]string{srv.Addr()})
		ev := CheckSPF(ctxT(t), r, net.ParseIP(c.ip), "example.com", "")
		if ev.Result != c.want {
			t.Errorf("%q for %s: %s (%s), want %s", c.record, c.ip, ev.Result, ev.Why, c.want)
		}
	}
}

func TestSPFRecordCount(t *testing.T) {
	srv, r := testResolver(t)
	srv.Add(`two.test. 300 IN TXT "v=spf1 -all"`, `two.test. 300 IN TXT "v=spf1 +all"`,
		`one.test. 300 IN TXT "v=spf10 +all"`, `one.test. 300 IN TXT "other"`)
	if ev := CheckSPF(ctxT(t), r, net.ParseIP("192.0.2.1"), "two.test", ""); ev.Result != SPFPermError {
		t.Errorf("two records: %v", ev)
	}
	if ev := CheckSPF(ctxT(t), r, net.ParseIP("192.0.2.1"), "one.test", ""); ev.Result != SPFNone {
		t.Errorf("v=spf10 is not SPF: %v", ev)
	}
}

func TestCountSPFLookups(t *testing.T) {
	srv, r := testResolver(t)
	srv.Add(`a.test. 300 IN TXT "v=spf1 a mx include:b.test ip4:192.0.2.1 redirect=c.test"`,
		`b.test. 300 IN TXT "v=spf1 exists:%{i}.b.test include:c.test -all"`,
		`c.test. 300 IN TXT "v=spf1 ptr ~all"`,
		`d.test. 300 IN TXT "v=spf1 a -all redirect=c.test"`)
	// a.test: a, mx, include, redirect (4) + b.test: exists, include (2) +
	// c.test twice: ptr (1 each).
	for domain, want := range map[string]int{"a.test": 8, "b.test": 3, "d.test": 1} {
		if n, err := CountSPFLookups(ctxT(t), r, domain); err != nil || n != want {
			t.Errorf("%s: %d %v, want %d", domain, n, err, want)
		}
	}
}
