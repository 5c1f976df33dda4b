package tlsrpt

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/queue"
)

// TXTResolver looks up TXT records (delivery's resolver has it).
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Submitter is the way into the queue (internal/intake).
type Submitter interface {
	Recipients(ctx context.Context, o intake.Origin, addrs []string) ([]intake.Recipient, error)
	Submit(ctx context.Context, m intake.Message) (*intake.Accepted, error)
}

// Options configure a Sender.
type Options struct {
	Counter  *Counter
	Store    Store
	Clock    clock.Clock
	Logger   *zap.Logger
	Resolver TXTResolver
	Intake   Submitter
	HTTP     *http.Client // https: rua; default: 30 s timeout
	Reporter Reporter
	From     string // the report mail's From and envelope sender
	Hostname string // Message-ID domain
	NewID    func(time.Time) string
	// Send turns sending on ([tlsrpt] enabled); off, counts are kept and
	// shown (mtaq tls report) but nothing leaves.
	Send bool
	// FlushEvery is how often counts are written (default 1 min).
	FlushEvery time.Duration
	// Keep is how many days of records are kept (default 7).
	Keep int
}

// Sender flushes the counts and sends each finished day's reports.
type Sender struct {
	o       Options
	retryAt time.Time // after a failed send
	doneDay string    // every report of the days before it is sent
}

// NewSender fills the defaults in o.
func NewSender(o Options) *Sender {
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = time.Minute
	}
	if o.Keep <= 0 {
		o.Keep = 7
	}
	if o.NewID == nil {
		o.NewID = queue.NewID
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return &Sender{o: o}
}

// Run flushes every FlushEvery and, once a day has ended, sends its
// reports; it flushes one last time when ctx ends.
func (s *Sender) Run(ctx context.Context) {
	for {
		if !clock.Sleep(ctx, s.o.Clock, s.o.FlushEvery) {
			if err := s.o.Counter.Flush(context.WithoutCancel(ctx)); err != nil {
				s.o.Logger.Error("tls-rpt counts not saved at shutdown", zap.Error(err))
			}
			return
		}
		s.Tick(ctx)
	}
}

// Tick flushes the counts and, when a day has ended since the last
// complete send (or a failed send's retry time came), sends what is due.
func (s *Sender) Tick(ctx context.Context) {
	if err := s.o.Counter.Flush(ctx); err != nil {
		s.o.Logger.Error("tls-rpt counts not saved", zap.Error(err))
	}
	now := s.o.Clock.Now()
	if DayOf(now) == s.doneDay || now.Before(s.retryAt) {
		return
	}
	if err := s.SendDue(ctx); err != nil {
		s.retryAt = now.Add(time.Hour)
		s.o.Logger.Warn("tls-rpt reports not all sent; trying again in an hour", zap.Error(err))
		return
	}
	s.doneDay = DayOf(now)
}

// SendDue sends the report of every finished day not sent yet, marking
// each sent in the queue, then drops records older than Keep days.
// Without Send, it only trims.
func (s *Sender) SendDue(ctx context.Context) error {
	now := s.o.Clock.Now()
	today := DayOf(now)
	var errs []error
	if s.o.Send {
		days, err := s.o.Store.TLSReportDays(ctx, today)
		if err != nil {
			return err
		}
		for _, day := range slices.Sorted(maps.Keys(days)) {
			for _, dom := range slices.Sorted(maps.Keys(days[day])) {
				if err := s.sendOne(ctx, day, dom, days[day][dom]); err != nil {
					errs = append(errs, fmt.Errorf("%s %s: %w", day, dom, err))
				}
			}
		}
	}
	if err := s.o.Store.TrimTLSReports(ctx, DayOf(now.AddDate(0, 0, -s.o.Keep))); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// sendOne sends one day's report for one domain to every rua, then marks
// it sent. A domain without a record is marked too: there is no one to
// tell.
func (s *Sender) sendOne(ctx context.Context, day, domain string, raw []byte) error {
	var d Day
	if err := json.Unmarshal(raw, &d); err != nil {
		return err
	}
	if !d.Sent.IsZero() {
		return nil
	}
	if ok, failed := d.Total(); ok+failed > 0 {
		txts, err := s.o.Resolver.LookupTXT(ctx, "_smtp._tls."+domain)
		var perm interface{ Temporary() bool }
		if errors.As(err, &perm) && !perm.Temporary() {
			txts, err = nil, nil // NXDOMAIN: no record, as for most domains
		}
		if err != nil {
			return err
		}
		rec, err := ParseRecords(txts)
		switch {
		case errors.Is(err, ErrNoRecord):
		case err != nil:
			s.o.Logger.Info("tls-rpt record unusable; no report", zap.String("domain", domain), zap.Error(err))
		default:
			if err := s.deliver(ctx, day, domain, &d, rec); err != nil {
				return err
			}
		}
	}
	d.Sent = s.o.Clock.Now()
	v, err := json.Marshal(&d)
	if err != nil {
		return err
	}
	return s.o.Store.PutTLSReports(ctx, day, map[string][]byte{domain: v})
}

func (s *Sender) deliver(ctx context.Context, day, domain string, d *Day, rec *Record) error {
	rep, err := s.o.Reporter.Build(day, domain, d)
	if err != nil {
		return err
	}
	gz, err := rep.Gzip()
	if err != nil {
		return err
	}
	var errs []error
	for _, u := range rec.RUA {
		var err error
		if u.Scheme == "mailto" {
			err = s.mail(ctx, u, domain, rep, gz)
		} else {
			err = s.post(ctx, u, gz)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u.Redacted(), err))
			continue
		}
		s.o.Logger.Info("tls-rpt report sent", zap.String("domain", domain), zap.String("day", day),
			zap.String("rua", u.Redacted()), zap.String("report_id", rep.ReportID))
	}
	return errors.Join(errs...)
}

// post sends the report to an https: rua (RFC 8460 5.2).
func (s *Sender) post(ctx context.Context, u *url.URL, gz []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(gz))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/tlsrpt+gzip")
	resp, err := s.o.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	return nil
}

// mail queues the report for a mailto: rua through intake (RFC 8460 5.3):
// multipart/report; report-type="tlsrpt", the gzip JSON as an
// application/tlsrpt+gzip attachment. No DSN comes back to us about it.
func (s *Sender) mail(ctx context.Context, u *url.URL, domain string, rep *Report, gz []byte) error {
	to, err := mailAddress(u)
	if err != nil {
		return err
	}
	origin := intake.Origin{Kind: intake.Report, UTF8: false, NoDSN: true, Fixup: true}
	rcpts, err := s.o.Intake.Recipients(ctx, origin, []string{to})
	if err != nil {
		return err
	}
	now := s.o.Clock.Now()
	id := s.o.NewID(now)
	body := s.o.Reporter.message(s.o.From, to, s.o.Hostname, id, domain, now, rep, gz)
	_, err = s.o.Intake.Submit(ctx, intake.Message{ID: id, Origin: origin, Sender: s.o.From, Rcpts: rcpts, Data: body})
	return err
}

// message builds the report mail. The subject is RFC 8460 5.3's:
// "Report Domain: <domain> Submitter: <submitter> Report-ID: <<id>>".
func (r Reporter) message(from, to, hostname, id, domain string, now time.Time, rep *Report, gz []byte) []byte {
	boundary := "tlsrpt-" + id
	var b strings.Builder
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", from)
	h("To", to)
	h("Date", now.Format(time.RFC1123Z))
	h("Message-ID", "<"+id+"@"+hostname+">")
	h("Subject", fmt.Sprintf("Report Domain: %s Submitter: %s Report-ID: <%s>", domain, r.Submitter, rep.ReportID))
	h("TLS-Report-Domain", domain)
	h("TLS-Report-Submitter", r.Submitter)
	// mtaq's own mail, labelled like an app's (intake takes the fields
	// out): mtaq queue ls --tag tlsrpt finds the reports.
	h(intake.TagHeader, "tlsrpt")
	h(intake.MetadataPrefix+"policy-domain", domain)
	h("MIME-Version", "1.0")
	h("Content-Type", mime.FormatMediaType("multipart/report", map[string]string{"report-type": "tlsrpt", "boundary": boundary}))
	b.WriteString("\r\n")
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n", boundary)
	ok, failed := int64(0), int64(0)
	for _, p := range rep.Policies {
		ok, failed = ok+p.Summary.Successful, failed+p.Summary.Failed
	}
	fmt.Fprintf(&b, "This is an aggregate TLS report (RFC 8460) from %s for %s,\r\n", r.Organization, domain)
	fmt.Fprintf(&b, "%s to %s: %d successful and %d failed TLS sessions.\r\n\r\n",
		rep.DateRange.Start.Format(time.RFC3339), rep.DateRange.End.Format(time.RFC3339), ok, failed)
	name := r.FileName(rep, domain)
	fmt.Fprintf(&b, "--%s\r\n", boundary)
	h("Content-Type", mime.FormatMediaType("application/tlsrpt+gzip", map[string]string{"name": name}))
	h("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h("Content-Transfer-Encoding", "base64")
	b.WriteString("\r\n")
	enc := base64.StdEncoding.EncodeToString(gz)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return []byte(b.String())
}
