package conf

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
)

// CheckFiles reads every file the configuration names and reports what
// `serve` would refuse to start with: a TLS certificate or key that cannot
// be read, does not parse or does not match; a users file that cannot be
// read or has a bad line; a DKIM key that cannot be read or used; a
// password or token file that cannot be read.
// Problems name path (the configuration file, "" for the defaults), the
// line of the key and the key, like Load's. Only `serve` and `config
// check` call it: a sendmail run by another user may not read these.
func CheckFiles(path string, c Config) error {
	var probs []*Problem
	add := func(key, format string, a ...any) {
		probs = append(probs, &Problem{Key: key, Msg: fmt.Sprintf(format, a...)})
	}
	s := c.Submission
	if s.TLSCert != "" && s.TLSKey != "" {
		cert, errC := os.ReadFile(s.TLSCert)
		key, errK := os.ReadFile(s.TLSKey)
		switch {
		case errC != nil:
			add("submission.tls_cert", "cannot read %v", errC)
		case errK != nil:
			add("submission.tls_key", "cannot read %v", errK)
		default:
			if _, err := tls.X509KeyPair(cert, key); err != nil {
				add("submission.tls_key", "%s and %s are not a matching certificate and key: %v", s.TLSCert, s.TLSKey, err)
			}
		}
	}
	if h := c.HTTP; h.TLSCert != "" && h.TLSKey != "" {
		if _, err := tls.LoadX509KeyPair(h.TLSCert, h.TLSKey); err != nil {
			add("http.tls_key", "%s and %s: %v", h.TLSCert, h.TLSKey, err)
		}
	}
	if s.UsersFile != "" {
		data, err := os.ReadFile(s.UsersFile)
		if err != nil {
			add("submission.users_file", "cannot read %v", err)
		} else if _, err := s.AllUsers(data); err != nil {
			var each interface{ Unwrap() []error }
			if errors.As(err, &each) {
				for _, e := range each.Unwrap() {
					var p *Problem
					if errors.As(e, &p) {
						probs = append(probs, p) // names the users file and its line
						continue
					}
					add("submission.users_file", "%v", e)
				}
			} else {
				add("submission.users_file", "%v", err)
			}
		}
	}
	for i, d := range c.DKIM {
		if d.KeyFile == "" {
			continue
		}
		if _, err := LoadDKIMKey(d.KeyFile); err != nil {
			add(fmt.Sprintf("dkim[%d].key_file", i), "%s: %v", d.KeyFile, err)
		}
	}
	if f := c.Bounce.SecretFile; f != "" {
		if _, err := ReadBounceSecret(f); err != nil {
			add("bounce.secret_file", "%v", err)
		}
	}
	for _, f := range [][2]string{
		{"delivery.relay_password_file", c.Delivery.RelayPasswordFile},
		{"admin.token_file", c.Admin.TokenFile},
		{"cluster.postgres_file", clusterFile(c.Cluster)},
	} {
		key, name := f[0], f[1]
		if name == "" {
			continue
		}
		if data, err := os.ReadFile(name); err != nil {
			add(key, "cannot read %v", err)
		} else if strings.TrimSpace(string(data)) == "" {
			add(key, "%s is empty", name)
		}
	}
	if len(probs) == 0 {
		return nil
	}
	var data []byte
	if path != "" {
		data, _ = os.ReadFile(path)
	}
	return report(path, buildIndex(data), probs)
}

func clusterFile(c *Cluster) string {
	if c == nil {
		return ""
	}
	return c.PostgresFile
}
