package admin

import (
	"bytes"
	"cmp"
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/mtaq/mtaq/queue"
)

// Reports is the feedback loop as the admin API reaches it: the daemon's
// receiver (the same one the inbound listener uses) and the kept reports.
type Reports interface {
	// Receive applies one report email durably before it returns;
	// ErrInvalid (wrapped) when it is no email or too big.
	Receive(ctx context.Context, raw []byte, rcpts []string) (*ReceiveResult, error)
	Feedbacks(ctx context.Context, f queue.FeedbackFilter) ([]queue.FeedbackRecord, error)
	// CountBySender counts delivered recipients and complaints per
	// sending domain since since (queue.PebbleStore.CountBySender).
	CountBySender(ctx context.Context, since time.Time) ([]queue.SenderCounts, error)
}

// Complaint-rate marks: Gmail's sender guidelines ask bulk senders to
// keep the rate below 0.1% and never let it reach 0.3%.
const (
	ComplaintWarningRate  = 0.001
	ComplaintCriticalRate = 0.003
)

// ComplaintStat is one sending domain's complaint rate over the last day
// and the last week (complaints / delivered recipients).
type ComplaintStat struct {
	Domain        string  `json:"domain"`
	Delivered24h  int     `json:"delivered_24h"`
	Complaints24h int     `json:"complaints_24h"`
	Rate24h       float64 `json:"rate_24h"`
	Delivered7d   int     `json:"delivered_7d"`
	Complaints7d  int     `json:"complaints_7d"`
	Rate7d        float64 `json:"rate_7d"`
	// Level is the worse of the two windows: ok, warning (≥ 0.1%) or
	// critical (≥ 0.3%).
	Level string `json:"level"`
}

// complaintStats reads both windows; nil without a feedback loop.
func (s *Service) complaintStats(ctx context.Context, now time.Time) ([]ComplaintStat, error) {
	if s.reports == nil {
		return []ComplaintStat{}, nil
	}
	day, err := s.reports.CountBySender(ctx, now.Add(-24*time.Hour))
	if err != nil {
		return nil, err
	}
	week, err := s.reports.CountBySender(ctx, now.Add(-7*24*time.Hour))
	if err != nil {
		return nil, err
	}
	by := map[string]queue.SenderCounts{}
	for _, c := range day {
		by[c.Domain] = c
	}
	out := make([]ComplaintStat, 0, len(week))
	for _, w := range week {
		d := by[w.Domain]
		cs := ComplaintStat{Domain: w.Domain, Delivered24h: d.Delivered, Complaints24h: d.Complaints,
			Rate24h: rate(d.Complaints, d.Delivered), Delivered7d: w.Delivered, Complaints7d: w.Complaints,
			Rate7d: rate(w.Complaints, w.Delivered)}
		worst := max(cs.Rate24h, cs.Rate7d)
		switch {
		case worst >= ComplaintCriticalRate:
			cs.Level = LevelCritical
		case worst >= ComplaintWarningRate:
			cs.Level = LevelWarning
		default:
			cs.Level = LevelOK
		}
		out = append(out, cs)
	}
	rank := map[string]int{LevelCritical: 0, LevelWarning: 1, LevelOK: 2}
	slices.SortStableFunc(out, func(a, b ComplaintStat) int {
		if rank[a.Level] != rank[b.Level] {
			return rank[a.Level] - rank[b.Level]
		}
		return cmp.Compare(b.Rate7d, a.Rate7d)
	})
	return out, nil
}

// rate is n/of; a complaint with nothing delivered counts as 100%.
func rate(n, of int) float64 {
	switch {
	case n == 0:
		return 0
	case of == 0:
		return 1
	}
	return float64(n) / float64(of)
}

// ReceiveResult is what one report did: its kind (dsn, complaint,
// auto_reply, not_bounce), the message it named and each recipient's
// record.
type ReceiveResult struct {
	Kind    string                 `json:"kind"`
	QueueID string                 `json:"queue_id,omitempty"`
	Applied []queue.FeedbackRecord `json:"applied"`
}

// ReportFilter selects kept reports, newest first.
type ReportFilter struct {
	Unmatched bool   `json:"unmatched,omitempty"`
	QueueID   string `json:"queue_id,omitempty"`
	Kind      string `json:"kind,omitempty"` // bounce, delay, complaint
	Limit     int    `json:"limit,omitempty"`
}

// ReportPage is a list of kept reports.
type ReportPage struct {
	Reports []queue.FeedbackRecord `json:"reports"`
}

// maxReportBytes bounds POST /v1/bounce/receive; the daemon's receiver
// applies the configured limit below it.
const maxReportBytes = 64 << 20

// ReceiveReport implements API.
func (s *Service) ReceiveReport(ctx context.Context, raw []byte, rcpts []string) (*ReceiveResult, error) {
	if s.reports == nil {
		return nil, invalid("this daemon does not take reports")
	}
	return s.reports.Receive(ctx, raw, rcpts)
}

// ListReports implements API.
func (s *Service) ListReports(ctx context.Context, f ReportFilter) (*ReportPage, error) {
	if s.reports == nil {
		return &ReportPage{Reports: []queue.FeedbackRecord{}}, nil
	}
	switch f.Kind {
	case "", queue.FeedbackBounce, queue.FeedbackDelay, queue.FeedbackComplaint:
	default:
		return nil, invalid("unknown report kind %q: want bounce, delay or complaint", f.Kind)
	}
	recs, err := s.reports.Feedbacks(ctx, queue.FeedbackFilter{Unmatched: f.Unmatched, QueueID: f.QueueID,
		Kind: f.Kind, Limit: limit(f.Limit)})
	if recs == nil {
		recs = []queue.FeedbackRecord{}
	}
	return &ReportPage{Reports: recs}, err
}

func (h *handler) receiveReport(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReportBytes))
	if err != nil {
		h.fail(w, r, invalid("reading the report: %v", err))
		return
	}
	res, err := h.api.ReceiveReport(r.Context(), raw, r.URL.Query()["rcpt"])
	h.reply(w, r, res, err)
}

func (h *handler) listReports(w http.ResponseWriter, r *http.Request) {
	n, err := queryLimit(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	page, err := h.api.ListReports(r.Context(), ReportFilter{Unmatched: q.Get("unmatched") == "true",
		QueueID: q.Get("queue_id"), Kind: q.Get("kind"), Limit: n})
	h.reply(w, r, page, err)
}

// ReceiveReport implements API.
func (c *Client) ReceiveReport(ctx context.Context, raw []byte, rcpts []string) (*ReceiveResult, error) {
	q := url.Values{}
	for _, a := range rcpts {
		q.Add("rcpt", a)
	}
	var res ReceiveResult
	if err := c.doAs(ctx, http.MethodPost, "/v1/bounce/receive", q, bytes.NewReader(raw), "message/rfc822", &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// ListReports implements API.
func (c *Client) ListReports(ctx context.Context, f ReportFilter) (*ReportPage, error) {
	q := url.Values{}
	if f.Unmatched {
		q.Set("unmatched", "true")
	}
	if f.QueueID != "" {
		q.Set("queue_id", f.QueueID)
	}
	if f.Kind != "" {
		q.Set("kind", f.Kind)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var p ReportPage
	if err := c.do(ctx, http.MethodGet, "/v1/bounce/reports", q, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}
