package console

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/queue"
)

// Page sizes, and how many messages one Activity search examines before
// it answers with what it found and a link to search on (bounded time on
// a queue of millions).
const (
	activityPage  = 50
	activityScan  = 20000
	suppressPage  = 100
	timeFormHTML  = "2006-01-02T15:04"
	maxPreviewLen = 256 << 10
)

// problem maps an admin error to a status.
func problem(err error) int {
	switch {
	case errors.Is(err, admin.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, admin.ErrNoMessage), errors.Is(err, admin.ErrNoSuppression), errors.Is(err, admin.ErrNoWebhook):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

type activityRow struct {
	ID        string
	Arrived   time.Time
	Sender    string
	Tag       string
	Rcpt      admin.RecipientEntry
	FirstOfID bool
}

type activityData struct {
	Q         url.Values
	States    []string
	Rows      []activityRow
	Next      string // older page
	Short     bool   // the scan stopped before filling the page
	Error     string
	Searching bool
}

// activity is the search: newest first, a row per recipient.
func (c *Console) activity(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	d := activityData{Q: q}
	for _, st := range queue.States() {
		d.States = append(d.States, string(st))
	}
	f := admin.QueueFilter{Rcpt: strings.TrimSpace(q.Get("rcpt")), Sender: strings.TrimSpace(q.Get("sender")),
		Tag: strings.TrimSpace(q.Get("tag")), Domain: strings.TrimSpace(q.Get("domain")), State: q.Get("state"), After: q.Get("after"), Limit: activityPage,
		Newest: true, Scan: activityScan}
	if id := strings.ToUpper(strings.TrimSpace(q.Get("id"))); id != "" {
		http.Redirect(w, r, "/ui/messages/"+url.PathEscape(id), http.StatusSeeOther)
		return
	}
	var err error
	if f.Since, err = formTime(q.Get("since")); err != nil {
		d.Error = "since: " + err.Error()
	} else if f.Until, err = formTime(q.Get("until")); err != nil {
		d.Error = "until: " + err.Error()
	}
	d.Searching = f.Domain != "" || f.Rcpt != "" || f.Sender != "" || f.Tag != "" || f.State != "" || !f.Since.IsZero() || !f.Until.IsZero()
	status := http.StatusOK
	if d.Error == "" {
		page, err := c.o.Admin.ListQueue(r.Context(), f)
		if err != nil {
			status, d.Error = problem(err), err.Error()
		} else {
			d.Next = page.Next
			d.Short = page.Next != "" && len(page.Messages) < activityPage
			for _, m := range page.Messages {
				first := true
				for _, rc := range m.Recipients {
					if f.Rcpt != "" && !strings.EqualFold(rc.Address, f.Rcpt) || f.State != "" && rc.State != f.State ||
						f.Domain != "" && !strings.HasSuffix(strings.ToLower(rc.Address), "@"+strings.ToLower(f.Domain)) {
						continue
					}
					d.Rows = append(d.Rows, activityRow{ID: m.ID, Arrived: m.Arrived, Sender: m.Sender, Tag: m.Tag, Rcpt: rc, FirstOfID: first})
					first = false
				}
			}
		}
	} else {
		status = http.StatusBadRequest
	}
	c.render(w, r, status, "activity", s, d)
}

// formTime reads a datetime-local field as UTC (the page says so).
func formTime(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{timeFormHTML, "2006-01-02T15:04:05", time.RFC3339, "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time like 2026-11-23T09:00 (UTC)", v)
}

type messageData struct {
	M          *admin.MessageDetail
	Preview    *preview
	BodyGone   bool
	Actions    []string
	Suppressed map[string]*admin.SuppressionEntry
	Events     []admin.MessageEvent
	EventsErr  string
}

func (c *Console) message(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	m, err := c.o.Admin.ShowMessage(r.Context(), id)
	if err != nil {
		c.fail(w, r, s, problem(err), err.Error())
		return
	}
	d := messageData{M: m, Actions: []string{"retry", "hold", "release", "bounce", "delete"},
		Suppressed: map[string]*admin.SuppressionEntry{}}
	body, err := c.o.Admin.MessageBody(r.Context(), id)
	switch {
	case errors.Is(err, admin.ErrNoMessage):
		d.BodyGone = true
	case err != nil:
		c.fail(w, r, s, problem(err), err.Error())
		return
	default:
		d.Preview = makePreview(body)
	}
	for _, rc := range m.Recipients {
		if sup, err := c.o.Admin.ShowSuppression(r.Context(), rc.Address); err == nil && sup.Active {
			d.Suppressed[rc.Address] = sup
		}
	}
	if d.Events, err = c.o.Admin.MessageEvents(r.Context(), id); err != nil {
		d.EventsErr = err.Error()
	}
	c.render(w, r, http.StatusOK, "message", s, d)
}

// messageHTML serves the message's HTML part for the sandboxed iframe:
// the CSP sandbox (no allow-scripts) and default-src 'none' block its
// scripts and every remote load even when opened on its own.
func (c *Console) messageHTML(w http.ResponseWriter, r *http.Request, s *session) {
	body, err := c.o.Admin.MessageBody(r.Context(), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, s, problem(err), err.Error())
		return
	}
	p := makePreview(body)
	h := w.Header()
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Frame-Options", "SAMEORIGIN")
	w.Write([]byte(p.HTML)) //nolint:errcheck // the client is gone
}

// confirmData is a confirmation page: the same form again with confirm=yes.
type confirmData struct {
	Question string
	Action   string
	Fields   [][2]string
	Back     string
	Danger   bool
}

func (c *Console) confirm(w http.ResponseWriter, r *http.Request, s *session, d confirmData) {
	c.render(w, r, http.StatusOK, "confirm", s, d)
}

func (c *Console) messageAction(w http.ResponseWriter, r *http.Request, s *session) {
	id, act := r.PathValue("id"), r.PostFormValue("action")
	back := "/ui/messages/" + url.PathEscape(id)
	if !slices.Contains([]string{"retry", "hold", "release", "bounce", "delete"}, act) {
		c.fail(w, r, s, http.StatusBadRequest, fmt.Sprintf("action: unknown action %q (want retry, hold, release, bounce or delete)", act))
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		c.confirm(w, r, s, confirmData{Question: fmt.Sprintf("%s message %s?", titleCase(act), id), Action: back + "/action",
			Fields: [][2]string{{"action", act}}, Back: back, Danger: act == "bounce" || act == "delete"})
		return
	}
	res, err := c.o.Admin.QueueAction(r.Context(), admin.QueueAction{Action: act, ID: id})
	if err != nil {
		c.fail(w, r, s, problem(err), err.Error())
		return
	}
	done := fmt.Sprintf("%s: %d recipient(s) changed", act, res.Recipients)
	if act == "delete" {
		back = "/ui/activity"
	}
	http.Redirect(w, r, back+"?done="+url.QueryEscape(done), http.StatusSeeOther)
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

type suppressionsData struct {
	Q       url.Values
	Reasons []string
	Entries []admin.SuppressionEntry
	Next    string
	Error   string
	Import  *admin.ImportResult
}

var reasons = []string{"hard_bounce", "soft_bounce_expired", "complaint", "unsubscribe", "manual"}

func (c *Console) suppressions(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	d := suppressionsData{Q: q, Reasons: reasons}
	addr := strings.ToLower(strings.TrimSpace(q.Get("address")))
	f := admin.SuppressionFilter{Reason: q.Get("reason"), After: q.Get("after"), Limit: suppressPage}
	status := http.StatusOK
	if addr != "" && f.After == "" {
		// Addresses sort, so a prefix is a range: the exact entry, then
		// those after it that share the prefix.
		if e, err := c.o.Admin.ShowSuppression(r.Context(), addr); err == nil && (f.Reason == "" || e.Reason == f.Reason) {
			d.Entries = append(d.Entries, *e)
		}
		f.After = addr
	}
	page, err := c.o.Admin.ListSuppressions(r.Context(), f)
	if err != nil {
		status, d.Error = problem(err), err.Error()
	} else {
		for _, e := range page.Entries {
			if addr != "" && !strings.HasPrefix(e.Address, addr) {
				page.Next = ""
				break
			}
			d.Entries = append(d.Entries, e)
		}
		if page.Next != "" {
			d.Next = page.Next
		}
	}
	c.render(w, r, status, "suppressions", s, d)
}

func (c *Console) exportSuppressions(w http.ResponseWriter, r *http.Request, _ *session) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="suppressions.csv"`)
	if err := c.o.Admin.ExportSuppressions(r.Context(), w); err != nil {
		c.log.Warn("console suppression export", zapErr(err))
	}
}

func (c *Console) addSuppression(w http.ResponseWriter, r *http.Request, s *session) {
	a := admin.SuppressionAdd{Address: strings.TrimSpace(r.PostFormValue("address")), Reason: r.PostFormValue("reason")}
	if ttl := strings.TrimSpace(r.PostFormValue("ttl")); ttl != "" {
		d, err := time.ParseDuration(ttl)
		if err != nil || d < 0 {
			c.fail(w, r, s, http.StatusBadRequest, fmt.Sprintf("ttl: %q is not a duration like 720h", ttl))
			return
		}
		a.TTL = d
	}
	e, err := c.o.Admin.AddSuppression(r.Context(), a)
	if err != nil {
		c.fail(w, r, s, problem(err), err.Error())
		return
	}
	http.Redirect(w, r, "/ui/suppressions?address="+url.QueryEscape(e.Address)+"&done="+url.QueryEscape("suppressed "+e.Address), http.StatusSeeOther)
}

func (c *Console) importSuppressions(w http.ResponseWriter, r *http.Request, s *session) {
	f, _, err := r.FormFile("file")
	if err != nil {
		c.fail(w, r, s, http.StatusBadRequest, "file: choose a CSV file to import ("+err.Error()+")")
		return
	}
	defer f.Close()
	res, err := c.o.Admin.ImportSuppressions(r.Context(), f, nil)
	if err != nil {
		c.fail(w, r, s, problem(err), err.Error())
		return
	}
	c.render(w, r, http.StatusOK, "suppressions", s, suppressionsData{Q: url.Values{}, Reasons: reasons, Import: res})
}

func (c *Console) removeSuppression(w http.ResponseWriter, r *http.Request, s *session) {
	addr := strings.TrimSpace(r.PostFormValue("address"))
	back := safeNext(r.PostFormValue("back"))
	if r.PostFormValue("confirm") != "yes" {
		c.confirm(w, r, s, confirmData{Question: "Unblock " + addr + "? mtaq will send to it again.",
			Action: "/ui/suppressions/remove", Fields: [][2]string{{"address", addr}, {"back", back}}, Back: back})
		return
	}
	if err := c.o.Admin.RemoveSuppression(r.Context(), addr); err != nil {
		c.fail(w, r, s, problem(err), err.Error())
		return
	}
	http.Redirect(w, r, addDone(back, "unblocked "+addr), http.StatusSeeOther)
}

func addDone(u, msg string) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "done=" + url.QueryEscape(msg)
}

func (c *Console) queuePage(w http.ResponseWriter, r *http.Request, s *session) {
	ds, err := c.o.Admin.DestinationQueues(r.Context())
	if err != nil {
		c.fail(w, r, s, problem(err), err.Error())
		return
	}
	var total int64
	for _, d := range ds {
		total += d.Waiting
	}
	c.render(w, r, http.StatusOK, "queue", s, map[string]any{"Destinations": ds, "Waiting": total})
}

// maxRateRows bounds the domains each rate chart draws (the busiest);
// the table below lists up to maxRateTable.
const (
	maxRateRows  = 15
	maxRateTable = 200
)

func (c *Console) overview(w http.ResponseWriter, r *http.Request, s *session) {
	ov, err := c.o.Admin.Overview(r.Context())
	if err != nil {
		c.fail(w, r, s, problem(err), err.Error())
		return
	}
	busiest := slices.Clone(ov.Domains)
	slices.SortStableFunc(busiest, func(a, b admin.DomainRates) int {
		return cmp.Compare(b.Delivered+b.Bounced, a.Delivered+a.Bounced)
	})
	var sent, delivered []admin.DomainRates
	for _, d := range busiest {
		if d.Delivered+d.Bounced > 0 && len(sent) < maxRateRows {
			sent = append(sent, d)
		}
		if d.Delivered > 0 && len(delivered) < maxRateRows {
			delivered = append(delivered, d)
		}
	}
	hourLabel := func(t time.Time) string {
		if t.Hour()%3 != 0 {
			return ""
		}
		return t.Format("15h")
	}
	dayLabel := func(t time.Time) string { return t.Format("Mon 2") }
	data := map[string]any{
		"Overview": ov,
		"Hours":    outcomeChart("chart-hours", "Outcomes per hour, last 24 hours (UTC)", ov.Hours, time.Hour, hourLabel),
		"Days":     outcomeChart("chart-days", "Outcomes per day, last 7 days (UTC)", ov.Days, 24*time.Hour, dayLabel),
		"Bounce":   rateChart("chart-bounce", "Bounce rate per destination domain, last 7 days", sent, false),
		"Complain": rateChart("chart-complaint", "Complaint rate per destination domain, last 7 days", delivered, true),
		"Table":    ov.Domains[:min(len(ov.Domains), maxRateTable)],
		"More":     max(len(ov.Domains)-maxRateTable, 0),
		"Charted":  len(sent),
	}
	c.render(w, r, http.StatusOK, "overview", s, data)
}

func (c *Console) queueAction(w http.ResponseWriter, r *http.Request, s *session) {
	domain, act := strings.TrimSpace(r.PostFormValue("domain")), r.PostFormValue("action")
	if !slices.Contains([]string{"retry", "hold", "release"}, act) {
		c.fail(w, r, s, http.StatusBadRequest, fmt.Sprintf("action: %q is not retry, hold or release", act))
		return
	}
	if domain == "" {
		c.fail(w, r, s, http.StatusBadRequest, "domain: name the destination domain")
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		c.confirm(w, r, s, confirmData{Question: fmt.Sprintf("%s every recipient at %s?", titleCase(act), domain),
			Action: "/ui/queue/action", Fields: [][2]string{{"domain", domain}, {"action", act}}, Back: "/ui/queue"})
		return
	}
	res, err := c.o.Admin.QueueAction(r.Context(), admin.QueueAction{Action: act, Domain: domain})
	if err != nil {
		c.fail(w, r, s, problem(err), err.Error())
		return
	}
	http.Redirect(w, r, addDone("/ui/queue", fmt.Sprintf("%s %s: %d recipient(s) in %d message(s)", act, domain, res.Recipients, res.Messages)), http.StatusSeeOther)
}

func (c *Console) webhooks(w http.ResponseWriter, r *http.Request, s *session) {
	l, err := c.o.Admin.ListWebhooks(r.Context())
	if err != nil {
		c.fail(w, r, s, problem(err), err.Error())
		return
	}
	c.render(w, r, http.StatusOK, "webhooks", s, l)
}

func (c *Console) retryWebhook(w http.ResponseWriter, r *http.Request, s *session) {
	name, dead := r.PostFormValue("name"), r.PostFormValue("dead") == "yes"
	if r.PostFormValue("confirm") != "yes" {
		q := "Enable " + name + " again and end its backoff?"
		if dead {
			q = "Send " + name + "'s dead letters again?"
		}
		c.confirm(w, r, s, confirmData{Question: q, Action: "/ui/webhooks/retry",
			Fields: [][2]string{{"name", name}, {"dead", r.PostFormValue("dead")}}, Back: "/ui/webhooks"})
		return
	}
	res, err := c.o.Admin.RetryWebhook(r.Context(), name, dead)
	if err != nil {
		c.fail(w, r, s, problem(err), err.Error())
		return
	}
	http.Redirect(w, r, addDone("/ui/webhooks", fmt.Sprintf("%s: resent %d, delivered %d, failed %d", name, res.Resent, res.Delivered, res.Failed)), http.StatusSeeOther)
}
