package conf

import (
	"fmt"
	"net/url"
	"slices"
	"time"
)

// Webhook is one [[webhook]] table: mtaq POSTs every event of the kinds in
// Events to URL as JSON, signed with Secret, and retries with backoff (1m
// doubling to 6h) until a 2xx or until the event is older than MaxAge.
type Webhook struct {
	// URL is an http:// or https:// endpoint.
	URL string `toml:"url"`
	// Events lists event kinds (queued, delivered, deferred, bounced,
	// failed, expired, rejected, suppressed, unsuppressed, complained,
	// delayed); empty means all.
	Events []string `toml:"events"`
	// Secret keys the X-Mtaq-Signature HMAC-SHA256. Empty sends requests
	// unsigned, which lets anyone who finds the URL forge events: set one.
	Secret string `toml:"secret"`
	// MaxAge: an event still undelivered this long after it happened is
	// dropped with a log line instead of retried for ever (default 72h).
	MaxAge Duration `toml:"max_age"`
}

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
	for i, w := range hooks {
		key := fmt.Sprintf("webhook[%d]", i)
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
