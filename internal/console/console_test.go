package console

import (
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/queue"
)

func newConsole(t *testing.T, secure bool) (*Console, *clock.Fake) {
	t.Helper()
	c, clk, _ := newConsoleStore(t, secure)
	return c, clk
}

func newConsoleStore(t *testing.T, secure bool) (*Console, *clock.Fake, *queue.PebbleStore) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	s, err := queue.Open(t.TempDir(), queue.Options{Clock: clk, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c, err := New(Options{Admin: admin.NewService(admin.Options{Store: s, Clock: clk}), Secure: secure, Clock: clk,
		Keys: []Key{{Hash: sha256.Sum256([]byte("good-key")), User: "ops", Admin: true}}})
	if err != nil {
		t.Fatal(err)
	}
	return c, clk, s
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// loginForm fetches the form the way a browser does: its CSRF token and
// the cookie that carries it.
func loginForm(t *testing.T, c *Console) (string, *http.Cookie) {
	t.Helper()
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, httptest.NewRequest("GET", "/ui/login", nil))
	body, _ := io.ReadAll(rec.Body)
	m := csrfField.FindSubmatch(body)
	if rec.Code != 200 || m == nil || len(rec.Result().Cookies()) != 1 {
		t.Fatalf("login form: %d %s", rec.Code, body)
	}
	return string(m[1]), rec.Result().Cookies()[0]
}

func postLogin(c *Console, key, csrf string, ck *http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/ui/login", strings.NewReader(url.Values{"key": {key}, "csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "192.0.2.7:40000"
	if ck != nil {
		req.AddCookie(ck)
	}
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, req)
	return rec
}

func TestLoginSetsAStrictHttpOnlyCookie(t *testing.T) {
	for _, secure := range []bool{false, true} {
		c, _ := newConsole(t, secure)
		csrf, ck := loginForm(t, c)
		rec := postLogin(c, "good-key", csrf, ck)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/ui/activity" {
			t.Fatalf("login answered %d %q", rec.Code, rec.Header().Get("Location"))
		}
		var sess *http.Cookie
		for _, k := range rec.Result().Cookies() {
			if k.Name == sessionCookie {
				sess = k
			}
		}
		if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Secure != secure || sess.Path != "/ui/" {
			t.Fatalf("session cookie (TLS %v): %+v", secure, sess)
		}
		req := httptest.NewRequest("GET", "/ui/activity", nil)
		req.AddCookie(sess)
		rec = httptest.NewRecorder()
		c.ServeHTTP(rec, req)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Newest first") {
			t.Fatalf("activity with the session: %d", rec.Code)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("console CSP %q", csp)
		}
	}
}

func TestLoginNeedsTheFormsToken(t *testing.T) {
	c, _ := newConsole(t, false)
	_, ck := loginForm(t, c)
	if rec := postLogin(c, "good-key", "", ck); rec.Code != http.StatusForbidden {
		t.Errorf("login without the token: %d", rec.Code)
	}
	csrf, _ := loginForm(t, c)
	if rec := postLogin(c, "good-key", csrf, nil); rec.Code != http.StatusForbidden {
		t.Errorf("login without the cookie: %d", rec.Code)
	}
	if rec := postLogin(c, "good-key", "forged", ck); rec.Code != http.StatusForbidden {
		t.Errorf("login with a wrong token: %d", rec.Code)
	}
}

// Guessing keys through the form is slowed to 10 a minute per address
// after a burst of 5; a right key then waits too, until the bucket refills.
func TestLoginAttemptsAreRateLimited(t *testing.T) {
	c, clk := newConsole(t, false)
	csrf, ck := loginForm(t, c)
	codes := []int{}
	for range 7 {
		codes = append(codes, postLogin(c, "wrong-key", csrf, ck).Code)
	}
	want := []int{401, 401, 401, 401, 401, 429, 429}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("attempts answered %v, want %v", codes, want)
		}
	}
	csrf, ck = loginForm(t, c)
	if rec := postLogin(c, "good-key", csrf, ck); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("the right key during the limit: %d", rec.Code)
	}
	clk.Advance(6 * time.Second) // one attempt back at 10 a minute
	if rec := postLogin(c, "good-key", csrf, ck); rec.Code != http.StatusSeeOther {
		t.Fatalf("the right key after 6 s: %d", rec.Code)
	}
}

func TestSignedOutIsSentToLogin(t *testing.T) {
	c, _ := newConsole(t, false)
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, httptest.NewRequest("GET", "/ui/messages/X?y=1", nil))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/ui/login?next=%2Fui%2Fmessages%2FX%3Fy%3D1" {
		t.Fatalf("signed out: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	rec = httptest.NewRecorder()
	c.ServeHTTP(rec, httptest.NewRequest("POST", "/ui/suppressions/remove", strings.NewReader("address=a@b.test")))
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("signed-out POST: %d", rec.Code)
	}
	for next, want := range map[string]string{"/ui/queue": "/ui/queue", "https://evil.test/": "/ui/activity",
		"//evil.test/ui/": "/ui/activity", "/ui/\\evil": "/ui/activity"} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}

func TestPreviewDecodesAndKeepsHTMLApart(t *testing.T) {
	raw := "From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=x\r\n\r\n" +
		"--x\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9 =\r\nopen\r\n" +
		"--x\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\nPGI+aGk8L2I+PHNjcmlwdD54PC9zY3JpcHQ+\r\n--x--\r\n"
	p := makePreview([]byte(raw))
	if p.Text != "Café open" || p.HTML != "<b>hi</b><script>x</script>" {
		t.Fatalf("preview text %q html %q", p.Text, p.HTML)
	}
	if p := makePreview([]byte("Subject: plain\r\n\r\nhello\r\n")); p.Text != "hello\n" || p.HTML != "" {
		t.Fatalf("plain preview %+v", p)
	}
}

// getAs requests path with the session cookie ck.
func getAs(c *Console, ck *http.Cookie, path string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", path, nil)
	req.AddCookie(ck)
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, req)
	return rec
}

// signIn returns a session cookie for the admin key.
func signIn(t *testing.T, c *Console) *http.Cookie {
	t.Helper()
	csrf, ck := loginForm(t, c)
	rec := postLogin(c, "good-key", csrf, ck)
	for _, k := range rec.Result().Cookies() {
		if k.Name == sessionCookie {
			return k
		}
	}
	t.Fatalf("no session: %d", rec.Code)
	return nil
}

// Adding through the form, then exporting: the CSV has the entry; a form
// without the session's token changes nothing.
func TestAddAndExportSuppressions(t *testing.T) {
	c, _ := newConsole(t, false)
	ck := signIn(t, c)
	get := func(path string) *httptest.ResponseRecorder { return getAs(c, ck, path) }
	page := get("/ui/suppressions").Body.String()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF token on the suppressions page")
	}
	post := func(form url.Values) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/ui/suppressions/add", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(ck)
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, req)
		return rec
	}
	if rec := post(url.Values{"address": {"eve@example.net"}, "reason": {"manual"}}); rec.Code != http.StatusForbidden {
		t.Fatalf("add without the token: %d", rec.Code)
	}
	if rec := post(url.Values{"address": {"eve@example.net"}, "reason": {"manual"}, "ttl": {"soon"}, "csrf": {m[1]}}); rec.Code != http.StatusBadRequest ||
		!strings.Contains(rec.Body.String(), "ttl: &#34;soon&#34; is not a duration") {
		t.Fatalf("add with a bad ttl: %d %s", rec.Code, rec.Body)
	}
	if rec := post(url.Values{"address": {"Eve@Example.net"}, "reason": {"unsubscribe"}, "csrf": {m[1]}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("add: %d %s", rec.Code, rec.Body)
	}
	rec := get("/ui/suppressions/export.csv")
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") || !strings.Contains(rec.Body.String(), "eve@example.net,unsubscribe") {
		t.Fatalf("export: %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
}

// What a remote server or a sender wrote (a reply, a subject, a tag) is
// text on the page, never markup; a queue ID typed in the search opens
// the message.
func TestMessagePageEscapesWhatOthersWrote(t *testing.T) {
	c, clk, s := newConsoleStore(t, false)
	m := &queue.Message{Sender: "app@sender.test", Arrived: clk.Now(), Tag: "<b>tag</b>",
		Recipients: []queue.Recipient{{Address: "x@example.net"}}}
	ctx := t.Context()
	if err := s.Enqueue(ctx, m, []byte("Subject: <script>alert(1)</script>\r\n\r\n<img src=x onerror=alert(2)>\r\n")); err != nil {
		t.Fatal(err)
	}
	r := &queue.Reply{Code: 550, Enhanced: "5.1.1", Text: "<script>alert(3)</script> no such user"}
	if err := s.Apply(ctx, []queue.Update{{ID: m.ID, Rcpt: 0, State: queue.Deferred, NextAttempt: clk.Now().Add(time.Hour), CountAttempt: true,
		Reply: r, Attempt: &queue.Attempt{At: clk.Now(), Stage: "async", MX: "mx.example.net", Reply: *r, Decision: "deferred"}}}); err != nil {
		t.Fatal(err)
	}
	ck := signIn(t, c)
	get := func(path string) *httptest.ResponseRecorder { return getAs(c, ck, path) }
	if rec := get("/ui/activity?id=" + strings.ToLower(m.ID)); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/ui/messages/"+m.ID {
		t.Fatalf("queue ID search: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	for _, path := range []string{"/ui/messages/" + m.ID, "/ui/activity"} {
		body := get(path).Body.String()
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") || strings.Contains(body, "<b>tag") {
			t.Fatalf("%s carries markup from the message or the reply:\n%s", path, body)
		}
		if !strings.Contains(body, "&lt;script&gt;alert(3)&lt;/script&gt; no such user") {
			t.Fatalf("%s does not show the reply as text", path)
		}
	}
	if body := get("/ui/messages/" + m.ID).Body.String(); !strings.Contains(body, "async report") {
		t.Fatal("the timeline does not mark the report that came later")
	}
	if rec := get("/ui/messages/NOSUCHMESSAGE000"); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown message: %d", rec.Code)
	}
}

// After SetKeys (a reload) a session whose key is gone is signed out, and
// one whose key lost the admin scope can no longer change anything.
func TestSetKeysReachesOpenSessions(t *testing.T) {
	c, _ := newConsole(t, false)
	ck := signIn(t, c)
	do := func(method, path string, form url.Values) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(ck)
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, req)
		return rec
	}
	m := csrfField.FindStringSubmatch(do("GET", "/ui/suppressions", nil).Body.String())
	if m == nil {
		t.Fatal("no CSRF token")
	}
	add := url.Values{"address": {"a@example.net"}, "csrf": {m[1]}}
	c.SetKeys([]Key{{Hash: sha256.Sum256([]byte("good-key")), User: "ops", Admin: false}})
	if rec := do("POST", "/ui/suppressions/add", add); rec.Code != http.StatusForbidden {
		t.Fatalf("add after the key lost admin: %d", rec.Code)
	}
	if body := do("GET", "/ui/suppressions", nil).Body.String(); strings.Contains(body, `id="add"`) || !strings.Contains(body, "read only") {
		t.Fatal("the page still offers changes to a read-only session")
	}
	c.SetKeys(nil)
	if rec := do("GET", "/ui/activity", nil); rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/ui/login") {
		t.Fatalf("a session whose key was removed: %d %q", rec.Code, rec.Header().Get("Location"))
	}
}
