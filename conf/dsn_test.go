package conf

import (
	"strings"
	"testing"
	"time"
)

func TestDSNKeys(t *testing.T) {
	t.Parallel()
	c, err := Parse("mtaq.toml", []byte(`hostname = "mta.example.com"
[dsn]
enabled = false
delay_warning = "4h"
max_headers = 4096

[submission]
submission_listen = ["127.0.0.1:587"]
tls_cert = "cert.pem"
tls_key = "key.pem"

[[submission.user]]
name = "app1"
password_hash = "$2a$10$abcdefghijklmnopqrstuuDe1gWsa6K3aCsWmT4g2ZRHZb9SI5Yuq"
dsn = false
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.DSN.Enabled || c.DSN.DelayWarning.Duration != 4*time.Hour || c.DSN.MaxHeaders != 4096 {
		t.Fatalf("got %+v", c.DSN)
	}
	if u := c.Submission.Users[0]; u.DSN == nil || *u.DSN {
		t.Fatalf("user dsn %v", u.DSN)
	}
	d := Defaults().DSN
	if !d.Enabled || d.DelayWarning.Duration != 0 || d.MaxHeaders != 16384 {
		t.Fatalf("defaults %+v", d)
	}
	if Defaults().Submission.Users != nil {
		t.Fatal("default users")
	}
}

func TestDSNValidation(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ body, want string }{
		{`delay_warning = "-1h"`, "mtaq.toml:3: dsn.delay_warning: must not be negative"},
		{`delay_warning = "10s"`, "mtaq.toml:3: dsn.delay_warning: must be 0s (off) or at least 1m"},
		{`delay_warning = "80h"`, "mtaq.toml:3: dsn.delay_warning: must be shorter than retry.expire"},
		{`max_headers = 10`, "mtaq.toml:3: dsn.max_headers: must be between 1024 and 1048576, got 10"},
	} {
		_, err := Parse("mtaq.toml", []byte("hostname = \"mta.example.com\"\n[dsn]\n"+c.body+"\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.body, err, c.want)
		}
	}
}
