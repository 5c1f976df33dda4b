package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/clock"
)

// outcome is what one connection to one address produced: either results
// for every recipient (the transaction got as far as MAIL, no failover), or
// a failure before MAIL that sends us to the next address.
type outcome struct {
	results    []Result
	fail       Result
	retryPlain bool // STARTTLS failed: try this address again without it
}

// failover tracks the attempts of one Deliver across hosts and addresses.
type failover struct {
	last     *Result // the failure to report if no host takes the mail
	dialed   int
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
// within MaxHosts and MaxAddrs, until one takes the transaction.
func (d *Deliverer) tryHosts(ctx context.Context, job Job, body []byte, hosts []MX, implicit bool) []Result {
	var f failover
	hosts = hosts[:min(len(hosts), d.opts.MaxHosts)]
	for _, mx := range hosts {
		if strings.EqualFold(strings.TrimSuffix(mx.Host, "."), d.opts.Hostname) {
			return d.selfReached(job, mx.Host, &f, implicit)
		}
		ips, err := d.opts.Resolver.LookupIP(ctx, mx.Host)
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
			f.dialed++
			out := d.attempt(ctx, job, body, mx.Host, ip, true)
			if out.retryPlain {
				f.note(out.fail)
				out = d.attempt(ctx, job, body, mx.Host, ip, false)
			}
			if out.results != nil {
				return out.results
			}
			f.note(out.fail)
		}
	}
	return fill(len(job.Rcpts), f.final(job.Domain, implicit))
}

// selfReached handles an exchanger that is this server: hosts less
// preferred than ourselves are never tried (they would relay back to us);
// if no better host was tried, it is a loop (5.4.6), a permanent failure
// rather than a retry storm.
func (d *Deliverer) selfReached(job Job, host string, f *failover, implicit bool) []Result {
	if f.dialed == 0 && f.last == nil {
		return fill(len(job.Rcpts), loopResult(job.Domain, host))
	}
	return fill(len(job.Rcpts), f.final(job.Domain, implicit))
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
func (f *failover) final(domain string, implicit bool) Result {
	switch {
	case f.last != nil:
		return *f.last
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

// attempt runs one connection to ip and logs it.
func (d *Deliverer) attempt(ctx context.Context, job Job, body []byte, host string, ip net.IP, useTLS bool) outcome {
	out := d.connect(ctx, job, body, host, ip, useTLS)
	r := out.fail
	fields := []zap.Field{
		zap.String("domain", job.Domain), zap.String("mx", host), zap.String("ip", ip.String()),
		zap.String("message_id", job.MessageID),
	}
	if out.results != nil {
		r = out.results[0]
		fields = append(fields, zap.Int("rcpts", len(out.results)), zap.Int("delivered", delivered(out.results)))
	}
	fields = append(fields, zap.String("stage", string(r.Stage)), zap.Int("code", r.Code),
		zap.String("enhanced", r.Enhanced), zap.Bool("tls", r.TLS), zap.String("text", r.Text))
	d.log.Debug("delivery attempt", fields...)
	return out
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

// connect dials ip and runs the session on it. The connection is closed
// when the session ends or ctx does, whichever comes first.
func (d *Deliverer) connect(ctx context.Context, job Job, body []byte, host string, ip net.IP, useTLS bool) outcome {
	addr := net.JoinHostPort(ip.String(), strconv.Itoa(d.opts.Port))
	dctx, cancel := context.WithTimeout(ctx, d.opts.ConnectTimeout)
	conn, err := d.opts.Dialer.DialContext(dctx, "tcp", addr)
	cancel()
	if err != nil {
		r := localFail(StageDial, "4.4.1", err)
		r.Text = fmt.Sprintf("connect to %s (%s): %v", host, addr, err)
		r.MX, r.IP = host, ip.String()
		return outcome{fail: r}
	}
	dc := newDeadlineConn(conn, clock.Real{}, d.opts.CommandTimeout) // sockets: wall clock
	defer dc.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	s := &session{d: d, ctx: ctx, job: job, host: host, ip: ip.String(), dc: dc}
	return s.run(body, useTLS)
}
