package conf

import (
	"strings"
	"testing"
)

func TestHTTPAndAPIKeys(t *testing.T) {
	t.Parallel()
	key := "sha256:" + strings.Repeat("ab", 32)
	c, err := Parse("mtaq.toml", []byte(`hostname = "mta.example.com"
[http]
listen = ["127.0.0.1:8025"]
rate_limit = 5
rate_burst = 10
[[submission.user]]
name = "app"
api_keys = ["`+key+`"]
allowed_senders = ["@app.example"]
[[submission.user]]
name = "ops"
api_keys = ["sha256:`+strings.Repeat("cd", 32)+`"]
api_scopes = ["read", "admin"]
`))
	if err != nil {
		t.Fatalf("a user with API keys and no password, no TLS listener: %v", err)
	}
	if c.HTTP.Listen[0] != "127.0.0.1:8025" || c.HTTP.RateLimit != 5 || c.Submission.Users[0].APIKeys[0] != key {
		t.Fatalf("got %+v", c.HTTP)
	}
	if got := c.Submission.Users[0].Scopes(); len(got) != 1 || got[0] != "send" {
		t.Errorf("default scopes %v, want [send]", got)
	}
	if got := c.Submission.Users[1].Scopes(); len(got) != 2 || got[1] != "admin" {
		t.Errorf("scopes %v", got)
	}
	if d := Defaults().HTTP; len(d.Listen) != 0 {
		t.Errorf("default http.listen %v, want none", d.Listen)
	}
}

func TestHTTPProblems(t *testing.T) {
	t.Parallel()
	key := "sha256:" + strings.Repeat("ab", 32)
	_, err := Parse("mtaq.toml", []byte(`hostname = "mta.example.com"
[http]
listen = ["nope"]
tls_cert = "/etc/mtaq/cert.pem"
rate_limit = -1
[[submission.user]]
name = "app"
api_keys = ["`+key+`", "md5:abc", "sha256:zz"]
api_scopes = ["send", "root"]
[[submission.user]]
name = "app2"
api_keys = ["`+key+`"]
[[submission.user]]
name = "nokeys"
`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"mtaq.toml:3: http.listen[0]: ",
		"mtaq.toml:4: http.tls_cert: needs http.tls_key as well",
		"mtaq.toml:5: http.rate_limit: must not be negative",
		`mtaq.toml:8: submission.user[0].api_keys[1]: "md5:abc": must start with "sha256:"`,
		`mtaq.toml:8: submission.user[0].api_keys[2]: "sha256:zz": want sha256: and 64 hex digits`,
		`mtaq.toml:9: submission.user[0].api_scopes[1]: "root": want send, read or admin`,
		"mtaq.toml:12: submission.user[1].api_keys[0]: the same key as submission.user[0].api_keys[0]",
		"submission.user[2].password_hash: must be a bcrypt hash",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}
