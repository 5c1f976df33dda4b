package console

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/queue"
)

// TestOverviewPage: a fresh install's Overview says there is nothing yet;
// after outcomes, the charts name them in text, and a recipient domain
// with markup in it is shown as text, not parsed into the page's SVG.
func TestOverviewPage(t *testing.T) {
	c, clk, s := newConsoleStore(t, false)
	ck := signIn(t, c)
	get := func(path string) string {
		req := httptest.NewRequest("GET", path, nil)
		req.AddCookie(ck)
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	page := get("/ui/overview")
	for _, want := range []string{`<svg class="chart" id="chart-hours"`, `<desc id="chart-hours-d">Totals: delivered 0, deferred 0, bounced 0, complained 0.</desc>`,
		"No outcome in the last 7 days.", "2% warning", "0.3% critical"} {
		if !strings.Contains(page, want) {
			t.Errorf("empty overview lacks %q", want)
		}
	}
	m := &queue.Message{Sender: "app@example.test", Arrived: clk.Now(), Recipients: []queue.Recipient{
		{Address: `"x"@<b>evil</b>.test`, Domain: `<b>evil</b>.test`}, {Address: "b@fine.test"}}}
	if err := s.Enqueue(t.Context(), m, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	at := clk.Now()
	if err := s.Apply(t.Context(), []queue.Update{
		{ID: m.ID, Rcpt: 0, State: queue.Bounced, CountAttempt: true, Attempt: &queue.Attempt{At: at, Reply: queue.Reply{Code: 550}}},
		{ID: m.ID, Rcpt: 1, State: queue.Delivered, CountAttempt: true, Attempt: &queue.Attempt{At: at, Reply: queue.Reply{Code: 250}}},
	}); err != nil {
		t.Fatal(err)
	}
	page = get("/ui/overview")
	if strings.Contains(page, "<b>evil") {
		t.Errorf("the domain's markup reached the page unescaped")
	}
	for _, want := range []string{"Delivered</text>", "1 total", "&lt;b&gt;evil&lt;/b&gt;.test", "100% · 1 of 1 · critical"} {
		if !strings.Contains(page, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
}
