package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/mtaq/mtaq/internal/admin"
)

// checkQuery refuses parameters the route does not know, so a typo is
// not silently an unfiltered listing.
func checkQuery(q url.Values, known ...string) *Problem {
	for name := range q {
		if !slices.Contains(known, name) {
			return invalidField(name, "unknown query parameter")
		}
	}
	return nil
}

func queryInt(q url.Values, name string) (int, *Problem) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, invalidField(name, "want a non-negative integer, got %q", v)
	}
	return n, nil
}

func queryTime(q url.Values, name string) (time.Time, *Problem) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, invalidField(name, "want an RFC 3339 time, got %q", v)
	}
	return t, nil
}

// listMessages is the admin ListQueue; a key with allowed_senders sees
// only its senders' messages (a page may then be short: follow next).
func (s *Server) listMessages(_ http.ResponseWriter, r *http.Request, k *Key) (int, any, *Problem) {
	q := r.URL.Query()
	if p := checkQuery(q, "recipient", "sender", "tag", "state", "since", "until", "cursor", "limit"); p != nil {
		return 0, nil, p
	}
	f := admin.QueueFilter{Rcpt: q.Get("recipient"), Sender: q.Get("sender"), Tag: q.Get("tag"),
		State: q.Get("state"), After: q.Get("cursor")}
	var p *Problem
	if f.Limit, p = queryInt(q, "limit"); p != nil {
		return 0, nil, p
	}
	if f.Since, p = queryTime(q, "since"); p != nil {
		return 0, nil, p
	}
	if f.Until, p = queryTime(q, "until"); p != nil {
		return 0, nil, p
	}
	page, err := s.o.Admin.ListQueue(r.Context(), f)
	if err != nil {
		return 0, nil, fromAdmin(err)
	}
	page.Messages = slices.DeleteFunc(page.Messages, func(m admin.QueueEntry) bool { return !k.mayUse(m.Sender) })
	return http.StatusOK, page, nil
}

func (s *Server) showMessage(_ http.ResponseWriter, r *http.Request, k *Key) (int, any, *Problem) {
	id := r.PathValue("id")
	d, err := s.o.Admin.ShowMessage(r.Context(), id)
	if err != nil {
		return 0, nil, fromAdmin(err)
	}
	if !k.mayUse(d.Sender) {
		return 0, nil, notFound("no message " + id) // not this key's to read
	}
	return http.StatusOK, d, nil
}

func (s *Server) listSuppressions(_ http.ResponseWriter, r *http.Request, _ *Key) (int, any, *Problem) {
	q := r.URL.Query()
	if p := checkQuery(q, "reason", "cursor", "limit"); p != nil {
		return 0, nil, p
	}
	n, p := queryInt(q, "limit")
	if p != nil {
		return 0, nil, p
	}
	page, err := s.o.Admin.ListSuppressions(r.Context(), admin.SuppressionFilter{Reason: q.Get("reason"), After: q.Get("cursor"), Limit: n})
	if err != nil {
		return 0, nil, fromAdmin(err)
	}
	return http.StatusOK, page, nil
}

// SuppressionRequest is POST /v1/suppressions. TTL is a Go duration
// ("720h"); empty: the reason's default lifetime.
type SuppressionRequest struct {
	Address string `json:"address"`
	Reason  string `json:"reason"`
	TTL     string `json:"ttl"`
}

func (s *Server) addSuppression(_ http.ResponseWriter, r *http.Request, _ *Key) (int, any, *Problem) {
	var req SuppressionRequest
	if p := decodeStrict(r.Body, 64<<10, &req); p != nil {
		return 0, nil, p
	}
	if req.Address == "" {
		return 0, nil, invalidField("address", "required")
	}
	add := admin.SuppressionAdd{Address: req.Address, Reason: req.Reason}
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 {
			return 0, nil, invalidField("ttl", "want a positive duration like \"720h\", got %q", req.TTL)
		}
		add.TTL = d
	}
	e, err := s.o.Admin.AddSuppression(r.Context(), add)
	if err != nil {
		return 0, nil, fromAdmin(err)
	}
	return http.StatusCreated, e, nil
}

func (s *Server) showSuppression(_ http.ResponseWriter, r *http.Request, _ *Key) (int, any, *Problem) {
	e, err := s.o.Admin.ShowSuppression(r.Context(), r.PathValue("address"))
	if err != nil {
		return 0, nil, fromAdmin(err)
	}
	return http.StatusOK, e, nil
}

func (s *Server) removeSuppression(_ http.ResponseWriter, r *http.Request, _ *Key) (int, any, *Problem) {
	if err := s.o.Admin.RemoveSuppression(r.Context(), r.PathValue("address")); err != nil {
		return 0, nil, fromAdmin(err)
	}
	return http.StatusNoContent, nil, nil
}

// listEvents is the outbox after seq after; a key with allowed_senders
// sees its senders' events only. last is the cursor for the next call.
func (s *Server) listEvents(_ http.ResponseWriter, r *http.Request, k *Key) (int, any, *Problem) {
	q := r.URL.Query()
	if p := checkQuery(q, "after", "limit"); p != nil {
		return 0, nil, p
	}
	var after uint64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, nil, invalidField("after", "want an event seq (a non-negative integer), got %q", v)
		}
		after = n
	}
	n, p := queryInt(q, "limit")
	if p != nil {
		return 0, nil, p
	}
	if n == 0 {
		n = 1000 // the admin API's default page
	}
	page, err := s.o.Admin.Events(r.Context(), after, min(n, 10000))
	if err != nil {
		return 0, nil, fromAdmin(err)
	}
	if len(k.AllowedSenders) > 0 {
		kept := page.Events[:0]
		for _, e := range page.Events {
			if k.mayUse(e.Sender) {
				kept = append(kept, e)
			}
		}
		page.Events = kept
	}
	return http.StatusOK, page, nil
}

func (s *Server) stats(_ http.ResponseWriter, r *http.Request, _ *Key) (int, any, *Problem) {
	st, err := s.o.Admin.Stats(r.Context())
	if err != nil {
		return 0, nil, fromAdmin(err)
	}
	return http.StatusOK, st, nil
}

// overview is the console's Overview as JSON: the queue's stored counters,
// a few hundred reads whatever the queue's size (unlike stats, a scan).
func (s *Server) overview(_ http.ResponseWriter, r *http.Request, _ *Key) (int, any, *Problem) {
	ov, err := s.o.Admin.Overview(r.Context())
	if err != nil {
		return 0, nil, fromAdmin(err)
	}
	return http.StatusOK, ov, nil
}
