package conf

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDiscoverOrder(t *testing.T) {
	dir := t.TempDir()
	flagFile := filepath.Join(dir, "flag.toml")
	envFile := filepath.Join(dir, "env.toml")
	os.WriteFile(flagFile, []byte("hostname = \"flag.example\"\n"), 0o600)
	os.WriteFile(envFile, []byte("hostname = \"env.example\"\n"), 0o600)
	t.Setenv(EnvVar, envFile)
	if c, p, err := Discover(flagFile); err != nil || p != flagFile || c.Hostname != "flag.example" {
		t.Fatalf("flag: %v %q %q", err, p, c.Hostname)
	}
	if c, p, err := Discover(""); err != nil || p != envFile || c.Hostname != "env.example" {
		t.Fatalf("env: %v %q %q", err, p, c.Hostname)
	}
	t.Setenv(EnvVar, filepath.Join(dir, "missing.toml"))
	if _, _, err := Discover(""); err == nil {
		t.Fatal("a missing $MTAQ_CONFIG file must be an error, not the defaults")
	}
}
