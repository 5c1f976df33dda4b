package console

import (
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"

	"github.com/mtaq/mtaq/internal/admin"
)

// The Overview's charts are SVG written on the server: no script, nothing
// from another host, and readable without colour, since every row and
// mark is labelled in text and every bar has a <title> with its number.
// Colours come from console.css classes (the CSP allows no inline style).

const (
	chartW    = 760 // viewBox width
	labelW    = 170 // left column: series name and total
	rowH      = 44
	axisH     = 22
	barGap    = 2
	rateRowH  = 22
	rateLabel = 150
	rateTextW = 230
)

var series = []struct {
	name, class string
	get         func(b admin.OutcomeBucket) int64
}{
	{"Delivered", "c-delivered", func(b admin.OutcomeBucket) int64 { return b.Delivered }},
	{"Deferred", "c-deferred", func(b admin.OutcomeBucket) int64 { return b.Deferred }},
	{"Bounced", "c-bounced", func(b admin.OutcomeBucket) int64 { return b.Bounced }},
	{"Complained", "c-complained", func(b admin.OutcomeBucket) int64 { return b.Complained }},
}

// outcomeChart draws one row of bars per outcome, each row on its own
// scale (a few bounces stay visible beside thousands of deliveries), the
// row's total written beside its name. span is the bucket's length;
// label names a bucket on the axis ("" for none).
func outcomeChart(id, title string, bs []admin.OutcomeBucket, span time.Duration, label func(t time.Time) string) template.HTML {
	var b strings.Builder
	h := len(series)*rowH + axisH
	totals := make([]int64, len(series))
	for i, s := range series {
		for _, x := range bs {
			totals[i] += s.get(x)
		}
	}
	desc := make([]string, len(series))
	for i, s := range series {
		desc[i] = fmt.Sprintf("%s %d", strings.ToLower(s.name), totals[i])
	}
	fmt.Fprintf(&b, `<svg class="chart" id="%s" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t %s-d">`, id, chartW, h, id, id)
	fmt.Fprintf(&b, `<title id="%s-t">%s</title><desc id="%s-d">Totals: %s.</desc>`, id, esc(title), id, esc(strings.Join(desc, ", ")))
	n := max(len(bs), 1)
	bw := float64(chartW-labelW) / float64(n)
	for i, s := range series {
		y0 := i * rowH
		var peak int64
		for _, x := range bs {
			peak = max(peak, s.get(x))
		}
		fmt.Fprintf(&b, `<g class="row %s"><text class="name" x="0" y="%d">%s</text><text class="total" x="0" y="%d">%d total`,
			s.class, y0+18, s.name, y0+36, totals[i])
		if peak > 0 && len(bs) > 1 {
			fmt.Fprintf(&b, ` · max %d`, peak)
		}
		b.WriteString(`</text>`)
		fmt.Fprintf(&b, `<line class="base" x1="%d" y1="%d" x2="%d" y2="%d"/>`, labelW, y0+rowH-4, chartW, y0+rowH-4)
		for j, x := range bs {
			v := s.get(x)
			if v == 0 {
				continue
			}
			bh := float64(rowH-8) * float64(v) / float64(peak)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d %s</title></rect>`,
				float64(labelW)+float64(j)*bw+barGap/2, float64(y0+rowH-4)-bh, bw-barGap, bh,
				esc(bucketName(x.Start, span)), v, strings.ToLower(s.name))
		}
		b.WriteString(`</g>`)
	}
	ya := len(series)*rowH + 16
	for j, x := range bs {
		if l := label(x.Start); l != "" {
			fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="middle">%s</text>`, float64(labelW)+(float64(j)+0.5)*bw, ya, esc(l))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text above is escaped
}

func bucketName(t time.Time, span time.Duration) string {
	if span >= 24*time.Hour {
		return t.Format("Mon 2 Jan") + " (UTC)"
	}
	return t.Format("2 Jan 15:04") + "–" + t.Add(span).Format("15:04") + " UTC"
}

// rateChart draws one horizontal bar per domain with the warning and
// critical marks as labelled vertical lines; each bar is followed by its
// rate, its counts and its level in words.
func rateChart(id, title string, ds []admin.DomainRates, complaint bool) template.HTML {
	warn, crit := admin.WarningRate, admin.CriticalRate
	if complaint {
		warn, crit = admin.ComplaintWarningRate, admin.ComplaintCriticalRate
	}
	scale := crit * 1.6
	for _, d := range ds {
		scale = max(scale, rateOf(d, complaint))
	}
	h := len(ds)*rateRowH + 30
	x0, x1 := rateLabel, chartW-rateTextW
	xOf := func(r float64) float64 { return float64(x0) + float64(x1-x0)*r/scale }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" id="%s" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t %s-d">`, id, chartW, h, id, id)
	fmt.Fprintf(&b, `<title id="%s-t">%s</title><desc id="%s-d">Marks at %s (warning) and %s (critical). %d domain(s).</desc>`,
		id, esc(title), id, pctText(warn), pctText(crit), len(ds))
	for _, m := range []struct {
		r    float64
		name string
	}{{warn, "warning"}, {crit, "critical"}} {
		fmt.Fprintf(&b, `<line class="mark %s" x1="%.1f" y1="14" x2="%.1f" y2="%d"/><text class="axis" x="%.1f" y="10" text-anchor="middle">%s %s</text>`,
			m.name, xOf(m.r), xOf(m.r), h, xOf(m.r), pctText(m.r), m.name)
	}
	for i, d := range ds {
		y := 18 + i*rateRowH
		r := rateOf(d, complaint)
		lvl, n, of, what := d.BounceLevel, d.Bounced, d.Delivered+d.Bounced, "sent"
		if complaint {
			lvl, n, of, what = d.ComplaintLevel, d.Complained, d.Delivered, "delivered"
		}
		fmt.Fprintf(&b, `<g class="rate l-%s"><text class="name" x="0" y="%d">%s</text>`, lvl, y+14, esc(trimDomain(d.Domain)))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d"><title>%s: %s (%d of %d %s), %s</title></rect>`,
			x0, y+3, max(xOf(r)-float64(x0), 1), rateRowH-6, esc(d.Domain), pctText(r), n, of, what, lvl)
		fmt.Fprintf(&b, `<text class="value" x="%d" y="%d">%s · %d of %d · %s</text></g>`, x1+8, y+14, pctText(r), n, of, lvl)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text above is escaped
}

func rateOf(d admin.DomainRates, complaint bool) float64 {
	if complaint {
		return d.ComplaintRate
	}
	return d.BounceRate
}

func pctText(r float64) string {
	s := fmt.Sprintf("%.2f", r*100)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + "%"
}

func trimDomain(d string) string {
	if len(d) > 22 {
		return d[:21] + "…"
	}
	return d
}

func esc(s string) string { return html.EscapeString(s) }
