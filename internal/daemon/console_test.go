package daemon

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/remote"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/events"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

const (
	consoleAdminKey = "mtaq_console_admin_0123456789abcdefghijklmnop"
	consoleReadKey  = "mtaq_console_read_0123456789abcdefghijklmnopq"
)

func keyHash(k string) string {
	sum := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// chromium starts Debian's headless Chromium with a fresh profile and
// returns a browser context on it; the process is stopped by its PID when
// the test ends.
func chromium(t *testing.T) context.Context {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		missingTool(t, "chromium is not installed (apt-get install chromium)")
	}
	profile, err := os.MkdirTemp("", "mtaq-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+profile, "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"--window-size=1280,800", "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its renderers and helpers in one group
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Stop the group it leads, by its PID; helpers may write to the
		// profile until they are gone, so removing it is retried.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) //nolint:errcheck // it may have exited
		cmd.Wait()                                      //nolint:errcheck // killed
		waitfor.NoError(t, func() error { return os.RemoveAll(profile) })
	})
	ws := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "DevTools listening on "); ok {
				ws <- u
			}
		}
	}()
	var url string
	select {
	case url = <-ws:
	case <-time.After(30 * time.Second):
		t.Fatal("chromium did not print its DevTools address in 30 s")
	}
	actx, cancelA := remote.NewAllocator(context.Background(), url)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// browser runs actions with a deadline, failing the test on error.
type browser struct {
	t   *testing.T
	ctx context.Context
	url string
}

func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// get runs one action that returns a value.
func get[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return settled(b, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// textContent is the element's text even when hidden (a closed details).
func (b *browser) textContent(sel string) string {
	b.t.Helper()
	return settled(b, "text content of "+sel, chromedp.TextContent(chromedp.CSS(sel)))
}

// settled runs a read that may meet the page while a navigation the test
// started is still replacing it ("No node with given id found": the node
// chromedp found was in the document being unloaded); it is asked again
// until it answers, within waitfor's bound.
func settled[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	var v T
	waitfor.NoError(b.t, func() error {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		defer cancel()
		got, err := chromedp.Run(ctx, a)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		v = got
		return nil
	})
	return v
}

func evalAs[T any](b *browser, js string) T {
	b.t.Helper()
	return get(b, "evaluate "+js, chromedp.Evaluate[T](js))
}

// waitTitle waits until the page (after a navigation the test started)
// has title.
func (b *browser) waitTitle(title string) {
	b.t.Helper()
	waitfor.NoError(b.t, func() error {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		got, err := chromedp.Run(ctx, chromedp.Title())
		if err != nil {
			return err
		}
		if got != title {
			return fmt.Errorf("page title %q, want %q", got, title)
		}
		return nil
	})
}

// waitURL waits until the page's address contains part and the page has
// loaded.
func (b *browser) waitURL(part string) {
	b.t.Helper()
	waitfor.NoError(b.t, func() error {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			return err
		}
		if !strings.Contains(loc, part) {
			return fmt.Errorf("page %s, want one with %s", loc, part)
		}
		_, err = chromedp.Run(ctx, chromedp.WaitReady(chromedp.CSS("footer")))
		return err
	})
}

// screenshot saves the viewport (1280x800) as docs/screenshots/name.png
// when MTAQ_SCREENSHOTS=update, into the test's directory otherwise.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	png := get(b, "screenshot "+name, chromedp.CaptureScreenshot())
	if len(png) < 1000 || string(png[1:4]) != "PNG" {
		b.t.Fatalf("screenshot %s: %d bytes, not a PNG", name, len(png))
	}
	dir := b.t.TempDir()
	if os.Getenv("MTAQ_SCREENSHOTS") == "update" {
		dir = filepath.Join("..", "..", "docs", "screenshots")
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// forge submits a form the console did not render, from the page's own
// origin (what a script or a stale tab could do); csrf "" leaves the
// token out.
func (b *browser) forge(action string, fields map[string]string, csrf bool) {
	b.t.Helper()
	js := `(() => { const f = document.createElement("form"); f.method = "post"; f.action = ` + fmt.Sprintf("%q", action) + `;
	const add = (k, v) => { const i = document.createElement("input"); i.type = "hidden"; i.name = k; i.value = v; f.appendChild(i); };`
	if csrf {
		js += `add("csrf", document.querySelector("input[name=csrf]").value);`
	}
	for k, v := range fields {
		js += fmt.Sprintf("add(%q, %q);", k, v)
	}
	js += `document.title = "forging"; document.body.appendChild(f); f.submit(); return true; })()`
	evalAs[bool](b, js)
	b.waitTitle("Error · mtaq")
}

func (b *browser) login(key string) {
	b.t.Helper()
	b.run("open the console", chromedp.Navigate(b.url+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#key")))
	b.run("sign in", chromedp.SendKeys(chromedp.CSS("#key"), key), chromedp.Click(chromedp.CSS("#signin")))
	b.waitTitle("Activity · mtaq")
}

func (b *browser) logout() {
	b.t.Helper()
	b.run("sign out", chromedp.Click(chromedp.CSS(".who button")))
	b.waitTitle("Sign in · mtaq")
}

// The console in a real browser: an operator signs in, finds a bounced
// recipient, reads the 550 in its timeline, unblocks it, and after the app
// sends again sees the new message delivered. A read key sees but cannot
// change; a form without the CSRF token is refused; a message's HTML
// cannot run its script or load anything. Screenshots of every page.
func TestConsoleInBrowser(t *testing.T) {
	ctx := chromium(t)
	// The app's webhook endpoint refuses bob's bounce until it is fixed.
	var hookFixed atomic.Bool
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev queue.Event
		if err := json.NewDecoder(r.Body).Decode(&ev); err == nil && ev.Kind == "bounced" && !hookFixed.Load() {
			http.Error(w, "cannot store bounces today", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)
	n := newInternet(t, func(c *conf.Config) {
		c.HTTP.Listen = []string{"127.0.0.1:0"}
		c.Webhooks = []conf.Webhook{{Name: "app", URL: hook.URL, Secret: "console-test-webhook-secret"}}
		c.Submission.Users = []conf.User{
			{Name: "ops", APIKeys: []string{keyHash(consoleAdminKey)}, APIScopes: []string{"admin"}},
			{Name: "support", APIKeys: []string{keyHash(consoleReadKey)}, APIScopes: []string{"read"}},
		}
		if err := conf.Validate(*c); err != nil {
			t.Fatalf("the test's configuration: %v", err)
		}
	})
	var mailboxFixed atomic.Bool
	sink := n.mx("example.net", 10, "mx.example.net", "127.0.0.2", smtptest.WithRcpt(func(to string) error {
		if strings.HasPrefix(to, "bob@") && !mailboxFixed.Load() {
			return smtptest.Reply(550, "5.1.1", "<"+to+">: Recipient address rejected: User unknown in virtual mailbox table")
		}
		return nil
	}))
	n.mx("slow.example", 10, "mx.slow.example", "127.0.0.3", smtptest.WithRcpt(func(string) error {
		return smtptest.Reply(451, "4.7.1", "Greylisted, try again later")
	}))
	// Anything the message's HTML manages to load lands here.
	var beacons atomic.Int32
	beacon := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { beacons.Add(1) }))
	t.Cleanup(beacon.Close)

	for _, to := range []string{"alice@example.net", "carol@example.net"} {
		n.wait(n.send("shop@sender.test", to), 0, queue.Delivered)
	}
	bounced := n.send("shop@sender.test", "bob@example.net")
	n.wait(bounced, 0, queue.Bounced)
	// Its bounced event is refused, retried on the fake clock, then a
	// dead letter.
	waitfor.NoError(t, func() error {
		n.clk.Advance(time.Second)
		c, err := n.d.store.CountDeadLetters(context.Background(), events.CursorName(hook.URL))
		if err != nil || c != 1 {
			return fmt.Errorf("%d dead letters (%v), want bob's bounce", c, err)
		}
		return nil
	})
	html := fmt.Sprintf("From: shop@sender.test\r\nTo: erin@slow.example\r\nSubject: Your order\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/alternative; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nYour order shipped.\r\n"+
		"--b1\r\nContent-Type: text/html\r\n\r\n<html><body><h1>Your order shipped</h1>"+
		"<script>window.__pwned = 1; document.title = 'pwned'; try { parent.__pwned = 1; parent.document.title = 'pwned'; } catch (e) {}</script>"+
		"<img src=\"%s/pixel.gif\"><link rel=\"stylesheet\" href=\"%s/x.css\"></body></html>\r\n--b1--\r\n", beacon.URL, beacon.URL)
	deferred := smtptest.SubmitMessage(t, n.d.Addrs()[0].String(), "shop@sender.test", nil, html, "erin@slow.example")
	n.wait(deferred, 0, queue.Deferred)
	svc := admin.NewService(admin.Options{Store: n.d.Store(), Clock: n.clk})
	if _, err := svc.AddSuppression(context.Background(), admin.SuppressionAdd{Address: "dave@example.net", Reason: "complaint"}); err != nil {
		t.Fatal(err)
	}

	b := &browser{t: t, ctx: ctx, url: "http://" + n.d.HTTPAddrs()[0].String()}
	// Times show in the browser's zone, UTC on hover.
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Europe/Berlin"}); err != nil {
		t.Fatal(err)
	}
	b.run("open the console", chromedp.Navigate(b.url+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#key")))
	b.screenshot("login")
	b.login(consoleAdminKey)

	// Search the bounced recipient: its row says bounced and shows the 550.
	b.run("search", chromedp.SendKeys(chromedp.CSS("#rcpt"), "bob@example.net"), chromedp.Click(chromedp.CSS("#search")))
	b.waitURL("rcpt=bob%40example.net")
	row := b.text("#activity tbody tr")
	if !strings.Contains(row, bounced) || !strings.Contains(row, "bounced") || !strings.Contains(row, "550 5.1.1") {
		t.Fatalf("activity row for bob: %q", row)
	}
	b.run("all activity", chromedp.Navigate(b.url+"/ui/activity"), chromedp.WaitVisible(chromedp.CSS("#activity")))
	b.screenshot("activity")
	if rows := b.text("#activity tbody"); strings.Index(rows, deferred) > strings.Index(rows, bounced) {
		t.Errorf("activity is not newest first:\n%s", rows)
	}

	// Its timeline shows the attempt with the full reply.
	// By keyboard this time: type and press Enter.
	b.run("search again", chromedp.SendKeys(chromedp.CSS("#rcpt"), "bob@example.net\r"))
	b.waitURL("rcpt=bob%40example.net")
	if at := get(b, "arrival", chromedp.AttributesAll(chromedp.CSS("#activity time"))); len(at) == 0 ||
		at[0]["title"] != "2026-11-23 09:00:00 UTC" || b.text("#activity time") != "2026-11-23 10:00:00 UTC+01:00" {
		t.Fatalf("arrival time shown %q, attributes %v (want Berlin time, UTC on hover)", b.text("#activity time"), at)
	}
	b.run("open the message", chromedp.Click(chromedp.CSS(`#activity a.mono`)))
	b.waitTitle("Message · mtaq")
	tl := b.text("#rcpt-0 .timeline")
	if !strings.Contains(tl, "550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown in virtual mailbox table") ||
		!strings.Contains(tl, "mx.example.net") || !strings.Contains(tl, "127.0.0.2") || !strings.Contains(tl, "bounced") {
		t.Fatalf("timeline: %q", tl)
	}
	b.screenshot("message")
	evs := b.text("#events")
	if !strings.Contains(evs, "bounced") || !strings.Contains(evs, "app: dead letter HTTP 400") || !strings.Contains(evs, "app: settled") {
		t.Fatalf("the message's events and webhook deliveries: %q", evs)
	}

	// Unblock its suppression (confirmed), from the message page.
	b.run("unblock", chromedp.Click(chromedp.CSS("#rcpt-0 .unblock")))
	b.waitTitle("Confirm · mtaq")
	if q := b.text("#question"); !strings.Contains(q, "bob@example.net") {
		t.Fatalf("confirmation asks %q", q)
	}
	b.run("confirm", chromedp.Click(chromedp.CSS("#confirm")))
	b.waitTitle("Message · mtaq")
	if f := b.text(".flash"); !strings.Contains(f, "unblocked bob@example.net") {
		t.Fatalf("after unblocking: %q", f)
	}
	if _, err := svc.ShowSuppression(context.Background(), "bob@example.net"); err == nil {
		t.Fatal("bob@example.net is still suppressed after the unblock")
	}

	// The mailbox is fixed; the app sends again and the page shows it delivered.
	mailboxFixed.Store(true)
	again := n.send("shop@sender.test", "bob@example.net")
	n.wait(again, 0, queue.Delivered)
	b.run("search bob", chromedp.Navigate(b.url+"/ui/activity?rcpt=bob%40example.net"), chromedp.WaitVisible(chromedp.CSS("#activity")))
	first := b.text("#activity tbody tr")
	if !strings.Contains(first, again) || !strings.Contains(first, "delivered") || !strings.Contains(first, "250") {
		t.Fatalf("newest row for bob after sending again: %q", first)
	}
	if got := len(sink.Messages()); got != 3 {
		t.Errorf("example.net's exchanger has %d messages, want 3", got)
	}

	// A form without the CSRF token is refused, and changes nothing.
	b.run("suppressions", chromedp.Navigate(b.url+"/ui/suppressions"), chromedp.WaitVisible(chromedp.CSS("#suppressions")))
	b.screenshot("suppressions")
	csv := filepath.Join(t.TempDir(), "list.csv")
	if err := os.WriteFile(csv, []byte("address,reason\nfrank@example.net,unsubscribe\ngrace@example.net,manual\nnot an address,manual\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.run("import", chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{csv}), chromedp.Click(chromedp.CSS("#import")))
	b.waitURL("/ui/suppressions/import")
	if res := b.text("#import-result"); !strings.Contains(res, "2 added") || !strings.Contains(res, "line 4") {
		t.Fatalf("import: %q", res)
	}
	if e, err := svc.ShowSuppression(context.Background(), "frank@example.net"); err != nil || e.Reason != "unsubscribe" {
		t.Fatalf("frank after the import: %+v %v", e, err)
	}
	b.forge("/ui/suppressions/remove", map[string]string{"address": "dave@example.net", "confirm": "yes"}, false)
	if h := b.text("h1"); !strings.Contains(h, "403") || !strings.Contains(b.text(".error"), "CSRF") {
		t.Fatalf("a POST without the CSRF token answered %q %q", h, b.text(".error"))
	}
	if _, err := svc.ShowSuppression(context.Background(), "dave@example.net"); err != nil {
		t.Fatalf("dave@example.net after the refused POST: %v", err)
	}

	// The HTML part cannot run its script or load anything, in the frame
	// or opened on its own.
	b.run("the HTML message", chromedp.Navigate(b.url+"/ui/messages/"+deferred), chromedp.WaitVisible(chromedp.CSS("#html-preview")))
	if !strings.Contains(b.text("#text-preview"), "Your order shipped.") || !strings.Contains(b.textContent("#html-source"), "<script>") {
		t.Fatalf("previews: %q / %q", b.text("#text-preview"), b.textContent("#html-source"))
	}
	var frameLoaded bool
	waitfor.NoError(t, func() error {
		ok := evalAs[bool](b, `(() => { const f = document.querySelector("#html-preview"); try { return f.contentDocument === null } catch (e) { return true } })()`)
		if !ok {
			return fmt.Errorf("the sandboxed frame's document is reachable from the console")
		}
		frameLoaded = true
		return nil
	})
	pwned, title := evalAs[string](b, `String(window.__pwned)`), evalAs[string](b, `document.title`)
	if !frameLoaded || pwned != "undefined" || title != "Message · mtaq" {
		t.Fatalf("the console page after the frame: __pwned %s, title %q", pwned, title)
	}
	b.run("scroll to the body", chromedp.ScrollIntoView(chromedp.CSS("#body")))
	b.screenshot("message-html")
	b.run("hold", chromedp.Click(chromedp.CSS("#act-hold")))
	b.waitTitle("Confirm · mtaq")
	b.run("confirm hold", chromedp.Click(chromedp.CSS("#confirm")))
	b.waitTitle("Message · mtaq")
	if f, badge := b.text(".flash"), b.text("#rcpt-0 h3 .badge"); !strings.Contains(f, "hold: 1 recipient(s) changed") || badge != "held" {
		t.Fatalf("after hold: %q, badge %q", f, badge)
	}
	n.wait(deferred, 0, queue.Held)
	b.run("the HTML on its own", chromedp.Navigate(b.url+"/ui/messages/"+deferred+"/html"), chromedp.WaitVisible(chromedp.CSS("h1")))
	pwned, title = evalAs[string](b, `String(window.__pwned)`), evalAs[string](b, `document.title`)
	if pwned != "undefined" || title == "pwned" {
		t.Fatalf("the message's script ran: __pwned %s, title %q", pwned, title)
	}
	if beacons.Load() != 0 {
		t.Fatalf("the message's HTML loaded %d remote resources", beacons.Load())
	}

	// The Overview's charts count what happened: alice, carol and bob's
	// second message delivered, and the bounce report mtaq sent shop@
	// for bob's first, which bounced (1 of 4 sent to example.net: 25%,
	// past the 5% mark); erin's attempt deferred.
	b.run("overview", chromedp.Navigate(b.url+"/ui/overview"), chromedp.WaitVisible(chromedp.CSS("#chart-hours")))
	for _, id := range []string{"#chart-hours", "#chart-days"} {
		chart := b.textContent(id)
		for _, want := range []string{"Delivered4 total", "Deferred1 total", "Bounced1 total", "Complained0 total"} {
			if !strings.Contains(chart, want) {
				t.Errorf("%s does not show %q: %q", id, want, chart)
			}
		}
		if desc := b.textContent(id + " desc"); !strings.Contains(desc, "delivered 4, deferred 1, bounced 1, complained 0") {
			t.Errorf("%s's description for screen readers: %q", id, desc)
		}
	}
	if row := b.textContent("#chart-bounce .rate"); !strings.Contains(row, "example.net") || !strings.Contains(row, "25% · 1 of 4 · critical") {
		t.Errorf("the bounce-rate chart's example.net row: %q", row)
	}
	if marks := b.textContent("#chart-bounce"); !strings.Contains(marks, "2% warning") || !strings.Contains(marks, "5% critical") {
		t.Errorf("the bounce-rate chart's marks: %q", marks)
	}
	if marks := b.textContent("#chart-complaint"); !strings.Contains(marks, "0.1% warning") || !strings.Contains(marks, "0.3% critical") {
		t.Errorf("the complaint-rate chart's marks: %q", marks)
	}
	if row := b.text("#rates tbody tr"); !strings.Contains(row, "example.net") || !strings.Contains(row, "25.00% critical") {
		t.Errorf("the rates table's first row: %q", row)
	}
	if rows := b.text("#rates"); !strings.Contains(rows, "sender.test") {
		t.Errorf("the rates table has no row for the bounce report's delivery to sender.test: %q", rows)
	}
	b.screenshot("overview")

	// Another message waits for slow.example; the Queue page counts it
	// (erin's is held, so not waiting) beside the destination's state.
	waiting := n.send("shop@sender.test", "frank@slow.example")
	n.wait(waiting, 0, queue.Deferred)
	b.run("queue", chromedp.Navigate(b.url+"/ui/queue"), chromedp.WaitVisible(chromedp.CSS("#destinations")))
	if d := b.text("#destinations tbody tr"); !strings.Contains(d, "slow.example\t1\tnormal") || !strings.Contains(d, "451 4.7.1 Greylisted, try again later") {
		t.Errorf("queue destinations' first row: %q", d)
	}
	b.screenshot("queue")
	b.run("webhooks", chromedp.Navigate(b.url+"/ui/webhooks"), chromedp.WaitVisible(chromedp.CSS("#webhooks")))
	if row := b.text("#webhooks tbody tr"); !strings.Contains(row, "400") || !strings.Contains(row, "Retry dead letters") {
		t.Fatalf("webhooks row: %q", row)
	}
	b.screenshot("webhooks")
	hookFixed.Store(true)
	b.run("retry dead letters", chromedp.Click(chromedp.CSS("#retry-dead-app")))
	b.waitTitle("Confirm · mtaq")
	b.run("confirm", chromedp.Click(chromedp.CSS("#confirm")))
	b.waitTitle("Webhooks · mtaq")
	if f := b.text(".flash"); !strings.Contains(f, "app: resent 1, delivered 1, failed 0") {
		t.Fatalf("after retrying the dead letters: %q", f)
	}
	b.logout()

	// A read key sees the suppression but has no button, and a forged POST
	// with its own valid CSRF token is 403.
	b.login(consoleReadKey)
	b.run("suppressions as read", chromedp.Navigate(b.url+"/ui/suppressions"), chromedp.WaitVisible(chromedp.CSS("#suppressions")))
	if list := b.text("#suppressions"); !strings.Contains(list, "dave@example.net") || !strings.Contains(list, "complaint") {
		t.Fatalf("the read key's suppression list: %q", list)
	}
	buttons := evalAs[int](b, `document.querySelectorAll(".unblock, #add, #import, form[action='/ui/suppressions/remove']").length`)
	if buttons != 0 {
		t.Fatalf("a read key sees %d unblock/add/import controls", buttons)
	}
	b.run("message as read", chromedp.Navigate(b.url+"/ui/messages/"+deferred), chromedp.WaitVisible(chromedp.CSS("#tl")))
	buttons = evalAs[int](b, `document.querySelectorAll(".actions button, .unblock").length`)
	if buttons != 0 {
		t.Fatalf("a read key sees %d action buttons on a message", buttons)
	}

	// Without JavaScript the pages still work and show UTC; at a phone's
	// width nothing but the tables' own boxes scrolls sideways.
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	b.run("activity without JavaScript", chromedp.Navigate(b.url+"/ui/activity?rcpt=bob%40example.net"), chromedp.WaitVisible(chromedp.CSS("#activity")))
	if tm := b.text("#activity time"); !regexp.MustCompile(`^2026-11-23 09:00:\d\d UTC$`).MatchString(tm) {
		t.Fatalf("without JavaScript the time reads %q", tm)
	}
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: false}); err != nil {
		t.Fatal(err)
	}
	b.run("phone width", chromedp.EmulateViewport(390, 844), chromedp.Navigate(b.url+"/ui/messages/"+deferred), chromedp.WaitVisible(chromedp.CSS("#tl")))
	if w := evalAs[int](b, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
		t.Errorf("the message page is %d px wider than a phone's screen", w)
	}
	b.screenshot("message-phone")
	b.run("overview on a phone", chromedp.Navigate(b.url+"/ui/overview"), chromedp.WaitVisible(chromedp.CSS("#chart-days")))
	if w := evalAs[int](b, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
		t.Errorf("the overview page is %d px wider than a phone's screen", w)
	}
	b.run("back to desktop", chromedp.EmulateViewport(1280, 800))
	b.forge("/ui/suppressions/remove", map[string]string{"address": "dave@example.net", "confirm": "yes"}, true)
	if h := b.text("h1"); !strings.Contains(h, "403") || !strings.Contains(b.text(".error"), "read scope") {
		t.Fatalf("a read key's forged unblock answered %q %q", h, b.text(".error"))
	}
	if _, err := svc.ShowSuppression(context.Background(), "dave@example.net"); err != nil {
		t.Fatalf("dave@example.net after the read key's POST: %v", err)
	}
}

// A configuration reload that removes an API key signs its console
// sessions out (the console takes its keys from the same list as the API).
func TestConsoleReloadEndsRemovedKeysSessions(t *testing.T) {
	n := newInternet(t, func(c *conf.Config) {
		c.HTTP.Listen = []string{"127.0.0.1:0"}
		c.Submission.Users = []conf.User{{Name: "ops", APIKeys: []string{keyHash(consoleAdminKey)}, APIScopes: []string{"admin"}}}
	})
	base := "http://" + n.d.HTTPAddrs()[0].String()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(client.CloseIdleConnections)
	resp, err := client.Get(base + "/ui/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("login form: %s", body)
	}
	resp, err = client.PostForm(base+"/ui/login", url.Values{"key": {consoleAdminKey}, "csrf": {string(m[1])}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	activity := func() (int, string) {
		resp, err := client.Get(base + "/ui/activity")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}
	if code, _ := activity(); code != http.StatusOK {
		t.Fatalf("signed in: activity %d", code)
	}
	c := n.d.cfg
	c.Submission.Users = []conf.User{{Name: "ops", APIKeys: []string{keyHash(consoleReadKey)}, APIScopes: []string{"admin"}}}
	if _, err := n.d.Reload(c); err != nil {
		t.Fatal(err)
	}
	if code, loc := activity(); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/ui/login") {
		t.Fatalf("after the key was removed: %d %q", code, loc)
	}
}
