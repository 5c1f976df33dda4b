// Package unprivtest runs the client side of a test as a real unprivileged
// user. CI runs as root, and root ignores file modes: a sendmail that cannot
// fsync its maildrop, or a data directory any user can read, only shows when
// the client is someone else. It owns the test user's lookup and the
// commands started with its credentials; it does not create the user
// (.ci/run does: useradd mtaqtest).
package unprivtest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Name is the account .ci/run creates for these tests.
const Name = "mtaqtest"

// User is the unprivileged account.
type User struct {
	Name     string
	UID, GID uint32
}

// Get returns the test user. Without root (nobody to switch from) or
// without the account it skips, unless MTAQ_E2E_TOOLS=require (CI), where
// a missing account fails the test instead of hiding it.
func Get(t testing.TB) User {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	u, err := user.Lookup(Name)
	if err != nil {
		if os.Getenv("MTAQ_E2E_TOOLS") == "require" {
			t.Fatalf("user %s is missing (create it: useradd --system %s): %v", Name, Name, err)
		}
		t.Skipf("no user %s: %v", Name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	return User{Name: Name, UID: uint32(uid), GID: uint32(gid)}
}

// Command is exec.CommandContext run as u, with no supplementary groups,
// killed if the test process dies.
func (u User) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: u.UID, Gid: u.GID, NoSetGroups: true},
		Pdeathsig:  syscall.SIGKILL,
	}
	cmd.Env = append(os.Environ(), "HOME=/", "USER="+u.Name, "LOGNAME="+u.Name)
	return cmd
}

// Shell runs script with /bin/sh as u and returns its combined output.
func (u User) Shell(ctx context.Context, script string) (string, error) {
	out, err := u.Command(ctx, "/bin/sh", "-c", script).CombinedOutput()
	return string(out), err
}

// Traversable lets every user search (not list) path's directories up
// from path to the test's temporary root, so an unprivileged client can
// reach a file there: t.TempDir and os.MkdirTemp make 0700 directories.
func Traversable(t testing.TB, path string) {
	t.Helper()
	root := filepath.Clean(os.TempDir())
	for p := filepath.Clean(path); strings.HasPrefix(p, root+"/"); p = filepath.Dir(p) {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if info.IsDir() && info.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(p, info.Mode().Perm()|0o011); err != nil {
				t.Fatal(err)
			}
		}
	}
}
