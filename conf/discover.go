package conf

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// SystemPath is where mtaq looks for its configuration when neither a flag
// nor $MTAQ_CONFIG names one.
const SystemPath = "/etc/mtaq/mtaq.toml"

// EnvVar names the configuration file for every mtaq entry point.
const EnvVar = "MTAQ_CONFIG"

// Discover finds and loads the configuration: flag if set, else
// $MTAQ_CONFIG, else SystemPath if it exists, else the built-in defaults
// (with the OS hostname). It returns the path it used ("" for defaults).
// The sendmail and mailq entry points pass flag "".
func Discover(flag string) (Config, string, error) {
	for _, p := range []string{flag, os.Getenv(EnvVar)} {
		if p != "" {
			c, err := Load(p)
			return c, p, err
		}
	}
	if _, err := os.Stat(SystemPath); err == nil {
		c, err := Load(SystemPath)
		return c, SystemPath, err
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Config{}, SystemPath, err
	}
	c := Defaults()
	if err := c.FillHostname(); err != nil {
		return c, "", err
	}
	return c, "", Validate(c)
}

// AdminSocketPath is the admin API's unix socket, inside data_dir.
func (c Config) AdminSocketPath() string { return filepath.Join(c.DataDir, "admin.sock") }

// MaildropPath is where sendmail leaves mail for the daemon to pick up:
// sendmail.maildrop if set, else data_dir/maildrop.
func (c Config) MaildropPath() string {
	if c.Sendmail.Maildrop != "" {
		return c.Sendmail.Maildrop
	}
	return filepath.Join(c.DataDir, "maildrop")
}
