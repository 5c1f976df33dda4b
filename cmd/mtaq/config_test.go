package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/smtptest"
)

// TestServeDefaultsAreValid: `mtaq serve` with no file must start on the
// built-in defaults (README's first command).
func TestServeDefaultsAreValid(t *testing.T) {
	t.Setenv("MTAQ_CONFIG", "")
	c, _, err := conf.Discover("")
	if err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if c.Hostname == "" || c.DataDir != "./mtaq-data" || c.Submission.Listen[0] != "127.0.0.1:2525" {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(good, []byte("hostname = \"mta.example.com\"\n[delivery]\nworkers = 5\n"), 0o600)
	os.WriteFile(bad, []byte("hostname = \"mta.example.com\"\n[delivery]\nworkerz = 5\n[retry]\nfirst = \"5x\"\n"), 0o600)

	root := rootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"config", "check", good})
	if err := root.Execute(); err != nil || !strings.Contains(out.String(), "ok") {
		t.Fatalf("good file: %v %q", err, out.String())
	}
	root = rootCmd()
	root.SetArgs([]string{"config", "check", bad})
	err := root.Execute()
	if err == nil {
		t.Fatal("bad file accepted")
	}
	for _, want := range []string{"bad.toml:3: delivery.workerz", "bad.toml:5: retry.first"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

// `mtaq config check` reads the files the configuration names, as serve
// would at start: each problem is FILE:LINE: KEY and the exit is 78.
func TestConfigCheckReadsNamedFiles(t *testing.T) {
	dir := t.TempDir()
	cert, key := smtptest.SelfSigned(t, "a.test").WriteFiles(t, dir)
	other := filepath.Join(dir, "other")
	os.Mkdir(other, 0o700)
	_, otherKey := smtptest.SelfSigned(t, "b.test").WriteFiles(t, other)
	users := filepath.Join(dir, "users")
	os.WriteFile(users, []byte("# users\nnot a user line\n"), 0o600)
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	okFile := write("ok.toml", fmt.Sprintf("hostname = \"mta.example.com\"\n[submission]\nsmtps_listen = [\"127.0.0.1:0\"]\ntls_cert = %q\ntls_key = %q\n", cert, key))
	badFile := write("bad.toml", fmt.Sprintf("hostname = \"mta.example.com\"\n[submission]\nsmtps_listen = [\"127.0.0.1:0\"]\n"+
		"tls_cert = %q\ntls_key = %q\nusers_file = %q\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = %q\n",
		cert, otherKey, users, filepath.Join(dir, "missing-token")))
	if _, stderr, code := runCLI(nil, "config", "check", okFile); code != 0 {
		t.Fatalf("good files: exit %d %s", code, stderr)
	}
	_, stderr, code := runCLI(nil, "config", "check", badFile)
	if code != exitConfig {
		t.Fatalf("exit %d, want %d: %s", code, exitConfig, stderr)
	}
	for _, want := range []string{
		"bad.toml:5: submission.tls_key: ", "are not a matching certificate and key",
		users + ":2: want name:bcrypt-hash",
		"bad.toml:9: admin.token_file: cannot read",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("output does not say %q:\n%s", want, stderr)
		}
	}
	// serve refuses the same file the same way, before opening anything.
	if _, stderr, code := runCLI(nil, "serve", "--config", badFile); code != exitConfig || !strings.Contains(stderr, "bad.toml:5: submission.tls_key: ") {
		t.Fatalf("serve: exit %d, want %d: %s", code, exitConfig, stderr)
	}
}
