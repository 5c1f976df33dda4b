package doctor

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/internal/dkim"
)

// Resolver is what the checks ask DNS; *delivery.DNSResolver satisfies it.
// NXDOMAIN is an error matching delivery.ErrNXDomain, no records (nil, nil).
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupIP(ctx context.Context, host string) ([]net.IP, error)
	LookupMX(ctx context.Context, domain string) ([]delivery.MX, error)
	LookupPTR(ctx context.Context, ip net.IP) ([]string, error)
}

// NewResolver is delivery's resolver asking servers (resolv.conf when
// none), allowed one MX more than SPF's limit so that going over it shows.
func NewResolver(servers []string) *delivery.DNSResolver {
	return delivery.NewResolver(servers, delivery.WithMaxMX(maxMXNames+1))
}

// Status is a check's verdict. Only FAIL makes the doctor exit non-zero.
type Status string

// Statuses.
const (
	Pass Status = "PASS"
	Warn Status = "WARN"
	Fail Status = "FAIL"
	Info Status = "INFO" // not checked, and nothing to fix
)

// Result is one check.
type Result struct {
	Check  string `json:"check"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	// Fix is one sentence, usually the record to publish; WARN and FAIL only.
	Fix string `json:"fix"`
}

// DKIMKey is a configured signing key as the checks need it.
type DKIMKey struct {
	Domain, Selector string
	// Public is nil when the key file could not be read; LoadErr says why.
	Public  crypto.PublicKey
	LoadErr error
}

// Options are what the checks compare DNS with.
type Options struct {
	Domain string // the From domain
	// ReturnPathDomain is the MAIL FROM domain, whose SPF receivers check;
	// "" means Domain.
	ReturnPathDomain string
	IPs              []net.IP // outbound addresses
	Hostname         string   // what EHLO says
	Sources          []Source // [[delivery.pool]] addresses: in SPF, each PTR checked against its pool's EHLO
	DKIM             []DKIMKey
	// FetchSTS fetches a domain's MTA-STS policy as delivery does
	// (delivery.FetchSTSPolicy); nil: the policy is not checked.
	FetchSTS func(ctx context.Context, domain string) (delivery.STSPolicy, error)
	// DNSSEC, when set, adds the DANE checks; DANE is [delivery] dane.
	DNSSEC DNSSEC
	DANE   bool
}

// Run performs every check in a fixed order.
func Run(ctx context.Context, r Resolver, o Options) []Result {
	o.Domain = normal(o.Domain)
	rp := normal(o.ReturnPathDomain)
	if rp == "" {
		rp = o.Domain
	}
	var out []Result
	out = append(out, checkSPF(ctx, r, rp, sourceIPs(o.IPs, o.Sources))...)
	out = append(out, checkDKIMKeys(ctx, r, o.Domain, o.DKIM)...)
	dmarc, aspf := checkDMARC(ctx, r, o.Domain)
	out = append(out, dmarc, checkAlignment(o.Domain, rp, aspf))
	out = append(out, checkPTRs(ctx, r, o.IPs, normal(o.Hostname))...)
	out = append(out, checkSources(ctx, r, o.Sources)...)
	out = append(out, checkEHLO(ctx, r, normal(o.Hostname), o.IPs))
	out = append(out, checkBounceMX(ctx, r, o.Domain, rp, normal(o.Hostname)))
	sts := checkMTASTS(ctx, r, o.Domain)
	out = append(out, sts)
	if o.FetchSTS != nil && sts.Status == Pass {
		out = append(out, checkSTSPolicy(ctx, r, o.Domain, o.FetchSTS)...)
	}
	out = append(out, checkTLSRPT(ctx, r, o.Domain))
	if o.DNSSEC != nil {
		out = append(out, checkDANE(ctx, o.DNSSEC, o.Domain, o.DANE)...)
	}
	return out
}

func normal(d string) string { return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), ".")) }

// Failed reports whether any result is FAIL.
func Failed(rs []Result) bool {
	return slices.ContainsFunc(rs, func(r Result) bool { return r.Status == Fail })
}

// Lines renders results one a line: "STATUS  check  detail  → fix", the
// check names padded to one width.
func Lines(rs []Result) []string {
	w := 0
	for _, r := range rs {
		w = max(w, len(r.Check))
	}
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		l := fmt.Sprintf("%-4s  %-*s  %s", r.Status, w, r.Check, r.Detail)
		if r.Fix != "" {
			l += "  → " + r.Fix
		}
		out = append(out, l)
	}
	return out
}

// Print writes Lines to w.
func Print(w io.Writer, rs []Result) error {
	for _, l := range Lines(rs) {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}

// zone is a record in zone-file syntax, TXT values quoted and cut into
// 255-octet strings.
func zone(name, typ, value string) string {
	if typ == "TXT" {
		var q []string
		for _, s := range dkim.SplitTXT(value) {
			q = append(q, `"`+s+`"`)
		}
		value = strings.Join(q, " ")
	}
	return fmt.Sprintf("publish %s. %s %s", name, typ, value)
}

func isNX(err error) bool { return errors.Is(err, delivery.ErrNXDomain) }

func ipMech(ip net.IP) string {
	if ip.To4() != nil {
		return "ip4:" + ip.String()
	}
	return "ip6:" + ip.String()
}

func addrType(ip net.IP) string {
	if ip.To4() != nil {
		return "A"
	}
	return "AAAA"
}

// checkSPF: one record, the lookup limit, and a pass for each address.
func checkSPF(ctx context.Context, r Resolver, domain string, ips []net.IP) []Result {
	var mechs []string
	for _, ip := range ips {
		mechs = append(mechs, ipMech(ip))
	}
	if len(mechs) == 0 {
		mechs = []string{"ip4:ADDRESS"}
	}
	suggest := zone(domain, "TXT", "v=spf1 "+strings.Join(mechs, " ")+" -all")
	rec, res, err := FetchSPF(ctx, r, domain)
	var out []Result
	switch {
	case err != nil && res == SPFPermError:
		return []Result{{"spf", Fail, err.Error(), "merge them into one v=spf1 record"}}
	case err != nil:
		return []Result{{"spf", Fail, err.Error(), "make " + domain + "'s DNS answer TXT queries"}}
	case res == SPFNone:
		out = append(out, Result{"spf", Fail, "no v=spf1 record at " + domain, suggest})
	default:
		out = append(out, Result{"spf", Pass, "one record at " + domain + ": " + rec, ""})
		n, err := CountSPFLookups(ctx, r, domain)
		switch {
		case err != nil:
			out = append(out, Result{"spf-lookups", Fail, err.Error(), "fix the record so every include and redirect resolves"})
		case n > maxLookups:
			out = append(out, Result{"spf-lookups", Fail, fmt.Sprintf("%d DNS lookups, over the limit of %d: receivers answer permerror", n, maxLookups),
				"replace includes with the ip4:/ip6: networks they list, to 10 lookups or fewer"})
		default:
			out = append(out, Result{"spf-lookups", Pass, fmt.Sprintf("%d of %d DNS lookups", n, maxLookups), ""})
		}
	}
	if len(ips) == 0 {
		return append(out, Result{"outbound-ip", Warn, "mtaq's outbound addresses are unknown: SPF and PTR not evaluated",
			"run again with --ip ADDRESS for each address mtaq sends from"})
	}
	if res == SPFNone {
		return out
	}
	ptr := false
	for _, ip := range ips {
		ev := CheckSPF(ctx, r, ip, domain, "")
		ptr = ptr || ev.UsedPTR
		check := "spf " + ip.String()
		switch ev.Result {
		case SPFPass:
			out = append(out, Result{check, Pass, "pass: " + ev.Why, ""})
		case SPFPermError, SPFTempError:
			out = append(out, Result{check, Fail, string(ev.Result) + ": " + ev.Why, "correct " + domain + "'s SPF record so it evaluates"})
		default:
			fixed := "v=spf1 " + ipMech(ip) + rec[len("v=spf1"):]
			out = append(out, Result{check, Fail, string(ev.Result) + ": " + ev.Why, zone(domain, "TXT", fixed)})
		}
	}
	if ptr {
		out = append(out, Result{"spf-ptr", Warn, "the record uses ptr, which RFC 7208 §5.5 says not to use; counted as no match",
			"replace ptr with the ip4:/ip6: networks it stands for"})
	}
	return out
}

// checkDKIMKeys checks the configured keys that sign for domain.
func checkDKIMKeys(ctx context.Context, r Resolver, domain string, keys []DKIMKey) []Result {
	var out []Result
	for _, k := range keys {
		kd := normal(k.Domain)
		if domain == kd || strings.HasSuffix(domain, "."+kd) {
			out = append(out, CheckDKIM(ctx, r, k))
		}
	}
	if len(out) == 0 {
		out = append(out, Result{"dkim", Warn, "no [[dkim]] key signs for " + domain + ": its mail goes unsigned",
			"add a [[dkim]] key for " + domain + " to mtaq.toml and publish its record"})
	}
	return out
}

// CheckDKIM looks up a selector's record and compares it with the key:
// it must exist, be one record, parse, and publish the same key.
func CheckDKIM(ctx context.Context, r Resolver, k DKIMKey) Result {
	name := normal(dkim.RecordName(k.Selector, k.Domain))
	res := Result{Check: "dkim " + name}
	fix := "publish the record `mtaq dkim keygen` printed for " + name
	if k.Public != nil {
		if rec, err := dkim.Record(k.Public); err == nil {
			fix = zone(name, "TXT", rec)
		}
	}
	txts, err := r.LookupTXT(ctx, name)
	if err != nil && !isNX(err) {
		res.Status, res.Detail, res.Fix = Fail, "lookup failed: "+err.Error(), "make the DNS for "+name+" answer"
		return res
	}
	var recs []string
	for _, t := range txts {
		if len(withVersion([]string{t}, "DKIM1")) == 1 || strings.Contains(t, "p=") {
			recs = append(recs, t)
		}
	}
	switch len(recs) {
	case 0:
		res.Status, res.Detail, res.Fix = Fail, "not published", fix
		return res
	case 1:
	default:
		res.Status, res.Detail, res.Fix = Fail, fmt.Sprintf("%d key records: verifiers may take any", len(recs)), "keep one: "+fix
		return res
	}
	tags, err := parseTags(recs[0])
	if err == nil && tags["v"] != "" && tags["v"] != "DKIM1" {
		err = fmt.Errorf("v=%s is not DKIM1", tags["v"])
	}
	if err != nil {
		res.Status, res.Detail, res.Fix = Fail, "does not parse: "+err.Error(), fix
		return res
	}
	if k.Public == nil {
		res.Status, res.Detail = Warn, "published and parses; not compared: the key file could not be read"
		res.Fix = "make key_file readable"
		if k.LoadErr != nil {
			res.Fix += " (" + k.LoadErr.Error() + ")"
		}
		return res
	}
	if err := dkimKeyMatches(tags, k.Public); err != nil {
		res.Status, res.Detail, res.Fix = Fail, "published but "+err.Error(), fix
		return res
	}
	k2 := tags["k"]
	if k2 == "" {
		k2 = "rsa"
	}
	res.Status, res.Detail = Pass, "published, k="+k2+", matches the configured key"
	return res
}

// checkDMARC finds the policy for domain, at _dmarc.domain or else at the
// organisational domain (here: domain less its first label), and returns
// its aspf= for the alignment check.
func checkDMARC(ctx context.Context, r Resolver, domain string) (Result, string) {
	rua := "mailto:dmarc-reports@" + domain
	where, rec, err := findDMARC(ctx, r, domain)
	at := domain
	if where != "" {
		at = where // fix the record where it is
	}
	suggest := func(p string) string {
		return zone("_dmarc."+at, "TXT", "v=DMARC1; p="+p+"; rua="+rua)
	}
	if err != nil {
		return Result{"dmarc", Fail, err.Error(), suggest("quarantine")}, ""
	}
	if rec == "" {
		return Result{"dmarc", Fail, "no v=DMARC1 record at _dmarc." + domain, suggest("quarantine")}, ""
	}
	tags, err := parseTags(rec)
	if err != nil {
		return Result{"dmarc", Fail, "_dmarc." + where + " does not parse: " + err.Error(), suggest("quarantine")}, ""
	}
	if tags["rua"] != "" {
		rua = tags["rua"]
	}
	p := strings.ToLower(tags["p"])
	from := ""
	if where != domain {
		from = " (organisational domain " + where + ")"
		if sp := strings.ToLower(tags["sp"]); sp != "" {
			p = sp
		}
	}
	aspf := strings.ToLower(tags["aspf"])
	switch p {
	case "quarantine", "reject":
		return Result{"dmarc", Pass, "p=" + p + from, ""}, aspf
	case "none":
		return Result{"dmarc", Warn, "p=none" + from + ": monitoring only, receivers act on nothing", suggest("quarantine")}, aspf
	}
	return Result{"dmarc", Fail, fmt.Sprintf("p=%q%s is not none, quarantine or reject", p, from), suggest("quarantine")}, aspf
}

func findDMARC(ctx context.Context, r Resolver, domain string) (where, rec string, err error) {
	for _, d := range []string{domain, orgDomain(domain)} {
		if d == "" {
			break
		}
		txts, err := r.LookupTXT(ctx, "_dmarc."+d)
		if err != nil && !isNX(err) {
			return "", "", fmt.Errorf("_dmarc.%s: %v", d, err)
		}
		recs := withVersion(txts, "DMARC1")
		if len(recs) > 1 {
			return "", "", fmt.Errorf("_dmarc.%s has %d v=DMARC1 records; receivers ignore them all", d, len(recs))
		}
		if len(recs) == 1 {
			return d, recs[0], nil
		}
		if d == orgDomain(domain) {
			break
		}
	}
	return "", "", nil
}

// orgDomain drops the first label while two remain: a stand-in for the
// public suffix list that is right for names like mail.example.com.
func orgDomain(d string) string {
	_, rest, ok := strings.Cut(d, ".")
	if !ok || !strings.Contains(rest, ".") {
		return ""
	}
	return rest
}

// aligned is relaxed alignment simplified: the same name or one under the
// other. Siblings under one organisational domain are not recognised.
func aligned(a, b string) bool {
	return a == b || strings.HasSuffix(a, "."+b) || strings.HasSuffix(b, "."+a)
}

func checkAlignment(from, rp, aspf string) Result {
	c := "alignment"
	switch {
	case aspf == "s" && rp != from:
		return Result{c, Fail, "DMARC asks strict SPF alignment (aspf=s) but MAIL FROM is @" + rp + " and From is @" + from,
			"send with a return-path @" + from + " or publish aspf=r"}
	case aligned(from, rp):
		return Result{c, Pass, "MAIL FROM @" + rp + " aligns with From @" + from + " (relaxed, checked as same domain or subdomain)", ""}
	}
	return Result{c, Fail, "MAIL FROM @" + rp + " does not align with From @" + from + " (relaxed, checked as same domain or subdomain): SPF cannot pass DMARC",
		"use a return-path domain at or under " + from + " (--return-path-domain)"}
}

// checkPTRs: each address has a PTR, whose name resolves back to it and
// is the EHLO name.
func checkPTRs(ctx context.Context, r Resolver, ips []net.IP, hostname string) []Result {
	var out []Result
	for _, ip := range ips {
		c := "ptr " + ip.String()
		rev, _ := dns.ReverseAddr(ip.String())
		rev = strings.TrimSuffix(rev, ".")
		ptr := "publish " + rev + ". PTR " + hostname + "."
		fix := "ask the owner of " + ip.String() + " to " + ptr
		names, err := r.LookupPTR(ctx, ip)
		if err != nil && !isNX(err) {
			out = append(out, Result{c, Fail, "lookup failed: " + err.Error(), fix})
			continue
		}
		if len(names) == 0 {
			out = append(out, Result{c, Fail, "no PTR record", fix})
			continue
		}
		var confirmed []string
		for _, n := range names {
			addrs, _ := r.LookupIP(ctx, n)
			if slices.ContainsFunc(addrs, ip.Equal) {
				confirmed = append(confirmed, n)
			}
		}
		switch {
		case len(confirmed) == 0:
			out = append(out, Result{c, Fail, "PTR " + names[0] + " does not resolve back to " + ip.String(),
				zone(names[0], addrType(ip), ip.String())})
		case !slices.Contains(confirmed, hostname):
			out = append(out, Result{c, Warn, "PTR " + confirmed[0] + " (forward-confirmed) is not the EHLO name " + hostname,
				"set hostname = \"" + confirmed[0] + "\" in mtaq.toml, or " + ptr})
		default:
			out = append(out, Result{c, Pass, "PTR " + hostname + ", forward-confirmed, the EHLO name", ""})
		}
	}
	return out
}

// checkEHLO: mtaq says hostname in EHLO; receivers look it up.
func checkEHLO(ctx context.Context, r Resolver, hostname string, ips []net.IP) Result {
	if hostname == "" {
		return Result{"ehlo", Fail, "hostname is empty", "set hostname in mtaq.toml to the name of the outbound address"}
	}
	addrs, err := r.LookupIP(ctx, hostname)
	if err != nil && !isNX(err) {
		return Result{"ehlo", Fail, "EHLO name " + hostname + ": " + err.Error(), "make the DNS for " + hostname + " answer"}
	}
	if len(addrs) == 0 {
		ip, typ := "ADDRESS", "A"
		if len(ips) > 0 {
			ip, typ = ips[0].String(), addrType(ips[0])
		}
		return Result{"ehlo", Fail, "EHLO name " + hostname + " (hostname) has no address", zone(hostname, typ, ip)}
	}
	return Result{"ehlo", Pass, "EHLO name " + hostname + " (hostname) resolves", ""}
}

// checkMTASTS: optional; a present record must carry a valid id.
func checkMTASTS(ctx context.Context, r Resolver, domain string) Result {
	name := "_mta-sts." + domain
	fix := zone(name, "TXT", "v=STSv1; id=1") + " and serve the policy at https://mta-sts." + domain + "/.well-known/mta-sts.txt"
	return optional(ctx, r, "mta-sts", name, "STSv1", fix, func(t map[string]string) string {
		if !validSTSID(t["id"]) {
			return fmt.Sprintf("id=%q is not 1 to 32 letters and digits", t["id"])
		}
		return ""
	})
}

// checkTLSRPT: optional; a present record must name where reports go.
func checkTLSRPT(ctx context.Context, r Resolver, domain string) Result {
	name := "_smtp._tls." + domain
	fix := zone(name, "TXT", "v=TLSRPTv1; rua=mailto:tls-reports@"+domain)
	return optional(ctx, r, "tls-rpt", name, "TLSRPTv1", fix, func(t map[string]string) string {
		if !validRUA(t["rua"]) {
			return fmt.Sprintf("rua=%q is not a list of mailto: or https: URIs", t["rua"])
		}
		return ""
	})
}

// optional checks a record a domain may go without: absent is WARN,
// present but wrong is FAIL.
func optional(ctx context.Context, r Resolver, check, name, version, fix string, bad func(map[string]string) string) Result {
	txts, err := r.LookupTXT(ctx, name)
	if err != nil && !isNX(err) {
		return Result{check, Fail, name + ": " + err.Error(), "make the DNS for " + name + " answer"}
	}
	recs := withVersion(txts, version)
	switch len(recs) {
	case 0:
		return Result{check, Warn, "no v=" + version + " record at " + name + " (optional)", fix}
	case 1:
	default:
		return Result{check, Fail, fmt.Sprintf("%d v=%s records at %s; there must be one", len(recs), version, name), fix}
	}
	tags, err := parseTags(recs[0])
	if err != nil {
		return Result{check, Fail, name + " does not parse: " + err.Error(), fix}
	}
	if why := bad(tags); why != "" {
		return Result{check, Fail, name + ": " + why, fix}
	}
	return Result{check, Pass, name + ": " + recs[0], ""}
}
