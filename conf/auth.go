package conf

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// User is one account that may AUTH on the TLS listeners, from a
// [[submission.user]] table or a line of submission.users_file.
type User struct {
	Name string `toml:"name"`
	// PasswordHash is bcrypt ($2a$, $2b$ or $2y$), as `mtaq passwd` prints.
	PasswordHash string `toml:"password_hash"`
	// AllowedSenders limits MAIL FROM: an address, or "@domain" for every
	// address at that domain. Empty allows any sender.
	AllowedSenders []string `toml:"allowed_senders"`
	// DSN = false sends this user's mail no bounce messages (the app
	// follows webhooks instead); unset follows dsn.enabled.
	DSN *bool `toml:"dsn"`
	// APIKeys authenticate this user on the HTTP API ([http]): each is
	// "sha256:" and the key's SHA-256 in hex (`mtaq passwd --api-key`).
	// A user with keys and no PasswordHash cannot AUTH on SMTP.
	APIKeys []string `toml:"api_keys"`
	// APIScopes are what its keys may do: send, read, admin; unset means
	// ["send"] (Scopes).
	APIScopes []string `toml:"api_scopes"`
}

// validateAuth checks the TLS listeners, the AUTH limits and the users of
// the config file. The users file is checked by AllUsers, when it is read.
func validateAuth(k *checker, s Submission) {
	for _, l := range []struct {
		key   string
		addrs []string
	}{{"submission.submission_listen", s.SubmissionListen}, {"submission.smtps_listen", s.SMTPSListen}} {
		for i, a := range l.addrs {
			if err := checkListen(a); err != nil {
				k.add(fmt.Sprintf("%s[%d]", l.key, i), "%v", err)
			}
		}
	}
	tlsListeners := len(s.SubmissionListen)+len(s.SMTPSListen) > 0
	if tlsListeners && strings.TrimSpace(s.TLSCert) == "" {
		k.add("submission.tls_cert", "must be set: submission_listen and smtps_listen use TLS")
	}
	if tlsListeners && strings.TrimSpace(s.TLSKey) == "" {
		k.add("submission.tls_key", "must be set: submission_listen and smtps_listen use TLS")
	}
	smtpUsers := s.UsersFile != ""
	for _, u := range s.Users {
		smtpUsers = smtpUsers || u.PasswordHash != ""
	}
	if !tlsListeners && smtpUsers {
		k.add("submission.user", "users need submission_listen or smtps_listen: AUTH is offered only under TLS")
	}
	k.atLeast("submission.auth_max_failures", int64(s.AuthMaxFailures), 1)
	k.atLeast("submission.auth_ip_failures", int64(s.AuthIPFailures), 1)
	if s.AuthIPWindow.Duration <= 0 {
		k.add("submission.auth_ip_window", "must be positive, got %v", s.AuthIPWindow.Duration)
	}
	seen := map[string]bool{}
	for i, u := range s.Users {
		prefix := fmt.Sprintf("submission.user[%d]", i)
		for _, p := range checkUser(u) {
			k.add(join(prefix, p.key), "%s", p.msg)
		}
		if seen[u.Name] {
			k.add(prefix+".name", "duplicate user %q", u.Name)
		}
		seen[u.Name] = true
	}
}

// fieldProblem is a problem with one field of a User; key is relative.
type fieldProblem struct{ key, msg string }

func checkUser(u User) []fieldProblem {
	var out []fieldProblem
	if u.Name == "" || strings.ContainsFunc(u.Name, func(r rune) bool { return r <= ' ' || r == ':' || r == 0x7f }) {
		out = append(out, fieldProblem{"name", fmt.Sprintf("%q: must be non-empty, without spaces, control characters or ':'", u.Name)})
	}
	// A user with API keys only needs no password: it cannot AUTH.
	if u.PasswordHash != "" || len(u.APIKeys) == 0 {
		if err := checkBcrypt(u.PasswordHash); err != nil {
			out = append(out, fieldProblem{"password_hash", err.Error()})
		}
	}
	for i, key := range u.APIKeys {
		if err := checkAPIKey(key); err != nil {
			out = append(out, fieldProblem{fmt.Sprintf("api_keys[%d]", i), err.Error()})
		}
	}
	for i, sc := range u.APIScopes {
		if err := checkScope(sc); err != nil {
			out = append(out, fieldProblem{fmt.Sprintf("api_scopes[%d]", i), err.Error()})
		}
	}
	for i, s := range u.AllowedSenders {
		if !validSenderPattern(s) {
			out = append(out, fieldProblem{fmt.Sprintf("allowed_senders[%d]", i),
				fmt.Sprintf("%q is neither local@domain nor @domain", s)})
		}
	}
	return out
}

// checkBcrypt accepts the bcrypt variants that agree with each other;
// $2x$ (PHP's old buggy variant) would verify differently, so it is refused.
func checkBcrypt(h string) error {
	if !strings.HasPrefix(h, "$2a$") && !strings.HasPrefix(h, "$2b$") && !strings.HasPrefix(h, "$2y$") {
		return errors.New("must be a bcrypt hash starting $2a$, $2b$ or $2y$ (make one with `mtaq passwd`)")
	}
	if len(h) != 60 {
		return fmt.Errorf("a bcrypt hash is 60 characters, got %d", len(h))
	}
	if _, err := bcrypt.Cost([]byte(h)); err != nil {
		return fmt.Errorf("not a valid bcrypt hash: %s", strings.TrimPrefix(err.Error(), "crypto/bcrypt: "))
	}
	return nil
}

// validSenderPattern accepts "@domain" or "local@domain". The local part is
// only checked for being printable: submission checks MAIL FROM itself.
func validSenderPattern(s string) bool {
	i := strings.LastIndexByte(s, '@')
	if i < 0 || !isHostname(s[i+1:]) {
		return false
	}
	return !strings.ContainsFunc(s[:i], func(r rune) bool { return r <= ' ' || r == 0x7f })
}

// AllUsers returns the users of the config file followed by those of the
// users file, whose content the caller read (conf reads no other files).
// Each line of that file is "name:bcrypt-hash[:sender,sender...]"; blank
// lines and lines starting with # are skipped. Problems name the users
// file and its line; a name may appear only once across both sources.
func (s Submission) AllUsers(fileData []byte) ([]User, error) {
	users := append([]User(nil), s.Users...)
	seen := map[string]bool{}
	for _, u := range users {
		seen[u.Name] = true
	}
	var errs []error
	for n, line := range bytes.Split(fileData, []byte("\n")) {
		text := strings.TrimSpace(string(line))
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		bad := func(key, msg string) {
			errs = append(errs, &Problem{File: s.UsersFile, Line: n + 1, Key: key, Msg: msg})
		}
		u, ok := parseUserLine(text)
		if !ok {
			bad("", "want name:bcrypt-hash[:sender,...]")
			continue
		}
		for _, p := range checkUser(u) {
			bad(p.key, p.msg)
		}
		if seen[u.Name] {
			bad("name", fmt.Sprintf("duplicate user %q", u.Name))
		}
		seen[u.Name] = true
		users = append(users, u)
	}
	return users, errors.Join(errs...)
}

func parseUserLine(line string) (User, bool) {
	parts := strings.Split(line, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return User{}, false
	}
	u := User{Name: parts[0], PasswordHash: parts[1]}
	if len(parts) == 3 && parts[2] != "" {
		for _, s := range strings.Split(parts[2], ",") {
			u.AllowedSenders = append(u.AllowedSenders, strings.TrimSpace(s))
		}
	}
	return u, true
}
