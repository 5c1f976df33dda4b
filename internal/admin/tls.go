package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
)

// TLSReport is a policy domain's TLS-RPT counts for the UTC day so far
// (mtaq tls report DOMAIN): Report is the RFC 8460 aggregate report as it
// would be sent at the end of the day.
type TLSReport struct {
	Domain string          `json:"domain"`
	Day    string          `json:"day"` // yyyymmdd, UTC
	Report json.RawMessage `json:"report"`
}

// tlsReporter builds the day-so-far report for a domain.
type tlsReporter func(ctx context.Context, domain string) (*TLSReport, error)

type tlsHolder struct{ f atomic.Pointer[tlsReporter] }

// SetTLSReporter makes TLSReport possible; the daemon sets it once started.
func (s *Service) SetTLSReporter(f func(ctx context.Context, domain string) (*TLSReport, error)) {
	r := tlsReporter(f)
	s.tls.f.Store(&r)
}

// TLSReport implements API; ErrInvalid (wrapped) for a missing domain.
func (s *Service) TLSReport(ctx context.Context, domain string) (*TLSReport, error) {
	domain = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(domain), "."))
	if domain == "" || strings.ContainsAny(domain, "/@ ") {
		return nil, invalid("domain: want a domain name, got %q", domain)
	}
	f := s.tls.f.Load()
	if f == nil {
		return nil, invalid("this daemon keeps no TLS report")
	}
	return (*f)(ctx, domain)
}

func (h *handler) tlsReport(w http.ResponseWriter, r *http.Request) {
	rep, err := h.api.TLSReport(r.Context(), r.URL.Query().Get("domain"))
	h.reply(w, r, rep, err)
}

// TLSReport implements API.
func (c *Client) TLSReport(ctx context.Context, domain string) (*TLSReport, error) {
	var rep TLSReport
	if err := c.do(ctx, http.MethodGet, "/v1/tls/report", url.Values{"domain": {domain}}, nil, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}
