package doctor

import (
	"crypto/ed25519"
	"net"
	"strings"
	"testing"

	"github.com/mtaq/mtaq/internal/dkim"
	"github.com/mtaq/mtaq/internal/dnstest"
)

func edKey(seed byte) ed25519.PublicKey {
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	return ed25519.NewKeyFromSeed(s).Public().(ed25519.PublicKey)
}

func txt(name, value string) string {
	var q []string
	for _, s := range dkim.SplitTXT(value) {
		q = append(q, `"`+s+`"`)
	}
	return name + ". 300 IN TXT " + strings.Join(q, " ")
}

func dkimTXT(t *testing.T, name string, pub ed25519.PublicKey) string {
	rec, err := dkim.Record(pub)
	if err != nil {
		t.Fatal(err)
	}
	return txt(name, rec)
}

// exampleOptions: From example.test, MAIL FROM bounces.example.test, two
// outbound addresses, two selectors.
func exampleOptions() Options {
	return Options{
		Domain:           "example.test",
		ReturnPathDomain: "bounces.example.test",
		IPs:              []net.IP{net.ParseIP("192.0.2.10"), net.ParseIP("192.0.2.11")},
		Hostname:         "mta.example.test",
		DKIM: []DKIMKey{
			{Domain: "example.test", Selector: "s1", Public: edKey(1)},
			{Domain: "example.test", Selector: "s2", Public: edKey(2)},
			{Domain: "other.test", Selector: "s1", Public: edKey(3)}, // signs for another domain: not checked
		},
	}
}

// brokenZone has one FAIL of each kind but the missing SPF record
// (TestDoctorSPFRecord): SPF over the lookup limit, a selector with
// another key and one missing, a DMARC policy that does not parse and asks
// strict alignment, a PTR missing and one not forward-confirmed, an EHLO
// name without address, MTA-STS and TLS-RPT records with bad values.
func brokenZone(t *testing.T, srv *dnstest.Server) {
	srv.Add(
		txt("bounces.example.test", "v=spf1 ip4:192.0.2.11 a a a a a a a a a a a -all"),
		"bounces.example.test. 300 IN A 198.51.100.1",
		dkimTXT(t, "s1._domainkey.example.test", edKey(9)),
		txt("_dmarc.example.test", "v=DMARC1; p=monitor; aspf=s"),
		"11.2.0.192.in-addr.arpa. 300 IN PTR old.example.test.",
		txt("_mta-sts.example.test", "v=STSv1; id=2026-01-01"),
		txt("_smtp._tls.example.test", "v=TLSRPTv1; rua=tls@example.test"),
	)
}

// fixedZone is brokenZone with each fix applied.
func fixedZone(t *testing.T, srv *dnstest.Server) {
	srv.Add(
		txt("bounces.example.test", "v=spf1 ip4:192.0.2.10 ip4:192.0.2.11 -all"),
		dkimTXT(t, "s1._domainkey.example.test", edKey(1)),
		dkimTXT(t, "s2._domainkey.example.test", edKey(2)),
		txt("_dmarc.example.test", "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@example.test"),
		"10.2.0.192.in-addr.arpa. 300 IN PTR mta.example.test.",
		"bounces.example.test. 300 IN MX 10 mta.example.test.",
		"11.2.0.192.in-addr.arpa. 300 IN PTR mta.example.test.",
		"mta.example.test. 300 IN A 192.0.2.10",
		"mta.example.test. 300 IN A 192.0.2.11",
		txt("_mta-sts.example.test", "v=STSv1; id=20260101"),
		txt("_smtp._tls.example.test", "v=TLSRPTv1; rua=mailto:tls-reports@example.test"),
	)
}

// wantStatuses compares "STATUS check" of each result and logs the lines.
func wantStatuses(t *testing.T, rs []Result, want ...string) {
	t.Helper()
	for _, l := range Lines(rs) {
		t.Log(l)
	}
	var got []string
	for _, r := range rs {
		got = append(got, string(r.Status)+" "+r.Check)
		if (r.Status == Warn || r.Status == Fail) && r.Fix == "" {
			t.Errorf("%s %s has no fix", r.Status, r.Check)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func fixOf(rs []Result, check string) string {
	for _, r := range rs {
		if r.Check == check {
			return r.Fix
		}
	}
	return ""
}

func TestDoctorBrokenThenFixed(t *testing.T) {
	srv := dnstest.New(t)
	brokenZone(t, srv)
	rs := Run(ctxT(t), NewResolver([]string{srv.Addr()}), exampleOptions())
	wantStatuses(t, rs,
		"PASS spf", "FAIL spf-lookups", "FAIL spf 192.0.2.10", "PASS spf 192.0.2.11",
		"FAIL dkim s1._domainkey.example.test", "FAIL dkim s2._domainkey.example.test",
		"FAIL dmarc", "FAIL alignment",
		"FAIL ptr 192.0.2.10", "FAIL ptr 192.0.2.11", "FAIL ehlo", "WARN bounce-mx",
		"FAIL mta-sts", "FAIL tls-rpt")
	if !Failed(rs) {
		t.Error("Failed is false")
	}
	// The fixes are the records fixedZone publishes.
	s2, _ := dkim.Record(edKey(2))
	for check, want := range map[string]string{
		"dkim s2._domainkey.example.test": `publish s2._domainkey.example.test. TXT "` + s2 + `"`,
		"dmarc":                           `publish _dmarc.example.test. TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@example.test"`,
		"ehlo":                            "publish mta.example.test. A 192.0.2.10",
		"bounce-mx":                       "publish bounces.example.test. MX 10 mta.example.test. (the host running the [bounce] listener on port 25)",
		"ptr 192.0.2.10":                  "ask the owner of 192.0.2.10 to publish 10.2.0.192.in-addr.arpa. PTR mta.example.test.",
		"ptr 192.0.2.11":                  "publish old.example.test. A 192.0.2.11",
		"tls-rpt":                         `publish _smtp._tls.example.test. TXT "v=TLSRPTv1; rua=mailto:tls-reports@example.test"`,
	} {
		if got := fixOf(rs, check); got != want {
			t.Errorf("%s fix:\n got %s\nwant %s", check, got, want)
		}
	}

	for _, n := range []string{"bounces.example.test", "s1._domainkey.example.test", "_dmarc.example.test",
		"11.2.0.192.in-addr.arpa", "_mta-sts.example.test", "_smtp._tls.example.test"} {
		srv.Reset(n)
	}
	fixedZone(t, srv)
	rs = Run(ctxT(t), NewResolver([]string{srv.Addr()}), exampleOptions())
	wantStatuses(t, rs,
		"PASS spf", "PASS spf-lookups", "PASS spf 192.0.2.10", "PASS spf 192.0.2.11",
		"PASS dkim s1._domainkey.example.test", "PASS dkim s2._domainkey.example.test",
		"PASS dmarc", "PASS alignment",
		"PASS ptr 192.0.2.10", "PASS ptr 192.0.2.11", "PASS ehlo", "PASS bounce-mx",
		"PASS mta-sts", "PASS tls-rpt")
	if Failed(rs) {
		t.Error("Failed is true")
	}
}

// TestDoctorSPFRecord: the SPF record's own FAILs, which stop the other
// SPF checks.
func TestDoctorSPFRecord(t *testing.T) {
	srv := dnstest.New(t)
	fixedZone(t, srv)
	srv.Reset("bounces.example.test")
	rs := checkSPF(ctxT(t), NewResolver([]string{srv.Addr()}), "bounces.example.test", exampleOptions().IPs)
	wantStatuses(t, rs, "FAIL spf")
	if want := `publish bounces.example.test. TXT "v=spf1 ip4:192.0.2.10 ip4:192.0.2.11 -all"`; rs[0].Fix != want {
		t.Errorf("fix %q, want %q", rs[0].Fix, want)
	}
	srv.Add(txt("bounces.example.test", "v=spf1 -all"), txt("bounces.example.test", "v=spf1 +all"))
	rs = checkSPF(ctxT(t), NewResolver([]string{srv.Addr()}), "bounces.example.test", exampleOptions().IPs)
	wantStatuses(t, rs, "FAIL spf")
}

// TestDoctorWarnings: what works but could be better.
func TestDoctorWarnings(t *testing.T) {
	srv := dnstest.New(t)
	fixedZone(t, srv)
	for _, n := range []string{"bounces.example.test", "_dmarc.example.test", "_mta-sts.example.test",
		"_smtp._tls.example.test", "10.2.0.192.in-addr.arpa"} {
		srv.Reset(n)
	}
	srv.Add(txt("bounces.example.test", "v=spf1 ptr ip4:192.0.2.10 -all"),
		txt("_dmarc.example.test", "v=DMARC1; p=none"), // found here for mail.example.test too
		"10.2.0.192.in-addr.arpa. 300 IN PTR mx1.example.test.",
		"mx1.example.test. 300 IN A 192.0.2.10")
	o := exampleOptions()
	o.Domain, o.ReturnPathDomain = "mail.example.test", "" // signed by example.test's keys
	o.IPs = o.IPs[:1]
	srv.Add(txt("mail.example.test", "v=spf1 ptr ip4:192.0.2.10 -all"))
	rs := Run(ctxT(t), NewResolver([]string{srv.Addr()}), o)
	wantStatuses(t, rs,
		"PASS spf", "PASS spf-lookups", "PASS spf 192.0.2.10", "WARN spf-ptr",
		"PASS dkim s1._domainkey.example.test", "PASS dkim s2._domainkey.example.test",
		"WARN dmarc", "PASS alignment", "WARN ptr 192.0.2.10", "PASS ehlo", "INFO bounce-mx",
		"WARN mta-sts", "WARN tls-rpt")
	if Failed(rs) {
		t.Error("warnings alone failed")
	}

	o.IPs, o.DKIM = nil, nil
	rs = Run(ctxT(t), NewResolver([]string{srv.Addr()}), o)
	wantStatuses(t, rs, "PASS spf", "PASS spf-lookups", "WARN outbound-ip", "WARN dkim",
		"WARN dmarc", "PASS alignment", "PASS ehlo", "INFO bounce-mx", "WARN mta-sts", "WARN tls-rpt")
}
