package conf

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Webhook is one [[webhook]] table: mtaq POSTs every event of the kinds in
// Events to URL as JSON, signed with Secret, up to Concurrency requests at
// once, each recipient's events in order. An endpoint that fails (no
// answer, 408, 429, 5xx) is retried with backoff (1m doubling to 6h) until
// a 2xx or until the event is older than MaxAge; an event it refuses with
// another 4xx is retried 3 times, then kept in the dead-letter list; 410
// Gone disables it until `mtaq webhooks retry`.
type Webhook struct {
	// Name names it in `mtaq webhooks`, logs and metrics; default the
	// URL's host (and port).
	Name string `toml:"name"`
	// URL is an http:// or https:// endpoint.
	URL string `toml:"url"`
	// Events lists event kinds (queued, delivered, deferred, bounced,
	// failed, expired, rejected, suppressed, unsuppressed, complained,
	// delayed); empty means all.
	Events []string `toml:"events"`
	// Secret keys the HMAC-SHA256 signatures: webhook-signature (Standard
	// Webhooks: a "whsec_" secret is its key in base64, any other is used
	// as it is) and X-Mtaq-Signature (the secret as written). Empty sends
	// requests unsigned, which lets anyone who finds the URL forge events:
	// set one.
	Secret string `toml:"secret"`
	// MaxAge: an event still undelivered this long after it happened is
	// dropped with a log line instead of retried for ever (default 72h).
	MaxAge Duration `toml:"max_age"`
	// Concurrency bounds the requests in flight to this endpoint (default
	// 4); each recipient's events still go one after the other.
	Concurrency int `toml:"concurrency"`
}

// DefaultWebhookConcurrency is concurrency when the table leaves it out;
// MaxWebhookConcurrency is the most it may be.
const (
	DefaultWebhookConcurrency = 4
	MaxWebhookConcurrency     = 64
)

// ConcurrencyOrDefault returns Concurrency, or the default when unset.
func (w Webhook) ConcurrencyOrDefault() int {
	if w.Concurrency == 0 {
		return DefaultWebhookConcurrency
	}
	return w.Concurrency
}

// NameOrDefault returns Name, or the URL's host when unset.
func (w Webhook) NameOrDefault() string {
	if w.Name != "" {
		return w.Name
	}
	if u, err := url.Parse(w.URL); err == nil {
		return u.Host
	}
	return w.URL
}

var webhookName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$`)

// minStandardKey is the shortest key Standard Webhooks allows (24 bytes).
const minStandardKey = 24

// DefaultWebhookMaxAge is max_age when the table leaves it out.
const DefaultWebhookMaxAge = 72 * time.Hour

// WebhookEvents are the event kinds a webhook may ask for.
var WebhookEvents = []string{"queued", "delivered", "deferred", "bounced", "failed",
	"expired", "rejected", "suppressed", "unsuppressed", "complained", "delayed"}

// MaxAgeOrDefault returns MaxAge, or DefaultWebhookMaxAge when unset.
func (w Webhook) MaxAgeOrDefault() time.Duration {
	if w.MaxAge.Duration == 0 {
		return DefaultWebhookMaxAge
	}
	return w.MaxAge.Duration
}

func validateWebhooks(k *checker, hooks []Webhook) {
	seen := map[string]bool{}
	names := map[string]int{}
	for i, w := range hooks {
		key := fmt.Sprintf("webhook[%d]", i)
		name := w.NameOrDefault()
		if j, dup := names[name]; dup {
			k.add(key+".name", "%q is already the name of webhook[%d] (the default is the URL's host): set name", name, j)
		} else if !webhookName.MatchString(name) && w.URL != "" {
			k.add(key+".name", "%q: want 1 to 100 letters, digits, '.', '_', ':' or '-'", name)
		}
		names[name] = i
		if w.Concurrency < 0 || w.Concurrency > MaxWebhookConcurrency {
			k.add(key+".concurrency", "must be 1 to %d (0 means %d), got %d", MaxWebhookConcurrency,
				DefaultWebhookConcurrency, w.Concurrency)
		}
		if rest, ok := strings.CutPrefix(w.Secret, "whsec_"); ok {
			if b, err := base64.StdEncoding.DecodeString(rest); err != nil {
				k.add(key+".secret", "a whsec_ secret is base64 after the prefix: %v", err)
			} else if len(b) < minStandardKey {
				k.add(key+".secret", "a whsec_ secret's key is %d bytes; Standard Webhooks wants at least %d", len(b), minStandardKey)
			}
		}
		u, err := url.Parse(w.URL)
		switch {
		case w.URL == "":
			k.add(key+".url", "must be set")
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			k.add(key+".url", "must be an http:// or https:// URL, got %q", w.URL)
		case seen[w.URL]:
			k.add(key+".url", "%q is already a webhook", w.URL)
		}
		seen[w.URL] = true
		for j, e := range w.Events {
			if !slices.Contains(WebhookEvents, e) {
				k.add(fmt.Sprintf("%s.events[%d]", key, j), "unknown event %q (want one of %v)", e, WebhookEvents)
			}
		}
		if w.MaxAge.Duration < 0 {
			k.add(key+".max_age", "must not be negative (0 means %v), got %v", DefaultWebhookMaxAge, w.MaxAge.Duration)
		}
	}
}
