package conf

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func testHash(t *testing.T) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestAuthKeys(t *testing.T) {
	t.Parallel()
	h := testHash(t)
	c, err := Parse("mtaq.toml", []byte(`hostname = "mta.example.com"
[submission]
submission_listen = ["0.0.0.0:587"]
smtps_listen = ["[::]:465"]
tls_cert = "/etc/mtaq/cert.pem"
tls_key = "/etc/mtaq/key.pem"
auth_ip_window = "1h"
[[submission.user]]
name = "app1"
password_hash = "`+h+`"
allowed_senders = ["noreply@app1.example", "@app1.example"]
[[submission.user]]
name = "app2"
password_hash = "`+strings.Replace(h, "$2a$", "$2y$", 1)+`"
`))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Submission
	if s.AuthMaxFailures != 3 || s.AuthIPFailures != 10 || s.AuthIPWindow.Duration != time.Hour ||
		len(s.Users) != 2 || s.Users[0].AllowedSenders[1] != "@app1.example" || s.TLSKey != "/etc/mtaq/key.pem" {
		t.Fatalf("got %+v", s)
	}
}

func TestAuthProblems(t *testing.T) {
	t.Parallel()
	h := testHash(t)
	_, err := Parse("mtaq.toml", []byte(`hostname = "mta.example.com"
[submission]
submission_listen = ["nope"]
smtps_listen = [":465"]
auth_max_failures = 0
auth_ip_window = "0s"
[[submission.user]]
name = "app:1"
password_hash = "$2x$04$abcdefghijklmnopqrstuu5Xw2kq2m2Yp8v0Cj1d3bq1uHc0r3E2K"
[[submission.user]]
name = "app2"
password_hash = "`+h+`"
allowed_senders = ["ok@x.example", "no domain@", "@bad_domain"]
[[submission.user]]
name = "app2"
password_hash = "$2a$03$`+h[7:]+`"
`))
	want := []string{
		`mtaq.toml:3: submission.submission_listen[0]: "nope" is not host:port`,
		"mtaq.toml:2: submission.tls_cert: must be set",
		"mtaq.toml:2: submission.tls_key: must be set",
		"mtaq.toml:5: submission.auth_max_failures: must be at least 1, got 0",
		"mtaq.toml:6: submission.auth_ip_window: must be positive",
		`mtaq.toml:8: submission.user[0].name: "app:1": must be non-empty`,
		"mtaq.toml:9: submission.user[0].password_hash: must be a bcrypt hash starting $2a$, $2b$ or $2y$",
		`mtaq.toml:13: submission.user[1].allowed_senders[1]: "no domain@" is neither`,
		`mtaq.toml:13: submission.user[1].allowed_senders[2]: "@bad_domain" is neither`,
		"mtaq.toml:16: submission.user[2].password_hash: not a valid bcrypt hash: cost 3 is outside",
		`mtaq.toml:15: submission.user[2].name: duplicate user "app2"`,
	}
	got := lines(err)
	if len(got) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(got), len(want), err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in\n%s", w, err)
		}
	}
}

func TestUsersWithoutTLSListener(t *testing.T) {
	t.Parallel()
	_, err := Parse("mtaq.toml", []byte("hostname = \"mta.example.com\"\n[submission]\nusers_file = \"/etc/mtaq/users\"\n"))
	if err == nil || !strings.Contains(err.Error(), "submission.user: users need submission_listen or smtps_listen") {
		t.Fatalf("got %v", err)
	}
}

func TestAllUsers(t *testing.T) {
	t.Parallel()
	h := testHash(t)
	s := Submission{UsersFile: "/etc/mtaq/users", Users: []User{{Name: "app1", PasswordHash: h}}}
	file := "# apps\n\napp2:" + h + "\napp3:" + h + ":a@x.example, @y.example\n"
	users, err := s.AllUsers([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	want := []User{{Name: "app1", PasswordHash: h}, {Name: "app2", PasswordHash: h},
		{Name: "app3", PasswordHash: h, AllowedSenders: []string{"a@x.example", "@y.example"}}}
	if !reflect.DeepEqual(users, want) {
		t.Fatalf("got %+v", users)
	}
	bad := "app1:" + h + "\nbroken\napp4:plain\napp5:" + h + ":x\n"
	_, err = s.AllUsers([]byte(bad))
	wantErr := []string{
		`/etc/mtaq/users:1: name: duplicate user "app1"`,
		"/etc/mtaq/users:2: want name:bcrypt-hash[:sender,...]",
		"/etc/mtaq/users:3: password_hash: must be a bcrypt hash",
		`/etc/mtaq/users:4: allowed_senders[0]: "x" is neither`,
	}
	got := lines(err)
	if len(got) != len(wantErr) {
		t.Fatalf("got\n%s", err)
	}
	for i, w := range wantErr {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("line %d: %q, want prefix %q", i, got[i], w)
		}
	}
}
