package daemon

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/internal/metrics"
	"github.com/mtaq/mtaq/internal/tlsrpt"
	"github.com/mtaq/mtaq/queue"
)

// tlsEvent passes delivery's TLS outcome to the TLS-RPT counter and the
// metrics.
func tlsEvent(c *tlsrpt.Counter, reg *metrics.Registry) func(delivery.TLSEvent) {
	return func(ev delivery.TLSEvent) {
		reg.TLSSession(ev.Policy.Type, ev.Result)
		c.Observe(tlsrpt.Event{Domain: ev.Domain, PolicyType: ev.Policy.Type, PolicyString: ev.Policy.Strings,
			MXHost: ev.Policy.MXHost, Result: ev.Result, MX: ev.MX, IP: ev.IP, Detail: ev.Detail})
	}
}

// tlsReportFrom is [tlsrpt] from, or tlsrpt-noreply@<hostname>.
func tlsReportFrom(c conf.Config) string {
	if c.TLSRPT.From != "" {
		return c.TLSRPT.From
	}
	return "tlsrpt-noreply@" + c.Hostname
}

// newTLSRPT makes the sender of daily reports: counting always runs
// (mtaq tls report), sending only with [tlsrpt] enabled.
func newTLSRPT(c conf.Config, o Options, store *queue.PebbleStore, in *intake.Intake, counter *tlsrpt.Counter) *tlsrpt.Sender {
	res, ok := o.Resolver.(tlsrpt.TXTResolver)
	if !ok {
		res = delivery.NewResolver(c.DNSServerAddrs())
	}
	client := &http.Client{Timeout: 30 * time.Second}
	if o.Dialer != nil {
		client.Transport = &http.Transport{DialContext: o.Dialer.DialContext}
	}
	from := tlsReportFrom(c)
	return tlsrpt.NewSender(tlsrpt.Options{
		Counter: counter, Store: store, Clock: o.Clock, Logger: o.Logger.Named("tlsrpt"), Resolver: res,
		Intake: in, HTTP: client, From: from, Hostname: c.Hostname, Send: c.TLSRPT.Enabled,
		Reporter: reporter(c),
	})
}

func reporter(c conf.Config) tlsrpt.Reporter {
	from := tlsReportFrom(c)
	org := c.TLSRPT.OrganizationName
	if org == "" {
		org = c.Hostname
	}
	contact := c.TLSRPT.ContactInfo
	if contact == "" {
		contact = from
	}
	return tlsrpt.Reporter{Organization: org, Contact: contact, Submitter: from[strings.LastIndexByte(from, '@')+1:]}
}

// tlsReport is the admin API's day-so-far report of a domain.
func tlsReport(c conf.Config, o Options, counter *tlsrpt.Counter) func(context.Context, string) (*admin.TLSReport, error) {
	r := reporter(c)
	return func(ctx context.Context, domain string) (*admin.TLSReport, error) {
		if a, err := delivery.ASCIIDomain(domain); err == nil {
			domain = a // counted under the A-label, as delivery names domains
		}
		day := tlsrpt.DayOf(o.Clock.Now())
		d, err := counter.Day(ctx, day, domain)
		if err != nil {
			return nil, err
		}
		rep, err := r.Build(day, domain, d)
		if err != nil {
			return nil, err
		}
		js, err := json.Marshal(rep)
		if err != nil {
			return nil, err
		}
		return &admin.TLSReport{Domain: domain, Day: day, Report: js}, nil
	}
}
