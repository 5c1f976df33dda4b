package conf

import (
	"strings"
	"testing"
	"time"
)

func TestWebhookKeys(t *testing.T) {
	t.Parallel()
	c, err := Parse("mtaq.toml", []byte(`hostname = "mta.example.com"
[[webhook]]
url = "https://app.example.com/hooks/mtaq"
events = ["bounced", "suppressed"]
secret = "s3cret"
max_age = "24h"
name = "app"
concurrency = 16

[[webhook]]
url = "http://127.0.0.1:9000/all"
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Webhooks) != 2 {
		t.Fatalf("webhooks %+v", c.Webhooks)
	}
	w := c.Webhooks[0]
	if w.URL != "https://app.example.com/hooks/mtaq" || len(w.Events) != 2 || w.Secret != "s3cret" ||
		w.MaxAgeOrDefault() != 24*time.Hour || w.NameOrDefault() != "app" || w.ConcurrencyOrDefault() != 16 {
		t.Fatalf("first webhook %+v", w)
	}
	if c.Webhooks[1].MaxAgeOrDefault() != DefaultWebhookMaxAge || len(c.Webhooks[1].Events) != 0 ||
		c.Webhooks[1].NameOrDefault() != "127.0.0.1:9000" || c.Webhooks[1].ConcurrencyOrDefault() != 4 {
		t.Fatalf("second webhook %+v", c.Webhooks[1])
	}
	if len(Defaults().Webhooks) != 0 {
		t.Fatal("no webhooks by default")
	}
}

func TestWebhookValidation(t *testing.T) {
	t.Parallel()
	_, err := Parse("mtaq.toml", []byte(`hostname = "mta.example.com"
[[webhook]]
url = "ftp://app.example.com/x"

[[webhook]]
url = "https://app.example.com/x"
events = ["bounced", "opened"]
max_age = "-1h"

[[webhook]]
url = "https://app.example.com/x"

[[webhook]]
url = "https://app.example.com/y"
concurrency = 65
secret = "whsec_c2hvcnQ="

[[webhook]]
url = "https://app.example.com/z"
name = "has space"
secret = "whsec_***"
`))
	if err == nil {
		t.Fatal("bad webhooks accepted")
	}
	for _, want := range []string{
		`mtaq.toml:3: webhook[0].url: must be an http:// or https:// URL, got "ftp://app.example.com/x"`,
		`mtaq.toml:7: webhook[1].events[1]: unknown event "opened"`,
		`mtaq.toml:8: webhook[1].max_age: must not be negative`,
		`mtaq.toml:11: webhook[2].url: "https://app.example.com/x" is already a webhook`,
		`webhook[1].name: "app.example.com" is already the name of webhook[0] (the default is the URL's host): set name`,
		`mtaq.toml:15: webhook[3].concurrency: must be 1 to 64 (0 means 4), got 65`,
		`mtaq.toml:16: webhook[3].secret: a whsec_ secret's key is 5 bytes; Standard Webhooks wants at least 24`,
		`mtaq.toml:20: webhook[4].name: "has space": want 1 to 100 letters`,
		`mtaq.toml:21: webhook[4].secret: a whsec_ secret is base64 after the prefix`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
