package doctor

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/internal/dnstest"
)

// only keeps the results whose check starts with one of prefixes.
func only(rs []Result, prefixes ...string) []Result {
	var out []Result
	for _, r := range rs {
		for _, p := range prefixes {
			if strings.HasPrefix(r.Check, p) {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

func policyFetch(body string, err error) func(context.Context, string) (delivery.STSPolicy, error) {
	return func(context.Context, string) (delivery.STSPolicy, error) {
		if err != nil {
			return delivery.STSPolicy{}, err
		}
		return delivery.ParseSTSPolicy([]byte(body))
	}
}

// TestDoctorMTASTSPolicy: the policy is fetched, and an MX of the domain
// missing from an enforce policy is a FAIL naming it; a fetch failure is
// a FAIL too.
func TestDoctorMTASTSPolicy(t *testing.T) {
	srv := dnstest.New(t)
	fixedZone(t, srv)
	srv.MX("example.test", 10, "mx1.example.test")
	srv.MX("example.test", 20, "mx2.example.test")
	r := NewResolver([]string{srv.Addr()})
	o := exampleOptions()
	o.FetchSTS = policyFetch("version: STSv1\nmode: enforce\nmx: mx1.example.test\nmax_age: 604800\n", nil)
	rs := only(Run(ctxT(t), r, o), "mta-sts")
	wantStatuses(t, rs, "PASS mta-sts", "PASS mta-sts-policy", "FAIL mta-sts-mx")
	if !strings.Contains(rs[2].Detail, "MX mx2.example.test not in the enforce policy") || !strings.Contains(rs[2].Fix, "mx: mx2.example.test") {
		t.Errorf("mx coverage: %+v", rs[2])
	}
	o.FetchSTS = policyFetch("version: STSv1\nmode: enforce\nmx: *.example.test\nmax_age: 604800\n", nil)
	wantStatuses(t, only(Run(ctxT(t), r, o), "mta-sts"), "PASS mta-sts", "PASS mta-sts-policy", "PASS mta-sts-mx")
	o.FetchSTS = policyFetch("", errors.New("x509: certificate signed by unknown authority"))
	wantStatuses(t, only(Run(ctxT(t), r, o), "mta-sts"), "PASS mta-sts", "FAIL mta-sts-policy")
}

// TestDoctorDANE: a resolver that does not validate makes DANE a WARN
// saying it is not attempted; one that does (AD set) checks the TLSA
// records of the domain's MX hosts.
func TestDoctorDANE(t *testing.T) {
	srv := dnstest.New(t)
	fixedZone(t, srv)
	srv.MX("example.test", 10, "mx1.example.test")
	srv.MX("example.test", 20, "mx2.example.test")
	srv.Add(". 300 IN NS a.root-servers.test.")
	r := NewResolver([]string{srv.Addr()})
	o := exampleOptions()
	o.DNSSEC, o.DANE = r, true
	rs := only(Run(ctxT(t), r, o), "dane")
	wantStatuses(t, rs, "WARN dane-resolver")
	if want := "DANE not attempted: resolver does not validate"; !strings.HasPrefix(rs[0].Detail, want) {
		t.Errorf("detail %q, want it to start %q", rs[0].Detail, want)
	}

	srv.Secure(".", true)
	srv.Secure("example.test", true)
	srv.Add("_25._tcp.mx1.example.test. 300 IN TLSA 3 1 1 " + strings.Repeat("ab", 32))
	srv.Secure("_25._tcp.mx1.example.test", true)
	r = NewResolver([]string{srv.Addr()}) // a fresh cache
	o.DNSSEC = r
	wantStatuses(t, only(Run(ctxT(t), r, o), "dane"), "PASS dane-resolver", "PASS dane mx1.example.test", "INFO dane mx2.example.test")
}
