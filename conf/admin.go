package conf

import (
	"fmt"
	"os"
	"strings"
)

// Admin configures the admin API. It always listens on a unix socket inside
// data_dir (AdminSocketPath); TCP is optional and needs a bearer token.
type Admin struct {
	// Group, when set, makes the socket mode 0660 owned by this group so its
	// members can run the CLI; otherwise the socket is 0600 (owner only).
	Group string `toml:"group"`
	// Listen, e.g. "127.0.0.1:8025", also serves the API on TCP.
	Listen string `toml:"listen"`
	// Token is the bearer token TCP clients send; TokenFile names a file
	// holding it (read when the daemon starts), so it can stay out of the
	// config. One of them is required with Listen.
	Token     string `toml:"token"`
	TokenFile string `toml:"token_file"`
}

// minTokenLen refuses tokens short enough to guess.
const minTokenLen = 16

func validateAdmin(k *checker, a Admin) {
	if a.Listen != "" {
		if err := checkListen(a.Listen); err != nil {
			k.add("admin.listen", "%v", err)
		}
		if a.Token == "" && a.TokenFile == "" {
			k.add("admin.listen", "TCP needs admin.token or admin.token_file")
		}
	}
	if a.Token != "" && a.TokenFile != "" {
		k.add("admin.token", "set admin.token or admin.token_file, not both")
	}
	if a.Token != "" && len(a.Token) < minTokenLen {
		k.add("admin.token", "must be at least %d characters", minTokenLen)
	}
	if strings.ContainsAny(a.Group, " \t:/") {
		k.add("admin.group", "%q is not a group name", a.Group)
	}
}

// AdminToken returns the bearer token for TCP clients: admin.token, or the
// trimmed content of admin.token_file. Called by the daemon and by CLI
// clients that talk TCP, not by Load (conf reads only the config file).
func (a Admin) AdminToken() (string, error) {
	if a.TokenFile == "" {
		return a.Token, nil
	}
	b, err := os.ReadFile(a.TokenFile)
	if err != nil {
		return "", fmt.Errorf("admin.token_file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if len(t) < minTokenLen {
		return "", fmt.Errorf("admin.token_file %s: token must be at least %d characters", a.TokenFile, minTokenLen)
	}
	return t, nil
}
