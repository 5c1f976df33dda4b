package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/mtaq/mtaq/delivery"
)

// SPFResult is an RFC 7208 §2.6 result.
type SPFResult string

// The results check_host can give.
const (
	SPFNone      SPFResult = "none"
	SPFNeutral   SPFResult = "neutral"
	SPFPass      SPFResult = "pass"
	SPFFail      SPFResult = "fail"
	SPFSoftFail  SPFResult = "softfail"
	SPFTempError SPFResult = "temperror"
	SPFPermError SPFResult = "permerror"
)

// RFC 7208 §4.6.4 limits.
const (
	maxLookups     = 10 // terms that cause DNS queries, over the whole evaluation
	maxVoidLookups = 2  // queries answering NXDOMAIN or no records
	maxMXNames     = 10 // MX names looked up for one mx mechanism
)

// SPFEval is the outcome of one evaluation.
type SPFEval struct {
	Result SPFResult
	// Why says which term decided, or what error stopped evaluation.
	Why string
	// Lookups is how many DNS-querying terms were evaluated.
	Lookups int
	// UsedPTR is set when a ptr mechanism was met: RFC 7208 §5.5 says not
	// to use it, and this evaluator treats it as never matching.
	UsedPTR bool
}

type spfState struct {
	r       Resolver
	ip      net.IP
	sender  string
	lookups int
	voids   int
	usedPTR bool
}

// errLimit is a permerror that must not be masked by an include.
type spfError struct {
	result SPFResult
	msg    string
}

func (e *spfError) Error() string { return e.msg }

func perm(format string, a ...any) error {
	return &spfError{SPFPermError, fmt.Sprintf(format, a...)}
}

func temp(format string, a ...any) error {
	return &spfError{SPFTempError, fmt.Sprintf(format, a...)}
}

// CheckSPF runs check_host(ip, domain, sender) (RFC 7208 §4) for the
// mechanisms records use: ip4, ip6, a, mx, include, exists, all, and the
// redirect modifier, with macros (§7). ptr is counted as a lookup but never
// matches. sender is the MAIL FROM address (postmaster@domain if empty).
func CheckSPF(ctx context.Context, r Resolver, ip net.IP, domain, sender string) SPFEval {
	if sender == "" {
		sender = "postmaster@" + domain
	}
	st := &spfState{r: r, ip: ip, sender: sender}
	res, why, err := st.checkHost(ctx, domain, 0)
	if err != nil {
		var se *spfError
		if errors.As(err, &se) {
			res, why = se.result, se.msg
		} else {
			res, why = SPFTempError, err.Error()
		}
	}
	return SPFEval{Result: res, Why: why, Lookups: st.lookups, UsedPTR: st.usedPTR}
}

// FetchSPF returns domain's one SPF record: none when there is no v=spf1
// record, permerror when there are several (§4.5).
func FetchSPF(ctx context.Context, r Resolver, domain string) (string, SPFResult, error) {
	txts, err := r.LookupTXT(ctx, domain)
	if err != nil && !errors.Is(err, delivery.ErrNXDomain) {
		return "", SPFTempError, temp("TXT %s: %v", domain, err)
	}
	var recs []string
	for _, t := range txts {
		if isSPF(t) {
			recs = append(recs, t)
		}
	}
	switch len(recs) {
	case 0:
		return "", SPFNone, nil
	case 1:
		return recs[0], "", nil
	}
	return "", SPFPermError, perm("%s has %d v=spf1 records; there must be one", domain, len(recs))
}

func isSPF(txt string) bool {
	v := strings.ToLower(txt)
	return v == "v=spf1" || strings.HasPrefix(v, "v=spf1 ")
}

func (st *spfState) checkHost(ctx context.Context, domain string, depth int) (SPFResult, string, error) {
	if depth > maxLookups {
		return "", "", perm("include/redirect loop at %s", domain)
	}
	rec, res, err := FetchSPF(ctx, st.r, domain)
	if err != nil {
		return "", "", err
	}
	if res == SPFNone {
		return SPFNone, "no SPF record at " + domain, nil
	}
	terms := strings.Fields(rec)[1:]
	var redirect string
	for _, term := range terms {
		name, value, isMod := splitModifier(term)
		if isMod {
			switch strings.ToLower(name) {
			case "redirect":
				if redirect != "" {
					return "", "", perm("%s: two redirect modifiers", domain)
				}
				redirect = value
			case "exp":
			default: // unknown modifiers are ignored (§6)
			}
			continue
		}
		qual := SPFPass
		switch term[0] {
		case '+':
			term = term[1:]
		case '-':
			qual, term = SPFFail, term[1:]
		case '~':
			qual, term = SPFSoftFail, term[1:]
		case '?':
			qual, term = SPFNeutral, term[1:]
		}
		match, err := st.mechanism(ctx, domain, term, depth)
		if err != nil {
			return "", "", err
		}
		if match {
			return qual, fmt.Sprintf("%s matched in %s", term, domain), nil
		}
	}
	if redirect != "" {
		if err := st.count(); err != nil {
			return "", "", err
		}
		target, err := st.expand(redirect, domain)
		if err != nil {
			return "", "", err
		}
		res, why, err := st.checkHost(ctx, target, depth+1)
		if err == nil && res == SPFNone {
			return "", "", perm("redirect=%s has no SPF record", target)
		}
		return res, why, err
	}
	return SPFNeutral, "nothing matched in " + domain, nil
}

// splitModifier tells a modifier (name=value) from a mechanism: the name is
// letters, digits, '-', '_', '.' up to the first '=' (§4.6.1).
func splitModifier(term string) (name, value string, ok bool) {
	i := strings.IndexByte(term, '=')
	if i <= 0 {
		return "", "", false
	}
	for _, c := range term[:i] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "", "", false
		}
	}
	return term[:i], term[i+1:], true
}

func (st *spfState) count() error {
	st.lookups++
	if st.lookups > maxLookups {
		return perm("more than %d DNS lookups (RFC 7208 §4.6.4)", maxLookups)
	}
	return nil
}

func (st *spfState) void() error {
	st.voids++
	if st.voids > maxVoidLookups {
		return perm("more than %d lookups found nothing (RFC 7208 §4.6.4)", maxVoidLookups)
	}
	return nil
}

// mechanism reports whether one mechanism (qualifier removed) matches.
func (st *spfState) mechanism(ctx context.Context, domain, term string, depth int) (bool, error) {
	name, arg, hasArg := strings.Cut(term, ":")
	if !hasArg {
		// "a/24" and "mx/24//64" put the CIDR right after the name.
		if i := strings.IndexByte(term, '/'); i >= 0 {
			name, arg = term[:i], term[i:]
		}
	}
	switch strings.ToLower(name) {
	case "all":
		if arg != "" || hasArg {
			return false, perm("all takes no argument: %q", term)
		}
		return true, nil
	case "ip4", "ip6":
		return st.ipMatch(name, arg)
	case "a", "mx":
		if err := st.count(); err != nil {
			return false, err
		}
		spec, v4, v6, err := splitCIDR(arg)
		if err != nil {
			return false, perm("%s: %v", term, err)
		}
		target := domain
		if spec != "" {
			if target, err = st.expand(spec, domain); err != nil {
				return false, err
			}
		}
		if strings.EqualFold(name, "a") {
			return st.hostMatch(ctx, target, v4, v6, true)
		}
		return st.mxMatch(ctx, target, v4, v6)
	case "ptr":
		if err := st.count(); err != nil {
			return false, err
		}
		st.usedPTR = true
		return false, nil
	case "include":
		if err := st.count(); err != nil {
			return false, err
		}
		if arg == "" {
			return false, perm("include needs a domain")
		}
		target, err := st.expand(arg, domain)
		if err != nil {
			return false, err
		}
		res, _, err := st.checkHost(ctx, target, depth+1)
		if err != nil {
			return false, err
		}
		switch res {
		case SPFPass:
			return true, nil
		case SPFNone:
			return false, perm("include:%s has no SPF record", target)
		}
		return false, nil // fail, softfail, neutral: not a match (§5.2)
	case "exists":
		if err := st.count(); err != nil {
			return false, err
		}
		target, err := st.expand(arg, domain)
		if err != nil {
			return false, err
		}
		ips, err := st.lookupIP(ctx, target)
		if err != nil {
			return false, err
		}
		for _, ip := range ips {
			if ip.To4() != nil {
				return true, nil // exists asks for A records only (§5.7)
			}
		}
		return false, st.void()
	}
	return false, perm("unknown mechanism %q", term)
}

func (st *spfState) ipMatch(name, arg string) (bool, error) {
	if !strings.Contains(arg, "/") {
		if strings.EqualFold(name, "ip4") {
			arg += "/32"
		} else {
			arg += "/128"
		}
	}
	ip, n, err := net.ParseCIDR(arg)
	if err != nil || (strings.EqualFold(name, "ip4")) != (ip.To4() != nil) {
		return false, perm("%s:%s is not a valid network", name, arg)
	}
	return n.Contains(st.ip), nil
}

// splitCIDR cuts "domain/24//64" into its parts; missing lengths are the
// full address.
func splitCIDR(arg string) (spec string, v4, v6 int, err error) {
	v4, v6 = 32, 128
	spec, rest, _ := strings.Cut(arg, "/")
	if rest == "" {
		return spec, v4, v6, nil
	}
	l4, l6, dual := strings.Cut(rest, "/")
	if dual { // "/24//64" leaves "24" and "/64"; "//64" leaves "" and "/64"
		l6 = strings.TrimPrefix(l6, "/")
	}
	if l4 != "" {
		if v4, err = strconv.Atoi(l4); err != nil || v4 < 0 || v4 > 32 {
			return "", 0, 0, fmt.Errorf("bad IPv4 prefix length %q", l4)
		}
	}
	if dual {
		if v6, err = strconv.Atoi(l6); err != nil || v6 < 0 || v6 > 128 {
			return "", 0, 0, fmt.Errorf("bad IPv6 prefix length %q", l6)
		}
	}
	return spec, v4, v6, nil
}

func (st *spfState) lookupIP(ctx context.Context, host string) ([]net.IP, error) {
	ips, err := st.r.LookupIP(ctx, host)
	if err != nil && !errors.Is(err, delivery.ErrNXDomain) {
		return nil, temp("A/AAAA %s: %v", host, err)
	}
	return ips, nil
}

// hostMatch looks up host's addresses of the client's family and compares
// them within the prefix length. void says whether an empty answer counts
// against the void limit (not for each MX host).
func (st *spfState) hostMatch(ctx context.Context, host string, v4, v6 int, void bool) (bool, error) {
	ips, err := st.lookupIP(ctx, host)
	if err != nil {
		return false, err
	}
	found := false
	for _, ip := range ips {
		if (ip.To4() != nil) != (st.ip.To4() != nil) {
			continue
		}
		found = true
		bits, l := 128, v6
		if ip.To4() != nil {
			bits, l = 32, v4
		}
		if (&net.IPNet{IP: ip, Mask: net.CIDRMask(l, bits)}).Contains(st.ip) {
			return true, nil
		}
	}
	if !found && void {
		return false, st.void()
	}
	return false, nil
}

func (st *spfState) mxMatch(ctx context.Context, domain string, v4, v6 int) (bool, error) {
	mxs, err := st.r.LookupMX(ctx, domain)
	switch {
	case errors.Is(err, delivery.ErrNullMX):
		return false, nil
	case errors.Is(err, delivery.ErrNXDomain):
		return false, st.void()
	case err != nil:
		return false, temp("MX %s: %v", domain, err)
	case len(mxs) == 0:
		return false, st.void()
	case len(mxs) > maxMXNames:
		return false, perm("mx:%s has more than %d MX names (RFC 7208 §4.6.4)", domain, maxMXNames)
	}
	for _, mx := range mxs {
		if ok, err := st.hostMatch(ctx, mx.Host, v4, v6, false); ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}

// expand replaces the macros of §7 in a domain-spec. Letters s, l, o, d,
// i, h with digit and "r" transformers and delimiters; p and the exp-only
// letters c, r, t are refused rather than guessed.
func (st *spfState) expand(spec, domain string) (string, error) {
	if !strings.Contains(spec, "%") {
		return strings.TrimSuffix(spec, "."), nil
	}
	var b strings.Builder
	for i := 0; i < len(spec); i++ {
		c := spec[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(spec) {
			return "", perm("macro %q ends in %%", spec)
		}
		i++
		switch spec[i] {
		case '%':
			b.WriteByte('%')
			continue
		case '_':
			b.WriteByte(' ')
			continue
		case '-':
			b.WriteString("%20")
			continue
		case '{':
		default:
			return "", perm("bad macro in %q", spec)
		}
		end := strings.IndexByte(spec[i:], '}')
		if end < 2 {
			return "", perm("bad macro in %q", spec)
		}
		v, err := st.macro(spec[i+1:i+end], domain)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
		i += end
	}
	return strings.TrimSuffix(b.String(), "."), nil
}

func (st *spfState) macro(m, domain string) (string, error) {
	local, senderDomain, _ := strings.Cut(st.sender, "@")
	var v string
	switch strings.ToLower(m[:1]) {
	case "s":
		v = st.sender
	case "l":
		v = local
	case "o":
		v = senderDomain
	case "d":
		v = domain
	case "h":
		v = domain // the HELO name; checks here are for MAIL FROM
	case "i":
		if ip4 := st.ip.To4(); ip4 != nil {
			v = ip4.String()
		} else {
			var parts []string
			for _, c := range fmt.Sprintf("%032x", []byte(st.ip.To16())) {
				parts = append(parts, string(c))
			}
			v = strings.Join(parts, ".")
		}
	default:
		return "", perm("macro letter %q is not supported here", m[:1])
	}
	rest := m[1:]
	digits := 0
	for len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9' {
		digits = digits*10 + int(rest[0]-'0')
		rest = rest[1:]
	}
	reverse := false
	if len(rest) > 0 && (rest[0] == 'r' || rest[0] == 'R') {
		reverse, rest = true, rest[1:]
	}
	delims := rest
	if delims == "" {
		delims = "."
	}
	for _, c := range delims {
		if !strings.ContainsRune(".-+,/_=", c) {
			return "", perm("bad macro delimiter %q", c)
		}
	}
	parts := strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(delims, r) })
	if reverse {
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
	}
	if digits > 0 && digits < len(parts) {
		parts = parts[len(parts)-digits:]
	}
	return strings.Join(parts, "."), nil
}

// CountSPFLookups counts the DNS-querying terms of domain's SPF record and
// of every record it includes or redirects to: the most an evaluation can
// spend, which must stay within 10 (§4.6.4) for an address that matches
// nothing before -all. Targets with macros count as one lookup and are not
// followed.
func CountSPFLookups(ctx context.Context, r Resolver, domain string) (int, error) {
	return countLookups(ctx, r, domain, 0)
}

func countLookups(ctx context.Context, r Resolver, domain string, depth int) (int, error) {
	if depth > maxLookups {
		return 0, perm("include/redirect loop at %s", domain)
	}
	rec, res, err := FetchSPF(ctx, r, domain)
	if err != nil || res == SPFNone {
		return 0, err
	}
	n, hasAll := 0, false
	var follow []string
	var redirect string
	for _, term := range strings.Fields(rec)[1:] {
		if name, value, ok := splitModifier(term); ok {
			if strings.EqualFold(name, "redirect") {
				redirect = value
			}
			continue
		}
		term = strings.TrimLeft(term, "+-~?")
		name, arg, _ := strings.Cut(term, ":")
		name, _, _ = strings.Cut(name, "/")
		switch strings.ToLower(name) {
		case "all":
			hasAll = true
		case "a", "mx", "ptr", "exists":
			n++
		case "include":
			n++
			follow = append(follow, arg)
		}
	}
	if redirect != "" && !hasAll { // after all, redirect is never reached
		n++
		follow = append(follow, redirect)
	}
	for _, t := range follow {
		if strings.Contains(t, "%") || n > maxLookups {
			continue
		}
		m, err := countLookups(ctx, r, t, depth+1)
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}
