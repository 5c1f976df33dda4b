package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtaq/mtaq/conf"
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
