package console

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/queue"
)

func zapErr(err error) zap.Field { return zap.Error(err) }

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// stamp is a time as the page shows it: UTC in the text (what a browser
// without JavaScript shows) and the title; console.js rewrites the text
// into the browser's zone and keeps UTC on hover.
func stamp(t time.Time) template.HTML {
	if t.IsZero() {
		return "—"
	}
	u := t.UTC()
	return template.HTML(fmt.Sprintf(`<time datetime="%s" title="%s">%s</time>`,
		u.Format(time.RFC3339), u.Format("2006-01-02 15:04:05 UTC"), u.Format("2006-01-02 15:04:05 UTC")))
}

func stampPtr(t *time.Time) template.HTML {
	if t == nil {
		return "—"
	}
	return stamp(*t)
}

func reply(r *queue.Reply) string {
	if r == nil || r.Code == 0 && r.Text == "" {
		return ""
	}
	s := fmt.Sprint(r.Code)
	if r.Enhanced != "" {
		s += " " + r.Enhanced
	}
	if r.Text != "" {
		s += " " + r.Text
	}
	return s
}

// with sets or replaces one query parameter, for paging links.
func with(q url.Values, key, val string) string {
	n := url.Values{}
	for k, v := range q {
		if k != "done" {
			n[k] = v
		}
	}
	if val == "" {
		n.Del(key)
	} else {
		n.Set(key, val)
	}
	return n.Encode()
}

var funcs = template.FuncMap{
	"stamp":    stamp,
	"stampPtr": stampPtr,
	"reply": func(r any) string {
		switch r := r.(type) {
		case *queue.Reply:
			return reply(r)
		case queue.Reply:
			return reply(&r)
		}
		return ""
	},
	"withq":   with,
	"list":    func(s ...string) []string { return s },
	"path":    url.PathEscape,
	"query":   url.QueryEscape,
	"lower":   strings.ToLower,
	"upper":   strings.ToUpper,
	"title":   titleCase,
	"pct":     func(f float64) string { return fmt.Sprintf("%.2f%%", f*100) },
	"ms":      func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) },
	"bytes":   func(n int64) string { return bytesText(n) },
	"sender":  func(s string) string { return senderText(s) },
	"nonzero": func(t time.Time) bool { return !t.IsZero() },
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func senderText(s string) string {
	if s == "" {
		return "<> (null sender)"
	}
	return s
}
