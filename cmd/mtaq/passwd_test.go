package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/mtaq/mtaq/conf"
)

func TestPasswd(t *testing.T) {
	root := rootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetIn(strings.NewReader("s3cret pass\r\nignored\n"))
	root.SetArgs([]string{"passwd", "--cost", "4"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	h := strings.TrimSpace(out.String())
	if err := bcrypt.CompareHashAndPassword([]byte(h), []byte("s3cret pass")); err != nil || !strings.HasPrefix(h, "$2a$04$") {
		t.Fatalf("hash %q: %v", h, err)
	}
	for _, in := range []string{"", "\n", strings.Repeat("x", 73)} {
		root = rootCmd()
		root.SetOut(&out)
		root.SetIn(strings.NewReader(in))
		root.SetArgs([]string{"passwd", "--cost", "4"})
		if err := root.Execute(); err == nil {
			t.Errorf("password %q accepted", in)
		}
	}
}

func TestPasswdAPIKey(t *testing.T) {
	seen := map[string]bool{}
	for range 2 {
		root := rootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs([]string{"passwd", "--api-key"})
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "API key (shown once): mtaq_") {
			t.Fatalf("output %q", out.String())
		}
		key := strings.TrimPrefix(lines[0], "API key (shown once): ")
		sum := sha256.Sum256([]byte(key))
		if want := `api_keys = ["sha256:` + hex.EncodeToString(sum[:]) + `"]`; lines[1] != want {
			t.Errorf("line %q, want %q", lines[1], want)
		}
		// The line parses as the config takes it.
		c, err := conf.Parse("k.toml", []byte("hostname = \"h.example\"\n[[submission.user]]\nname = \"app\"\n"+lines[1]+"\n"))
		if err != nil || c.Submission.Users[0].APIKeys[0] == "" {
			t.Fatalf("pasted line refused: %v", err)
		}
		if seen[key] || len(key) < 40 {
			t.Fatalf("key %q repeated or short", key)
		}
		seen[key] = true
	}
}
