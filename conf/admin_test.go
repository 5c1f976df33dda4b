package conf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAdminKeys(t *testing.T) {
	t.Parallel()
	c, err := Parse("mtaq.toml", []byte(`hostname = "mta.example.com"
[admin]
group = "mtaq"
listen = "127.0.0.1:8025"
token = "0123456789abcdef"
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Admin.Group != "mtaq" || c.Admin.Listen != "127.0.0.1:8025" {
		t.Fatalf("got %+v", c.Admin)
	}
	if tok, err := c.Admin.AdminToken(); err != nil || tok != "0123456789abcdef" {
		t.Fatalf("token %q, %v", tok, err)
	}
	if d := Defaults().Admin; d != (Admin{}) {
		t.Fatalf("defaults %+v: unix socket only", d)
	}
}

func TestAdminTCPNeedsToken(t *testing.T) {
	t.Parallel()
	_, err := Parse("mtaq.toml", []byte(`hostname = "mta.example.com"
[admin]
listen = "127.0.0.1:8025"
`))
	if err == nil || !strings.Contains(err.Error(), "mtaq.toml:3: admin.listen: TCP needs admin.token or admin.token_file") {
		t.Fatalf("error %v", err)
	}
	_, err = Parse("mtaq.toml", []byte(`hostname = "mta.example.com"
[admin]
listen = "nope"
token = "short"
token_file = "/x"
`))
	for _, want := range []string{"mtaq.toml:3: admin.listen", "mtaq.toml:4: admin.token: set admin.token or admin.token_file", "mtaq.toml:4: admin.token: must be at least 16"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
}

func TestAdminTokenFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte("fedcba9876543210fedcba\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := Admin{Listen: "127.0.0.1:0", TokenFile: p}.AdminToken()
	if err != nil || tok != "fedcba9876543210fedcba" {
		t.Fatalf("token %q, %v", tok, err)
	}
	if _, err := (Admin{TokenFile: p + ".missing"}).AdminToken(); err == nil {
		t.Fatal("missing token file accepted")
	}
}
