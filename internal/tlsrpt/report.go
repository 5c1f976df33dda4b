package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Report is the aggregate report of RFC 8460 section 4.4; field names are
// the RFC's.
type Report struct {
	OrganizationName string         `json:"organization-name"`
	DateRange        DateRange      `json:"date-range"`
	ContactInfo      string         `json:"contact-info"`
	ReportID         string         `json:"report-id"`
	Policies         []ReportPolicy `json:"policies"`
}

// DateRange is the period a report covers (one UTC day).
type DateRange struct {
	Start time.Time `json:"start-datetime"`
	End   time.Time `json:"end-datetime"`
}

// ReportPolicy is one policy's entry (RFC 8460 4.3).
type ReportPolicy struct {
	Policy         PolicyDesc      `json:"policy"`
	Summary        Summary         `json:"summary"`
	FailureDetails []FailureDetail `json:"failure-details,omitempty"`
}

// PolicyDesc says which policy was applied.
type PolicyDesc struct {
	Type   string   `json:"policy-type"`
	String []string `json:"policy-string,omitempty"`
	Domain string   `json:"policy-domain"`
	MXHost []string `json:"mx-host,omitempty"`
}

// Summary counts the sessions under the policy.
type Summary struct {
	Successful int64 `json:"total-successful-session-count"`
	Failed     int64 `json:"total-failure-session-count"`
}

// FailureDetail is one row of failed sessions (RFC 8460 4.3.1).
type FailureDetail struct {
	ResultType          string `json:"result-type"`
	ReceivingMXHostname string `json:"receiving-mx-hostname,omitempty"`
	ReceivingIP         string `json:"receiving-ip,omitempty"`
	FailedSessionCount  int64  `json:"failed-session-count"`
	FailureReasonCode   string `json:"failure-reason-code,omitempty"`
}

// Reporter names who sends reports.
type Reporter struct {
	Organization string // organization-name
	Contact      string // contact-info
	Submitter    string // the submitter's domain: report IDs, file names, TLS-Report-Submitter
}

// Build makes the report of domain's counts for day (yyyymmdd).
func (r Reporter) Build(day, domain string, d *Day) (*Report, error) {
	start, err := time.Parse("20060102", day)
	if err != nil {
		return nil, fmt.Errorf("day %q: %w", day, err)
	}
	rep := &Report{
		OrganizationName: r.Organization,
		DateRange:        DateRange{Start: start.UTC(), End: start.UTC().Add(24*time.Hour - time.Second)},
		ContactInfo:      r.Contact,
		ReportID:         fmt.Sprintf("%s_%s@%s", start.Format("2006-01-02"), domain, r.Submitter),
		Policies:         []ReportPolicy{},
	}
	for _, p := range d.Policies {
		rp := ReportPolicy{
			Policy:  PolicyDesc{Type: p.Type, String: p.Strings, Domain: domain, MXHost: p.MXHost},
			Summary: Summary{Successful: p.Success, Failed: p.Failure},
		}
		for _, f := range p.Failures {
			rp.FailureDetails = append(rp.FailureDetails, FailureDetail{ResultType: f.Result,
				ReceivingMXHostname: f.MX, ReceivingIP: f.IP, FailedSessionCount: f.Count, FailureReasonCode: f.Detail})
		}
		rep.Policies = append(rep.Policies, rp)
	}
	return rep, nil
}

// Gzip is the report as sent: JSON, gzip-compressed (RFC 8460 5.1).
func (rep *Report) Gzip() ([]byte, error) {
	js, err := json.Marshal(rep)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(js); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// FileName is the report's file name (RFC 8460 5.1): submitter, policy
// domain, start and end as Unix seconds, ".json.gz".
func (r Reporter) FileName(rep *Report, domain string) string {
	return fmt.Sprintf("%s!%s!%d!%d.json.gz", r.Submitter, domain, rep.DateRange.Start.Unix(), rep.DateRange.End.Unix())
}

// Record is a domain's _smtp._tls TXT record (RFC 8460 3).
type Record struct {
	RUA []*url.URL // mailto: and https: only, in the record's order
}

// ParseRecords picks the one "v=TLSRPTv1" record among a name's TXT
// strings and parses its rua. None, or more than one, is an error.
func ParseRecords(txts []string) (*Record, error) {
	var found []string
	for _, t := range txts {
		if v, _, _ := strings.Cut(t, ";"); strings.TrimSpace(v) == "v=TLSRPTv1" {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return nil, ErrNoRecord
	case 1:
	default:
		return nil, fmt.Errorf("%d v=TLSRPTv1 records; RFC 8460 3 wants exactly one", len(found))
	}
	rec := &Record{}
	for _, f := range strings.Split(found[0], ";")[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		if strings.TrimSpace(k) != "rua" {
			continue
		}
		for _, u := range strings.Split(v, ",") {
			p, err := url.Parse(strings.TrimSpace(u))
			if err != nil {
				return nil, fmt.Errorf("rua %q: %w", u, err)
			}
			switch {
			case p.Scheme == "mailto" && strings.Contains(p.Opaque, "@"):
			case p.Scheme == "https" && p.Host != "":
			default:
				return nil, fmt.Errorf("rua %q: want mailto:address or https://host/path", u)
			}
			rec.RUA = append(rec.RUA, p)
		}
	}
	if len(rec.RUA) == 0 {
		return nil, fmt.Errorf("no rua in %q", found[0])
	}
	return rec, nil
}

// ErrNoRecord: the domain publishes no TLS-RPT record.
var ErrNoRecord = fmt.Errorf("no v=TLSRPTv1 record")

// mailAddress is a mailto: URI's address.
func mailAddress(u *url.URL) (string, error) {
	addr, err := url.PathUnescape(u.Opaque)
	if err != nil {
		return "", err
	}
	addr, _, _ = strings.Cut(addr, "?")
	return addr, nil
}
