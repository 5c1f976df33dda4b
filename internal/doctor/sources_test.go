package doctor

import (
	"net"
	"testing"

	"github.com/mtaq/mtaq/internal/dnstest"
)

// Pool addresses are in the SPF check, and each one's PTR is compared
// with its own pool's EHLO name, not the hostname.
func TestDoctorPoolSources(t *testing.T) {
	srv := dnstest.New(t)
	fixedZone(t, srv)
	srv.Add(
		"20.2.0.192.in-addr.arpa. 300 IN PTR bulk.example.test.",
		"bulk.example.test. 300 IN A 192.0.2.20",
		"21.2.0.192.in-addr.arpa. 300 IN PTR mta.example.test.", // confirmed, but the other pool's name
		"mta.example.test. 300 IN A 192.0.2.21",
	)
	o := exampleOptions()
	o.Sources = []Source{
		{Pool: "bulk", IP: net.ParseIP("192.0.2.20"), EHLO: "bulk.example.test"},
		{Pool: "bulk", IP: net.ParseIP("192.0.2.21"), EHLO: "bulk.example.test"},
	}
	rs := Run(ctxT(t), NewResolver([]string{srv.Addr()}), o)
	wantStatuses(t, rs,
		"PASS spf", "PASS spf-lookups", "PASS spf 192.0.2.10", "PASS spf 192.0.2.11", "FAIL spf 192.0.2.20", "FAIL spf 192.0.2.21",
		"PASS dkim s1._domainkey.example.test", "PASS dkim s2._domainkey.example.test",
		"PASS dmarc", "PASS alignment",
		"PASS ptr 192.0.2.10", "PASS ptr 192.0.2.11",
		"PASS ptr 192.0.2.20 (pool bulk)", "WARN ptr 192.0.2.21 (pool bulk)",
		"PASS ehlo", "PASS bounce-mx", "PASS mta-sts", "PASS tls-rpt")
	if got, want := fixOf(rs, "ptr 192.0.2.21 (pool bulk)"), `set the pool's ehlo = "mta.example.test" in mtaq.toml, or publish 21.2.0.192.in-addr.arpa. PTR bulk.example.test.`; got != want {
		t.Errorf("fix %q, want %q", got, want)
	}
}
