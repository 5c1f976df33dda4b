package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/scheduler"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Admin is the part of the admin Service the console reads and acts
// through (*admin.Service implements it).
type Admin interface {
	ListQueue(ctx context.Context, f admin.QueueFilter) (*admin.QueuePage, error)
	ShowMessage(ctx context.Context, id string) (*admin.MessageDetail, error)
	MessageBody(ctx context.Context, id string) ([]byte, error)
	QueueAction(ctx context.Context, a admin.QueueAction) (*admin.ActionResult, error)
	ListSuppressions(ctx context.Context, f admin.SuppressionFilter) (*admin.SuppressionPage, error)
	ShowSuppression(ctx context.Context, addr string) (*admin.SuppressionEntry, error)
	AddSuppression(ctx context.Context, a admin.SuppressionAdd) (*admin.SuppressionEntry, error)
	RemoveSuppression(ctx context.Context, addr string) error
	ImportSuppressions(ctx context.Context, csv io.Reader, progress func(done int)) (*admin.ImportResult, error)
	ExportSuppressions(ctx context.Context, csv io.Writer) error
	ListWebhooks(ctx context.Context) (*admin.WebhookList, error)
	RetryWebhook(ctx context.Context, name string, dead bool) (*admin.WebhookRetry, error)
	Destinations() []scheduler.DestinationStatus
	Overview(ctx context.Context) (*admin.Overview, error)
	DestinationQueues(ctx context.Context) ([]admin.DestinationQueue, error)
	MessageEvents(ctx context.Context, id string) ([]admin.MessageEvent, error)
}

// Key is an API key that may sign in: its SHA-256, its user, and whether
// it may change things (scope admin) or only look (scope read).
type Key struct {
	Hash  [32]byte
	User  string
	Admin bool
}

// Options configure a Console.
type Options struct {
	Admin Admin
	Keys  []Key
	// Secure marks the session cookie Secure (the listener is TLS).
	Secure bool
	// LoginRate is login attempts per minute per client address, in
	// bursts of LoginBurst; 0: 10 a minute, bursts of 5.
	LoginRate  float64
	LoginBurst int
	Clock      clock.Clock
	Logger     *zap.Logger
}

// Console is the /ui/ handler.
type Console struct {
	o        Options
	log      *zap.Logger
	keys     atomic.Pointer[map[[32]byte]Key] // replaced whole by SetKeys (reload)
	sessions *sessions
	logins   *loginLimiter
	tmpl     map[string]*template.Template
	mux      *http.ServeMux
}

// maxFormBytes bounds a POST (a suppression CSV import is the largest).
const maxFormBytes = 64 << 20

// Prefix is where the console is mounted.
const Prefix = "/ui/"

// New builds the console; mount it at Prefix.
func New(o Options) (*Console, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.LoginRate <= 0 {
		o.LoginRate, o.LoginBurst = 10, 5
	}
	c := &Console{o: o, log: o.Logger.Named("console"),
		sessions: &sessions{clock: o.Clock, m: map[string]*session{}},
		logins: &loginLimiter{rate: o.LoginRate / 60, burst: float64(max(o.LoginBurst, 1)), clock: o.Clock,
			buckets: map[string]*bucket{}},
		tmpl: map[string]*template.Template{}}
	c.SetKeys(o.Keys)
	if err := c.parseTemplates(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

func (c *Console) parseTemplates() error {
	pages, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	for _, p := range pages {
		name := strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", p)
		if err != nil {
			return fmt.Errorf("console template %s: %w", name, err)
		}
		c.tmpl[name] = t
	}
	return nil
}

// SetKeys replaces the keys that may sign in (a configuration reload).
// Sessions follow at their next request: one whose key is gone ends, one
// whose key lost the admin scope can only look from then on.
func (c *Console) SetKeys(keys []Key) {
	m := make(map[[32]byte]Key, len(keys))
	for _, k := range keys {
		m[k.Hash] = k
	}
	c.keys.Store(&m)
}

func (c *Console) key(h [32]byte) (Key, bool) {
	k, ok := (*c.keys.Load())[h]
	return k, ok
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Nothing from another host, no inline script, no framing of the
	// console itself; the message preview has its own, stricter policy.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() {
	m := http.NewServeMux()
	assets, _ := fs.Sub(assetFS, "assets")
	m.Handle("GET /ui/assets/", http.StripPrefix("/ui/assets/", http.FileServerFS(assets)))
	m.HandleFunc("GET /ui/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/activity", http.StatusSeeOther)
	})
	m.HandleFunc("GET /ui/login", c.loginPage)
	m.HandleFunc("POST /ui/login", c.login)
	m.Handle("POST /ui/logout", c.authed(false, c.logout))
	m.Handle("GET /ui/overview", c.authed(false, c.overview))
	m.Handle("GET /ui/activity", c.authed(false, c.activity))
	m.Handle("GET /ui/messages/{id}", c.authed(false, c.message))
	m.Handle("GET /ui/messages/{id}/html", c.authed(false, c.messageHTML))
	m.Handle("POST /ui/messages/{id}/action", c.authed(true, c.messageAction))
	m.Handle("GET /ui/suppressions", c.authed(false, c.suppressions))
	m.Handle("GET /ui/suppressions/export.csv", c.authed(false, c.exportSuppressions))
	m.Handle("POST /ui/suppressions/add", c.authed(true, c.addSuppression))
	m.Handle("POST /ui/suppressions/import", c.authed(true, c.importSuppressions))
	m.Handle("POST /ui/suppressions/remove", c.authed(true, c.removeSuppression))
	m.Handle("GET /ui/queue", c.authed(false, c.queuePage))
	m.Handle("POST /ui/queue/action", c.authed(true, c.queueAction))
	m.Handle("GET /ui/webhooks", c.authed(false, c.webhooks))
	m.Handle("POST /ui/webhooks/retry", c.authed(true, c.retryWebhook))
	m.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, nil, http.StatusNotFound, "No such page: "+r.URL.Path)
	})
	c.mux = m
}

type pageHandler func(w http.ResponseWriter, r *http.Request, s *session)

// authed runs h for a signed-in session; a POST must carry the session's
// CSRF token, and change only with an admin key.
func (c *Console) authed(change bool, h pageHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := c.sessions.get(r)
		if s != nil {
			k, ok := c.key(s.key)
			if !ok {
				c.sessions.drop(r)
				s = nil
			} else if s.admin != k.Admin {
				s = c.sessions.setAdmin(r, k.Admin)
			}
		}
		if s == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/ui/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.fail(w, r, nil, http.StatusUnauthorized, "Your session has ended: sign in again.")
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseMultipartForm(32 << 20); err != nil && err != http.ErrNotMultipart {
				c.fail(w, r, s, http.StatusBadRequest, "Unreadable form: "+err.Error())
				return
			}
			if !sameToken(r.PostFormValue("csrf"), s.csrf) {
				c.log.Warn("console request without a valid CSRF token", zap.String("path", r.URL.Path),
					zap.String("user", s.user))
				c.fail(w, r, s, http.StatusForbidden, "This form is stale or was not sent by the console (CSRF token missing or wrong). Reload the page and try again.")
				return
			}
			if change && !s.admin {
				c.fail(w, r, s, http.StatusForbidden, "Your API key has the read scope: it can look but not change anything.")
				return
			}
		}
		h(w, r, s)
	})
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if c.sessions.get(r) != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.renderLogin(w, r, http.StatusOK, "")
}

func (c *Console) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	t := token()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: t, Path: "/ui/", HttpOnly: true, Secure: c.o.Secure,
		SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	c.render(w, r, status, "login", nil, map[string]any{"CSRF": t, "Error": msg, "Next": safeNext(r.FormValue("next"))})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !c.logins.take(clientIP(r)) {
		c.log.Warn("console login rate limited", zap.String("client", clientIP(r)))
		w.Header().Set("Retry-After", "60")
		c.renderLogin(w, r, http.StatusTooManyRequests, "Too many sign-in attempts from your address: wait a minute.")
		return
	}
	ck, err := r.Cookie(loginCookie)
	if err != nil || !sameToken(r.PostFormValue("csrf"), ck.Value) {
		c.renderLogin(w, r, http.StatusForbidden, "The sign-in form was stale (CSRF token missing or wrong): try again.")
		return
	}
	k, ok := c.key(sha256.Sum256([]byte(strings.TrimSpace(r.PostFormValue("key")))))
	if !ok {
		c.log.Info("console login refused", zap.String("client", clientIP(r)))
		c.renderLogin(w, r, http.StatusUnauthorized, "Unknown API key, or one without the admin or read scope.")
		return
	}
	t, _ := c.sessions.create(k.Hash, k.User, k.Admin)
	c.log.Info("console login", zap.String("user", k.User), zap.Bool("admin", k.Admin), zap.String("client", clientIP(r)))
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: t, Path: "/ui/", HttpOnly: true, Secure: c.o.Secure,
		SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/ui/", MaxAge: -1})
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, _ *session) {
	c.sessions.drop(r)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/ui/", MaxAge: -1, HttpOnly: true,
		Secure: c.o.Secure, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// safeNext keeps a post-login redirect inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/activity"
	}
	return next
}

// view is what every page template gets.
type view struct {
	Title   string
	Nav     string
	Session *session
	Now     time.Time
	Flash   string
	Data    any
}

func (v view) CSRF() string {
	if v.Session == nil {
		return ""
	}
	return v.Session.csrf
}

func (v view) CanChange() bool { return v.Session != nil && v.Session.admin }

func (v view) User() string {
	if v.Session == nil {
		return ""
	}
	return v.Session.user
}

// render executes a page into a buffer first, so a template error is a
// clean 500 rather than half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, s *session, data any) {
	t := c.tmpl[name]
	v := view{Title: titles[name], Nav: name, Session: s, Now: c.o.Clock.Now(), Data: data, Flash: r.URL.Query().Get("done")}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		c.log.Error("console template", zap.String("page", name), zap.Error(err))
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes()) //nolint:errcheck // the client is gone
}

var titles = map[string]string{"login": "Sign in", "overview": "Overview", "activity": "Activity", "message": "Message",
	"suppressions": "Suppressions", "queue": "Queue", "webhooks": "Webhooks", "error": "Error", "confirm": "Confirm"}

// fail renders an error page with status.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	if status >= 500 {
		c.log.Warn("console request failed", zap.String("path", r.URL.Path), zap.Int("status", status), zap.String("error", msg))
	}
	c.render(w, r, status, "error", s, map[string]any{"Status": status, "StatusText": http.StatusText(status), "Message": msg})
}
