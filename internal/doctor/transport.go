package doctor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mtaq/mtaq/delivery"
)

// DNSSEC is what the DANE checks ask; *delivery.DNSResolver satisfies it.
type DNSSEC interface {
	delivery.DNSSECResolver
	// Validates reports whether the DNS servers set the AD bit.
	Validates(ctx context.Context) (bool, error)
}

// checkSTSPolicy fetches the domain's policy as senders do and checks that
// it covers the domain's own MX hosts: a host missing from an enforce
// policy gets no mail from senders that honour it.
func checkSTSPolicy(ctx context.Context, r Resolver, domain string, fetch func(context.Context, string) (delivery.STSPolicy, error)) []Result {
	url := "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
	p, err := fetch(ctx, domain)
	if err != nil {
		return []Result{{"mta-sts-policy", Fail, err.Error(),
			"serve the policy at " + url + " (text/plain, no redirect) with a certificate valid for mta-sts." + domain}}
	}
	detail := fmt.Sprintf("mode %s, max_age %s, mx %s", p.Mode, p.MaxAge, strings.Join(p.MX, ", "))
	out := []Result{{"mta-sts-policy", Pass, detail, ""}}
	if p.MaxAge < 24*time.Hour && p.Mode != delivery.STSNone {
		out[0] = Result{"mta-sts-policy", Warn, detail + ": max_age under a day makes senders fetch it again and again",
			"set max_age: 604800 (a week) or more once the policy is right"}
	}
	if p.Mode == delivery.STSNone {
		return out
	}
	mxs, err := r.LookupMX(ctx, domain)
	if err != nil && !isNX(err) {
		return append(out, Result{"mta-sts-mx", Fail, "MX lookup: " + err.Error(), "make the DNS for " + domain + " answer"})
	}
	if len(mxs) == 0 {
		mxs = []delivery.MX{{Host: domain}} // implicit MX
	}
	var missing, covered []string
	for _, mx := range mxs {
		if p.Matches(mx.Host) {
			covered = append(covered, mx.Host)
		} else {
			missing = append(missing, mx.Host)
		}
	}
	if len(missing) == 0 {
		return append(out, Result{"mta-sts-mx", Pass, "the policy lists every MX: " + strings.Join(covered, ", "), ""})
	}
	st := Fail
	if p.Mode == delivery.STSTesting {
		st = Warn // reported by senders, not enforced yet
	}
	return append(out, Result{"mta-sts-mx", st, fmt.Sprintf("MX %s not in the %s policy: senders that honour it will not deliver there",
		strings.Join(missing, ", "), p.Mode), "add mx: " + strings.Join(missing, ", mx: ") + " to " + url + " and change the id in _mta-sts." + domain})
}

// checkDANE says whether DANE can work from here (the DNS servers
// validate DNSSEC) and whether the domain's own MX hosts publish TLSA
// records senders can use.
func checkDANE(ctx context.Context, d DNSSEC, domain string, on bool) []Result {
	ok, err := d.Validates(ctx)
	if err != nil {
		return []Result{{"dane-resolver", Fail, "asking the DNS servers for the root zone: " + err.Error(),
			"make [delivery] dns_servers answer"}}
	}
	fix := "run a validating resolver (unbound) on 127.0.0.1 and set [delivery] dns_servers = [\"127.0.0.1:53\"]"
	var out []Result
	switch {
	case !ok && on:
		return []Result{{"dane-resolver", Warn, "DANE not attempted: resolver does not validate (no AD bit on the root zone's answer)", fix}}
	case !ok:
		return []Result{{"dane-resolver", Info, "DANE not attempted: resolver does not validate; [delivery] dane is off", ""}}
	case on:
		out = append(out, Result{"dane-resolver", Pass, "the DNS servers validate DNSSEC (AD set): DANE is enforced", ""})
	default:
		out = append(out, Result{"dane-resolver", Info, "the DNS servers validate DNSSEC; [delivery] dane = true would enforce recipients' TLSA records", ""})
	}
	mxs, secure, err := d.LookupMXSecure(ctx, domain)
	switch {
	case err != nil && !isNX(err):
		return append(out, Result{"dane " + domain, Fail, "MX lookup: " + err.Error(), "make the DNS for " + domain + " answer"})
	case !secure:
		return append(out, Result{"dane " + domain, Info, "the MX of " + domain + " is not DNSSEC-signed: senders cannot use DANE for it", ""})
	case len(mxs) == 0:
		mxs = []delivery.MX{{Host: domain}}
	}
	for _, mx := range mxs {
		name := "_25._tcp." + mx.Host
		recs, sec, err := d.LookupTLSA(ctx, name)
		switch {
		case err != nil:
			out = append(out, Result{"dane " + mx.Host, Fail, name + ": " + err.Error(),
				"make " + name + " answer: senders doing DANE will not deliver to " + mx.Host + " while it fails"})
		case !sec || len(recs) == 0:
			out = append(out, Result{"dane " + mx.Host, Info, "no DNSSEC-validated TLSA record at " + name, ""})
		default:
			var s []string
			for _, r := range recs {
				s = append(s, r.String())
			}
			out = append(out, Result{"dane " + mx.Host, Pass, name + ": " + strings.Join(s, "; "), ""})
		}
	}
	return out
}

// FetchSTS fetches policies the way delivery does, verified against the
// system roots, the policy host looked up through r (Options.FetchSTS for
// the CLI).
func FetchSTS(r Resolver) func(ctx context.Context, domain string) (delivery.STSPolicy, error) {
	c := delivery.NewSTSClient(nil, r)
	return func(ctx context.Context, domain string) (delivery.STSPolicy, error) {
		return delivery.FetchSTSPolicy(ctx, c, domain)
	}
}
