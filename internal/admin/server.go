package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// errorBody is every error response: Error for people, Kind for clients
// that map it back to a sentinel ("no_message", "no_suppression",
// "invalid"; "" otherwise).
type errorBody struct {
	Error string `json:"error"`
	Kind  string `json:"kind,omitempty"`
}

// Kinds in errorBody.
const (
	kindNoMessage     = "no_message"
	kindNoSuppression = "no_suppression"
	kindNoWebhook     = "no_webhook"
	kindInvalid       = "invalid"
)

// Handler returns the API's routes under /v1/. It does no authentication:
// Server puts the bearer-token check in front of TCP connections.
func Handler(api API, log *zap.Logger) http.Handler {
	h := &handler{api: api, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/queue", h.listQueue)
	mux.HandleFunc("GET /v1/queue/{id}", h.showMessage)
	mux.HandleFunc("GET /v1/queue/{id}/body", h.messageBody)
	mux.HandleFunc("POST /v1/queue/actions", h.queueAction)
	mux.HandleFunc("POST /v1/flush", h.flush)
	mux.HandleFunc("GET /v1/suppressions", h.listSuppressions)
	mux.HandleFunc("GET /v1/suppressions/export", h.exportSuppressions)
	mux.HandleFunc("POST /v1/suppressions/import", h.importSuppressions)
	mux.HandleFunc("GET /v1/suppressions/{addr}", h.showSuppression)
	mux.HandleFunc("PUT /v1/suppressions/{addr}", h.addSuppression)
	mux.HandleFunc("DELETE /v1/suppressions/{addr}", h.removeSuppression)
	mux.HandleFunc("GET /v1/stats", h.stats)
	mux.HandleFunc("GET /v1/overview", h.overview)
	mux.HandleFunc("GET /v1/destinations", h.destinationQueues)
	mux.HandleFunc("POST /v1/destinations/{domain}/reset", h.resetDestination)
	mux.HandleFunc("GET /v1/events", h.listEvents)
	mux.HandleFunc("POST /v1/bounce/receive", h.receiveReport)
	mux.HandleFunc("GET /v1/bounce/reports", h.listReports)
	mux.HandleFunc("POST /v1/backup", h.backup)
	mux.HandleFunc("POST /v1/reload", h.reload)
	mux.HandleFunc("GET /v1/webhooks", h.listWebhooks)
	mux.HandleFunc("POST /v1/webhooks/{name}/retry", h.retryWebhook)
	mux.HandleFunc("POST /v1/webhooks/{name}/test", h.testWebhook)
	mux.HandleFunc("GET /v1/webhooks/{name}/dead", h.webhookDeadLetters)
	mux.HandleFunc("POST /v1/verify", h.verify)
	mux.HandleFunc("PUT /v1/verify/disposable-list", h.updateDisposableList)
	mux.HandleFunc("GET /v1/cluster", h.clusterStatus)
	mux.HandleFunc("GET /v1/tls/report", h.tlsReport)
	mux.HandleFunc("POST /v1/drain", h.drain)
	mux.HandleFunc("POST /v1/transfer", h.transfer)
	return mux
}

type handler struct {
	api API
	log *zap.Logger
}

// maxJSONBody bounds request bodies other than the CSV import.
const maxJSONBody = 1 << 20

// replyJSON writes v, or the error mapped to its status.
func (h *handler) reply(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		h.log.Debug("writing a response", zap.String("path", r.URL.Path), zap.Error(err))
	}
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, kind := http.StatusInternalServerError, ""
	switch {
	case errors.Is(err, ErrNoMessage):
		status, kind = http.StatusNotFound, kindNoMessage
	case errors.Is(err, ErrNoSuppression):
		status, kind = http.StatusNotFound, kindNoSuppression
	case errors.Is(err, ErrNoWebhook):
		status, kind = http.StatusNotFound, kindNoWebhook
	case errors.Is(err, ErrInvalid):
		status, kind = http.StatusBadRequest, kindInvalid
	default:
		h.log.Error("admin request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(errorBody{Error: err.Error(), Kind: kind}) //nolint:errcheck // the client is gone
}

func decodeJSON(r *http.Request, v any) error {
	return decodeJSONUpTo(r, v, maxJSONBody)
}

// decodeJSONUpTo is decodeJSON with a body of at most limit bytes.
func decodeJSONUpTo(r *http.Request, v any, limit int64) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("bad JSON body: %v", err)
	}
	return nil
}

func queryLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, invalid("bad limit %q", v)
	}
	return n, nil
}

// querySeqPage reads a page through the outbox: limit, and after (the
// last event seq the caller has).
func querySeqPage(r *http.Request) (n int, after uint64, err error) {
	if n, err = queryLimit(r); err != nil {
		return 0, 0, err
	}
	if v := r.URL.Query().Get("after"); v != "" {
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			return 0, 0, invalid("bad after %q: want an event seq", v)
		}
	}
	return n, after, nil
}

func (h *handler) listQueue(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n, err := queryLimit(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	f := QueueFilter{State: q.Get("state"), Domain: q.Get("domain"),
		Rcpt: q.Get("rcpt"), Tag: q.Get("tag"), Sender: q.Get("sender"), After: q.Get("after"), Limit: n}
	for _, tf := range []struct {
		name string
		to   *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(tf.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				h.fail(w, r, invalid("%s: %q is not an RFC 3339 time", tf.name, v))
				return
			}
			*tf.to = t
		}
	}
	page, err := h.api.ListQueue(r.Context(), f)
	h.reply(w, r, page, err)
}

func (h *handler) showMessage(w http.ResponseWriter, r *http.Request) {
	d, err := h.api.ShowMessage(r.Context(), r.PathValue("id"))
	h.reply(w, r, d, err)
}

func (h *handler) messageBody(w http.ResponseWriter, r *http.Request) {
	body, err := h.api.MessageBody(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "message/rfc822")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

func (h *handler) reload(w http.ResponseWriter, r *http.Request) {
	res, err := h.api.Reload(r.Context())
	h.reply(w, r, res, err)
}

func (h *handler) backup(w http.ResponseWriter, r *http.Request) {
	var req BackupRequest
	if err := decodeJSON(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	res, err := h.api.Backup(r.Context(), req)
	h.reply(w, r, res, err)
}

func (h *handler) queueAction(w http.ResponseWriter, r *http.Request) {
	var a QueueAction
	if err := decodeJSON(r, &a); err != nil {
		h.fail(w, r, err)
		return
	}
	res, err := h.api.QueueAction(r.Context(), a)
	h.reply(w, r, res, err)
}

func (h *handler) resetDestination(w http.ResponseWriter, r *http.Request) {
	err := h.api.ResetDestination(r.Context(), r.PathValue("domain"))
	h.reply(w, r, struct {
		Reset bool `json:"reset"`
	}{err == nil}, err)
}

func (h *handler) flush(w http.ResponseWriter, r *http.Request) {
	res, err := h.api.Flush(r.Context())
	h.reply(w, r, res, err)
}

func (h *handler) listSuppressions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n, err := queryLimit(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	page, err := h.api.ListSuppressions(r.Context(), SuppressionFilter{Reason: q.Get("reason"), After: q.Get("after"), Limit: n})
	h.reply(w, r, page, err)
}

func (h *handler) showSuppression(w http.ResponseWriter, r *http.Request) {
	e, err := h.api.ShowSuppression(r.Context(), r.PathValue("addr"))
	h.reply(w, r, e, err)
}

func (h *handler) addSuppression(w http.ResponseWriter, r *http.Request) {
	var a SuppressionAdd
	if err := decodeJSON(r, &a); err != nil {
		h.fail(w, r, err)
		return
	}
	a.Address = r.PathValue("addr")
	e, err := h.api.AddSuppression(r.Context(), a)
	h.reply(w, r, e, err)
}

func (h *handler) removeSuppression(w http.ResponseWriter, r *http.Request) {
	err := h.api.RemoveSuppression(r.Context(), r.PathValue("addr"))
	h.reply(w, r, struct {
		Removed string `json:"removed"`
	}{strings.ToLower(r.PathValue("addr"))}, err)
}

// importSuppressions reads the CSV body as it arrives. Progress is the
// client's to show (it counts what it has sent); the daemon logs it.
func (h *handler) importSuppressions(w http.ResponseWriter, r *http.Request) {
	res, err := h.api.ImportSuppressions(r.Context(), r.Body, func(done int) {
		if done%(10*progressEvery) == 0 {
			h.log.Info("importing suppressions", zap.Int("lines", done))
		}
	})
	if err != nil && res != nil {
		// Say where it stopped: what was committed stays.
		err = fmt.Errorf("%w (after %d added, %d skipped)", err, res.Added, res.Skipped)
	}
	h.reply(w, r, res, err)
}

func (h *handler) exportSuppressions(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	if err := h.api.ExportSuppressions(r.Context(), w); err != nil {
		// The 200 is already sent: abort the connection so the client
		// sees a broken body, not a short but complete-looking file.
		h.log.Error("exporting suppressions", zap.Error(err))
		panic(http.ErrAbortHandler)
	}
}

func (h *handler) stats(w http.ResponseWriter, r *http.Request) {
	st, err := h.api.Stats(r.Context())
	h.reply(w, r, st, err)
}

func (h *handler) overview(w http.ResponseWriter, r *http.Request) {
	ov, err := h.api.Overview(r.Context())
	h.reply(w, r, ov, err)
}

func (h *handler) destinationQueues(w http.ResponseWriter, r *http.Request) {
	ds, err := h.api.DestinationQueues(r.Context())
	h.reply(w, r, ds, err)
}

// requireToken wraps next so that connections marked as TCP must send
// "Authorization: Bearer <token>"; the compare takes constant time.
func requireToken(token string, next http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tcp, _ := r.Context().Value(tcpConnKey{}).(bool); tcp {
			got := []byte(r.Header.Get("Authorization"))
			if subtle.ConstantTimeCompare(got, want) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="mtaq"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				json.NewEncoder(w).Encode(errorBody{Error: "missing or wrong bearer token"}) //nolint:errcheck // the client is gone
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

type tcpConnKey struct{}

// markTCP is the server's ConnContext: unix-socket peers are trusted by
// file mode, TCP peers by token.
func markTCP(ctx context.Context, c net.Conn) context.Context {
	_, isTCP := c.LocalAddr().(*net.TCPAddr)
	return context.WithValue(ctx, tcpConnKey{}, isTCP)
}

// Server timeouts: headers must come quickly; bodies may be a large CSV
// import or export, so there is no overall read or write deadline.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
)
