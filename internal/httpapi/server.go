package httpapi

import (
	"context"
	"crypto/tls"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/internal/proxylisten"
)

// OpenAPI is the API's OpenAPI 3.1 document, served at /v1/openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte

// Idempotency is the part of the queue that remembers first responses.
type Idempotency interface {
	Idempotent(ctx context.Context, key string, now time.Time) ([]byte, error)
}

// Options configure a Server. Intake, Store and Admin are required.
type Options struct {
	Listen []string
	TLS    *tls.Config // nil: plain HTTP
	Keys   []Key
	Intake *intake.Intake
	Store  Idempotency
	// Admin is the Service behind the admin socket: reading and managing
	// go through it, so both APIs mean the same.
	Admin admin.API
	// MaxMessageBytes is intake's limit; request bodies are bounded by it
	// (JSON: plus base64's third and 1 MiB of fields).
	MaxMessageBytes int64
	// RateLimit requests per second per key, bursts of RateBurst; 0: none.
	RateLimit float64
	RateBurst int
	Clock     clock.Clock
	Logger    *zap.Logger
	// OnAccepted hears each queued message's latency, from its checks to
	// the commit (metrics, like SMTP's); may be nil.
	OnAccepted func(latency time.Duration)
	// Mount serves more handlers on the same listeners, by ServeMux
	// pattern (the web console at "/ui/"); they do their own auth.
	Mount map[string]http.Handler
	// ProxyNetworks, when set, puts the PROXY protocol under every
	// listener (internal/proxylisten): requests from them carry the
	// client's address as RemoteAddr (the console's sign-in limit, logs).
	ProxyNetworks []netip.Prefix
}

// Server is the running API.
type Server struct {
	o      Options
	log    *zap.Logger
	keys   atomic.Pointer[map[[32]byte]*Key] // replaced whole by SetKeys (reload)
	limits *limiter
	srv    *http.Server
	lns    []net.Listener
	wg     sync.WaitGroup
}

// Timeouts: a slow client cannot hold a connection forever.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 5 * time.Minute
	idleTimeout       = 2 * time.Minute
)

// New listens on every address (so a port in use fails at start) and
// builds the routes; Start serves.
func New(o Options) (*Server, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 25 << 20
	}
	s := &Server{o: o, log: o.Logger.Named("http"),
		limits: &limiter{rate: o.RateLimit, burst: float64(max(o.RateBurst, 1)), clock: o.Clock, buckets: map[[32]byte]*bucket{}}}
	if err := s.SetKeys(o.Keys); err != nil {
		return nil, err
	}
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		IdleTimeout: idleTimeout, ErrorLog: zap.NewStdLog(s.log), TLSConfig: o.TLS}
	for _, a := range o.Listen {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range s.lns {
				l.Close()
			}
			return nil, fmt.Errorf("http.listen %s: %w", a, err)
		}
		ln = proxylisten.Wrap(ln, proxylisten.Options{Networks: o.ProxyNetworks, Logger: s.log})
		if o.TLS != nil {
			ln = tls.NewListener(ln, o.TLS)
		}
		s.lns = append(s.lns, ln)
	}
	return s, nil
}

// Start serves every listener in the background.
func (s *Server) Start() {
	for _, ln := range s.lns {
		s.wg.Go(func() {
			if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("http listener", zap.Stringer("addr", ln.Addr()), zap.Error(err))
			}
		})
	}
	if len(s.lns) > 0 {
		s.log.Info("http api listening", zap.Stringers("listen", s.addrStringers()), zap.Bool("tls", s.o.TLS != nil),
			zap.Int("keys", len(*s.keys.Load())))
	}
}

// Addrs are the listeners' addresses.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, len(s.lns))
	for i, ln := range s.lns {
		out[i] = ln.Addr()
	}
	return out
}

func (s *Server) addrStringers() []fmt.Stringer {
	out := make([]fmt.Stringer, len(s.lns))
	for i, ln := range s.lns {
		out[i] = ln.Addr()
	}
	return out
}

// Shutdown stops accepting and waits for requests in flight (a send
// finishes its commit) until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	for _, ln := range s.lns {
		ln.Close() // never served when Start was not called
	}
	s.wg.Wait()
	return err
}

// SetKeys replaces the API keys (a configuration reload): the next
// request is checked against the new set; one in progress finishes with
// the key it was let in with. A key listed twice changes nothing.
func (s *Server) SetKeys(keys []Key) error {
	m := make(map[[32]byte]*Key, len(keys))
	for i := range keys {
		k := &keys[i]
		if m[k.Hash] != nil {
			return fmt.Errorf("http: API key of %q is also %q's", k.User, m[k.Hash].User)
		}
		m[k.Hash] = k
	}
	s.keys.Store(&m)
	return nil
}

// Handler is the API's routes; tests serve it directly.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(OpenAPI) //nolint:errcheck // the client is gone
	})
	mux.Handle("POST /v1/messages", s.auth(ScopeSend, s.sendJSON))
	mux.Handle("POST /v1/messages/raw", s.auth(ScopeSend, s.sendRaw))
	mux.Handle("POST /v1/messages/batch", s.auth(ScopeSend, s.sendBatch))
	mux.Handle("GET /v1/messages", s.auth(ScopeRead, s.listMessages))
	mux.Handle("GET /v1/messages/{id}", s.auth(ScopeRead, s.showMessage))
	mux.Handle("GET /v1/suppressions", s.auth(ScopeRead, s.listSuppressions))
	mux.Handle("POST /v1/suppressions", s.auth(ScopeAdmin, s.addSuppression))
	mux.Handle("GET /v1/suppressions/{address}", s.auth(ScopeRead, s.showSuppression))
	mux.Handle("DELETE /v1/suppressions/{address}", s.auth(ScopeAdmin, s.removeSuppression))
	mux.Handle("GET /v1/events", s.auth(ScopeRead, s.listEvents))
	mux.Handle("GET /v1/stats", s.auth(ScopeRead, s.stats))
	mux.Handle("GET /v1/overview", s.auth(ScopeRead, s.overview))
	mux.Handle("POST /v1/verify", s.auth(ScopeRead, s.verify))
	for pattern, h := range s.o.Mount {
		mux.Handle(pattern, h)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// A known path with another method is a 405 naming the ones it has.
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeProblem(w, &Problem{Type: typeInvalid, Title: "Method not allowed", Status: http.StatusMethodNotAllowed,
				Detail: fmt.Sprintf("%s %s: want %s", r.Method, r.URL.Path, strings.Join(allow, " or "))})
			return
		}
		writeProblem(w, notFound(fmt.Sprintf("no route %s %s (see /v1/openapi.json)", r.Method, r.URL.Path)))
	})
	return recoverer(s.log, mux)
}

// handlerFunc returns the response value (JSON, status) or a problem.
type handlerFunc func(w http.ResponseWriter, r *http.Request, k *Key) (status int, body any, p *Problem)

// auth checks the key, its scope and its rate, then runs h.
func (s *Server) auth(scope string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, p := s.authenticate(r)
		if p != nil {
			if p.Status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="mtaq"`)
			}
			writeProblem(w, p)
			return
		}
		if !k.has(scope) {
			writeProblem(w, &Problem{Type: typeForbidden, Title: "Forbidden", Status: http.StatusForbidden,
				Detail: fmt.Sprintf("this API key lacks the %q scope", scope)})
			return
		}
		status, body, p := h(w, r, k)
		if p != nil {
			if p.Status >= 500 {
				s.log.Warn("http request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path),
					zap.String("user", k.User), zap.Int("status", p.Status), zap.String("detail", p.Detail))
			}
			writeProblem(w, p)
			return
		}
		writeJSON(w, status, body)
	})
}

// rawJSON is a response already encoded (a remembered idempotent answer).
type rawJSON []byte

func writeJSON(w http.ResponseWriter, status int, body any) {
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if raw, ok := body.(rawJSON); ok {
		w.Write(raw) //nolint:errcheck // the client is gone
		return
	}
	json.NewEncoder(w).Encode(body) //nolint:errcheck // the client is gone
}

// recoverer turns a panic into a logged 500 problem instead of a dropped
// connection (http.ErrAbortHandler still aborts).
func recoverer(log *zap.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("http handler panic", zap.String("path", r.URL.Path), zap.Any("panic", v))
				writeProblem(w, internal())
			}
		}()
		next.ServeHTTP(w, r)
	})
}
