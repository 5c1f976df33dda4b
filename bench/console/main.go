// Command console measures the web console's server time per page on a
// large queue: it opens a data directory (fill one with bench/scale), signs
// in through the console's own login form, then requests each page many
// times straight through the handler (no network, no browser) and reports
// the median and the slowest.
//
//	go run ./bench/scale -n 1000000 -fill-only -keep -dir /var/tmp/mtaq-1m
//	go run ./bench/console -data /var/tmp/mtaq-1m/data
//
// It also gives -outcomes recipients an outcome once (through Apply, spread
// over the last 7 days) so the Overview has a week to read.
//
// Output is one "page median max" line per page, for docs/BENCHMARKS.md.
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/console"
	"github.com/mtaq/mtaq/queue"
)

const key = "bench-console-key"

func main() {
	data := flag.String("data", "", "data directory of a filled queue (bench/scale -keep)")
	rounds := flag.Int("rounds", 20, "requests per page")
	sups := flag.Int("suppressions", 100_000, "suppressed addresses to have (imported once when fewer)")
	outcomes := flag.Int("outcomes", 100_000, "recipients given an outcome over the last 7 days (applied once when the rollup is empty)")
	flag.Parse()
	if *data == "" {
		log.Fatal("-data is required")
	}
	if err := run(*data, *rounds, *sups, *outcomes); err != nil {
		log.Fatal(err)
	}
}

func run(data string, rounds, sups, outcomes int) error {
	start := time.Now()
	s, err := queue.Open(data, queue.Options{MinFreeBytes: -1})
	if err != nil {
		return err
	}
	defer s.Close()
	// A store filled before the rollup existed counts its waiting
	// recipients once here.
	fmt.Printf("open: %.1f s\n", time.Since(start).Seconds())
	ctx := context.Background()
	if err := seedOutcomes(ctx, s, outcomes); err != nil {
		return err
	}
	svc := admin.NewService(admin.Options{Store: s})
	ui, err := console.New(console.Options{Admin: svc, Keys: []console.Key{{Hash: sha256.Sum256([]byte(key)), User: "bench", Admin: true}}})
	if err != nil {
		return err
	}
	if n, err := s.SuppressionCount(ctx); err != nil {
		return err
	} else if n < sups {
		var csv strings.Builder
		for i := n; i < sups; i++ {
			reason := "hard_bounce"
			if i%100 == 0 {
				reason = "complaint"
			}
			fmt.Fprintf(&csv, "user%d@d%d.scale.test,%s\n", i, i%500, reason)
		}
		res, err := svc.ImportSuppressions(ctx, strings.NewReader(csv.String()), nil)
		if err != nil {
			return err
		}
		fmt.Printf("imported %d suppressions\n", res.Added)
	}
	cookie, err := login(ui)
	if err != nil {
		return err
	}
	newest, err := svc.ListQueue(ctx, admin.QueueFilter{Newest: true, Limit: 1})
	if err != nil || len(newest.Messages) == 0 {
		return fmt.Errorf("the queue is empty (%v)", err)
	}
	m := newest.Messages[0]
	// A recipient from the middle of the queue: older than the first
	// bounded scan reaches, so the page answers "search older".
	all, err := svc.ListQueue(ctx, admin.QueueFilter{Newest: true, Limit: 1, After: m.ID, Scan: 500_000})
	if err != nil {
		return err
	}
	pages := []struct{ name, path string }{
		{"login", "/ui/login"},
		{"activity", "/ui/activity"},
		{"activity_state_deferred", "/ui/activity?state=deferred"},
		{"activity_rcpt_newest", "/ui/activity?rcpt=" + url.QueryEscape(m.Recipients[0].Address)},
		{"activity_rcpt_absent", "/ui/activity?rcpt=nobody%40nowhere.test"},
		{"activity_tag_absent", "/ui/activity?tag=none"},
		{"activity_last_hour", "/ui/activity?since=" + m.Arrived.Add(-time.Hour).Format("2006-01-02T15:04")},
		{"message", "/ui/messages/" + m.ID},
		{"suppressions", "/ui/suppressions"},
		{"suppressions_complaint", "/ui/suppressions?reason=complaint"},
		{"suppressions_prefix", "/ui/suppressions?address=user5"},
		{"queue", "/ui/queue"},
		{"overview", "/ui/overview"},
		{"webhooks", "/ui/webhooks"},
	}
	if len(all.Messages) > 0 {
		pages = append(pages, struct{ name, path string }{"activity_rcpt_middle",
			"/ui/activity?rcpt=" + url.QueryEscape(all.Messages[0].Recipients[0].Address)})
	}
	fmt.Printf("%-26s %10s %10s %10s %7s\n", "page", "median_ms", "max_ms", "cpu_ms", "status")
	for _, p := range pages {
		var times, cpus []time.Duration
		status := 0
		for range rounds {
			req := httptest.NewRequest("GET", p.path, nil)
			if p.name != "login" {
				req.AddCookie(cookie)
			}
			rec := httptest.NewRecorder()
			c, t := cpu(), time.Now()
			ui.ServeHTTP(rec, req)
			times, cpus = append(times, time.Since(t)), append(cpus, cpu()-c)
			status = rec.Code
		}
		slices.Sort(times)
		slices.Sort(cpus)
		fmt.Printf("%-26s %10.1f %10.1f %10.1f %7d\n", p.name, ms(times[len(times)/2]), ms(times[len(times)-1]), ms(cpus[len(cpus)/2]), status)
	}
	return nil
}

// seedOutcomes gives n of the oldest recipients an outcome, through Apply
// like the scheduler does, spread over the last 7 days: 94% delivered, 3%
// bounced, 3% deferred again, so the Overview reads a week of hourly
// cells and 7 days × 500 domains of per-domain cells. Once: skipped when
// the rollup already has a week.
func seedOutcomes(ctx context.Context, s *queue.PebbleStore, n int) error {
	now := time.Now()
	days, err := s.DomainOutcomes(ctx, now.Add(-7*24*time.Hour), now)
	if err != nil || len(days) > 0 || n == 0 {
		return err
	}
	t := time.Now()
	after, done := "", 0
	for done < n {
		ms, err := s.List(ctx, queue.Filter{State: queue.Deferred, After: after, Limit: 100})
		if err != nil || len(ms) == 0 {
			return err
		}
		var ups []queue.Update
		for _, m := range ms {
			after = m.ID
			i := done + len(ups)
			at := now.Add(-time.Duration(i) * 7 * 24 * time.Hour / time.Duration(n))
			u := queue.Update{ID: m.ID, Rcpt: 0, Address: m.Recipients[0].Address, CountAttempt: true,
				Attempt: &queue.Attempt{At: at, Reply: queue.Reply{Code: 250}, Decision: "delivered"}, State: queue.Delivered}
			switch i % 100 {
			case 0, 1, 2:
				u.State, u.Attempt.Reply.Code, u.Attempt.Decision = queue.Bounced, 550, "bounced"
			case 3, 4, 5:
				u.State, u.NextAttempt, u.Attempt.Reply.Code, u.Attempt.Decision = queue.Deferred, now.Add(time.Hour), 451, "deferred"
			}
			ups = append(ups, u)
		}
		if err := s.Apply(ctx, ups); err != nil {
			return err
		}
		done += len(ups)
	}
	fmt.Printf("applied %d outcomes in %.1f s\n", done, time.Since(t).Seconds())
	return nil
}

// cpu is the process's user and system time: on a loaded machine the
// wall time also counts waiting for a core, this does not.
func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru) //nolint:errcheck // RUSAGE_SELF does not fail
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login signs in the way a browser does and returns the session cookie.
func login(ui http.Handler) (*http.Cookie, error) {
	rec := httptest.NewRecorder()
	ui.ServeHTTP(rec, httptest.NewRequest("GET", "/ui/login", nil))
	body, _ := io.ReadAll(rec.Body)
	mt := csrfRE.FindSubmatch(body)
	if mt == nil || len(rec.Result().Cookies()) == 0 {
		return nil, fmt.Errorf("no login form: %s", body)
	}
	form := url.Values{"key": {key}, "csrf": {string(mt[1])}}
	req := httptest.NewRequest("POST", "/ui/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(rec.Result().Cookies()[0])
	rec = httptest.NewRecorder()
	ui.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == "mtaq_session" && c.Value != "" {
			return c, nil
		}
	}
	return nil, fmt.Errorf("login answered %d", rec.Code)
}
