package bounce

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/queue"
)

var key = []byte("0123456789abcdef0123456789abcdef")

func TestReturnPathChoosesTheDomain(t *testing.T) {
	rp := NewReturnPath(Domains{BySender: map[string]string{"Example.com": "bounce.example.com",
		"eu.example.com": "b.eu.example.com"}}, key)
	id := queue.NewID(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	for _, c := range []struct {
		sender, from, want string
	}{
		{"app@example.com", "", "bounce.example.com"},
		{"app@mail.example.com", "", "bounce.example.com"},                  // a parent is listed
		{"app@shop.eu.example.com", "", "b.eu.example.com"},                 // the most specific one wins
		{"app@relay.test", "News <news@example.com>", "bounce.example.com"}, // the From domain is listed
		{"app@other.test", "x@other.test", ""},                              // not listed, no default: kept
		{"", "x@example.com", ""},                                           // the null sender stays null
	} {
		m := &queue.Message{ID: id, Sender: c.sender, From: c.from}
		got := rp.Sender(m)
		if c.want == "" {
			if got != c.sender {
				t.Errorf("%q/%q: %q, want the sender kept", c.sender, c.from, got)
			}
			continue
		}
		local, dom, _ := strings.Cut(got, "@")
		if dom != c.want {
			t.Errorf("%q/%q: %q, want a token at %s", c.sender, c.from, got, c.want)
		}
		if gotID, ok := rp.Token(local); !ok || gotID != id {
			t.Errorf("%q: token names %q (%v), want %s", got, gotID, ok, id)
		}
	}
	def := NewReturnPath(Domains{Default: "Bounces.Mtaq.Example"}, key)
	if got := def.Sender(&queue.Message{ID: id, Sender: "a@anything.test"}); !strings.HasSuffix(got, "@bounces.mtaq.example") {
		t.Errorf("default: %q", got)
	}
	if other := NewReturnPath(Domains{Default: "x.test"}, []byte("another key, another secret....")); func() bool {
		local, _, _ := strings.Cut(def.Sender(&queue.Message{ID: id, Sender: "a@b.test"}), "@")
		_, ok := other.Token(local)
		return ok
	}() {
		t.Error("a token made under one secret checks under another")
	}
}

func TestDataDirSecretIsMadeOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	k1, err := DataDirSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, SecretName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v, %v; want mode 0600", fi, err)
	}
	k2, err := DataDirSecret(dir)
	if err != nil || string(k1) != string(k2) {
		t.Fatalf("second load: %q (%v), want the same key: tokens on mail already sent name it", k2, err)
	}
	if err := os.WriteFile(filepath.Join(dir, SecretName), []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := DataDirSecret(dir); err == nil || !strings.Contains(err.Error(), "too few") {
		t.Fatalf("a short secret: %v, want refused", err)
	}
}
