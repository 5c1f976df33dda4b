package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// outcome is what one connection to one address produced: either results
// for every recipient (the transaction got as far as MAIL, or a relay
// refused our AUTH: no failover), or a failure before MAIL that sends us
// to the next address.
type outcome struct {
	results    []Result
	fail       Result
	retryPlain bool // STARTTLS failed: try this address again without it
}

// failover tracks the attempts of one Deliver across hosts and addresses.
type failover struct {
	last     *Result // the failure to report if no host takes the mail
	dialed   int
	busy     int   // addresses skipped at their connection cap
	dnsTemp  error // an address lookup failed temporarily
	noAddrOK bool  // some address lookup said: no such host / no address
}

// note keeps the failure to report: a real reply beats a local failure,
// otherwise the latest wins.
func (f *failover) note(r Result) {
	if f.last == nil || r.Code != 0 || f.last.Code == 0 {
		f.last = &r
	}
}

// tryHosts walks the exchangers in order, each host's addresses in turn,
// within MaxHosts and MaxAddrs, until one takes the transaction. p says
// which TLS policy each host is under (hostPolicy); a TLS failure's text
// says which policy asked for it.
func (d *Deliverer) tryHosts(ctx context.Context, job Job, body []byte, hosts []MX, implicit bool, p *plan) []Result {
	var f failover
	hosts = hosts[:min(len(hosts), d.opts.MaxHosts)]
	for _, mx := range hosts {
		if a, err := ASCIIDomain(mx.Host); err == nil {
			mx.Host = a // a Resolver may hand back U-labels: TLS names, logs and lookups use A-labels
		}
		if strings.EqualFold(strings.TrimSuffix(mx.Host, "."), d.opts.Hostname) {
			return d.selfReached(job, mx.Host, &f, implicit)
		}
		mode, pol := d.hostPolicy(p, job.Domain, mx.Host)
		if pol.dane != nil && pol.dane.err != nil {
			f.note(d.tlsaFailed(job.Domain, mx.Host, pol))
			continue
		}
		ips, err := d.opts.Resolver.LookupIP(ctx, mx.Host)
		d.dnsFailed(err)
		if err != nil || len(ips) == 0 {
			f.lookupFailed(err)
			d.log.Debug("delivery attempt", zap.String("domain", job.Domain), zap.String("mx", mx.Host),
				zap.String("stage", string(StageResolve)), zap.NamedError("error", err))
			continue
		}
		for _, ip := range ips {
			if d.self.has(ip, d.opts.Port) {
				return d.selfReached(job, mx.Host, &f, implicit)
			}
			if f.dialed >= d.opts.MaxAddrs || ctx.Err() != nil {
				break
			}
			if job.Source != nil && (job.Source.To4() == nil) != (ip.To4() == nil) {
				// An IPv4 source cannot reach an IPv6 exchanger address (and
				// the reverse): not the address's fault, so no breaker signal.
				f.note(familySkipped(mx.Host, ip, job.Source))
				continue
			}
			if d.down != nil {
				if down, until := d.down.skip(ip); down {
					f.note(skipped(mx.Host, ip, until))
					continue
				}
			}
			if !d.ips.acquire(ip) {
				f.busy++
				d.log.Debug("delivery attempt", zap.String("domain", job.Domain), zap.String("mx", mx.Host),
					zap.String("ip", ip.String()), zap.String("stage", string(StageDial)), zap.Bool("busy", true))
				continue
			}
			f.dialed++
			dst := dest{key: job.Domain, host: mx.Host, ip: ip, port: d.opts.Port, mode: mode, pol: pol}
			out := d.attempt(ctx, job, body, dst)
			if out.retryPlain {
				f.note(out.fail)
				dst.mode, dst.fallback = modePlain, true
				out = d.attempt(ctx, job, body, dst)
			}
			d.ips.release(ip)
			// A cancelled attempt, or a source address this host cannot
			// bind, says nothing about the exchanger's address.
			if d.down != nil && ctx.Err() == nil && !errors.Is(out.fail.Err, syscall.EADDRNOTAVAIL) {
				d.down.report(ip, out.results != nil || !unanswered(out.fail))
			}
			if out.results != nil {
				return out.results
			}
			f.note(out.fail)
		}
	}
	r := f.final(job.Domain, implicit, d.opts.MaxConnsPerIP)
	return fill(len(job.Rcpts), r)
}

// tlsaFailed is the 4.7.5 noted for an exchanger whose TLSA lookup failed
// under a validated MX answer: it may be an attack on DNSSEC, so the host
// is not tried (RFC 7672 2.2).
func (d *Deliverer) tlsaFailed(domain, host string, pol *hostPolicy) Result {
	err := fmt.Errorf("DANE: TLSA lookup %s failed, %s not tried: %w", pol.dane.name, host, pol.dane.err)
	r := localFail(StageTLS, "4.7.5", err)
	r.MX, r.TLSPolicy = host, SourceDANE
	d.tlsEvent(TLSEvent{Domain: domain, Policy: TLSReportPolicy{Type: "tlsa", MXHost: []string{host}},
		Result: "dnssec-invalid", MX: host, Detail: err.Error()})
	return r
}

// skipped is the failure noted for an address whose breaker is open.
func skipped(host string, ip net.IP, until time.Time) Result {
	err := fmt.Errorf("exchanger %s [%s] not tried: its last connections got no answer; next try after %s",
		host, ip, until.UTC().Format(time.RFC3339))
	r := localFail(StageDial, "4.4.1", err)
	r.MX, r.IP = host, ip.String()
	return r
}

// familySkipped is the failure noted for an exchanger address of the
// other IP family than the job's source address.
func familySkipped(host string, ip, src net.IP) Result {
	err := fmt.Errorf("exchanger %s [%s] not tried: the source address %s is of the other IP family", host, ip, src)
	r := localFail(StageDial, "4.4.1", err)
	r.MX, r.IP = host, ip.String()
	return r
}

// selfReached handles an exchanger that is this server: hosts less
// preferred than ourselves are never tried (they would relay back to us);
// if no better host was tried, it is a loop (5.4.6), a permanent failure
// rather than a retry storm.
func (d *Deliverer) selfReached(job Job, host string, f *failover, implicit bool) []Result {
	if f.dialed == 0 && f.last == nil {
		return fill(len(job.Rcpts), loopResult(job.Domain, host))
	}
	return fill(len(job.Rcpts), f.final(job.Domain, implicit, d.opts.MaxConnsPerIP))
}

func (f *failover) lookupFailed(err error) {
	var de *DNSError
	if err != nil && !(errors.As(err, &de) && de.Permanent) {
		f.dnsTemp = err
		return
	}
	f.noAddrOK = true
}

// final is the failure every recipient gets when no host took the mail.
// Addresses skipped at their cap, and nothing else tried, make it Busy.
func (f *failover) final(domain string, implicit bool, perIP int) Result {
	switch {
	case f.last != nil:
		return *f.last
	case f.busy > 0:
		err := fmt.Errorf("every exchanger address of %s already has %d connections in use; not attempted", domain, perIP)
		r := localFail(StageDial, "4.4.5", err)
		r.Busy = true
		return r
	case f.dnsTemp != nil:
		r := localFail(StageResolve, "4.4.3", f.dnsTemp)
		r.Text = fmt.Sprintf("temporary DNS failure looking up the exchangers of %s: %v", domain, f.dnsTemp)
		return r
	case implicit:
		err := fmt.Errorf("domain %s has no MX and no address records", domain)
		return localFail(StageResolve, "5.1.2", err)
	default:
		// MX records that name hosts without addresses: a broken
		// destination, reported as temporary (unknown means temporary).
		err := fmt.Errorf("no MX host of %s has an address", domain)
		return localFail(StageResolve, "4.4.4", err)
	}
}

// attempt opens a connection to dst, runs the job on it and logs it. The
// session goes back to the idle pool when it can carry more.
func (d *Deliverer) attempt(ctx context.Context, job Job, body []byte, dst dest) outcome {
	if dst.relay == nil {
		dst = fromSource(job, dst)
	}
	s, out := d.open(ctx, job, dst)
	d.reportSession(job.Domain, dst, s, out)
	if out != nil {
		if out.fail.Stage == StageTLS {
			out.fail.Text = dst.pol.prefix() + out.fail.Text
		}
		d.logAttempt(job, &session{d: d, dst: dst}, *out)
		return *out
	}
	res, fail, _ := s.send(body) // a new session is never stale
	s.unbind()
	o := outcome{results: res}
	if fail != nil {
		o = outcome{fail: *fail}
	}
	d.logAttempt(job, s, o)
	if job.probe {
		s.close() // QUIT: a probe's connection carries no mail
		return o
	}
	d.release(s)
	return o
}

// logAttempt writes the one Debug line per connection attempt.
func (d *Deliverer) logAttempt(job Job, s *session, out outcome) {
	ce := d.log.Check(zap.DebugLevel, "delivery attempt")
	if ce == nil {
		return // the fields are not built for a level that is off
	}
	r := out.fail
	fields := []zap.Field{
		zap.String("domain", job.Domain), zap.String("mx", s.dst.host), zap.String("ip", s.dst.ip.String()),
		zap.String("message_id", job.MessageID),
	}
	if s.dst.src != nil {
		fields = append(fields, zap.String("source_ip", s.dst.src.String()))
	}
	if out.results != nil {
		r = out.results[0]
		fields = append(fields, zap.Int("rcpts", len(out.results)), zap.Int("delivered", delivered(out.results)),
			zap.Bool("reused", s.reused), zap.Int("conn_txns", s.txns))
	}
	fields = append(fields, zap.String("stage", string(r.Stage)), zap.Int("code", r.Code),
		zap.String("enhanced", r.Enhanced), zap.Bool("tls", r.TLS), zap.String("tls_version", r.TLSVersion),
		zap.String("tls_cipher", r.TLSCipher), zap.Bool("tls_fallback", r.TLSFallback), zap.String("text", r.Text))
	ce.Write(fields...)
}

func delivered(rs []Result) int {
	n := 0
	for _, r := range rs {
		if r.Code/100 == 2 {
			n++
		}
	}
	return n
}
