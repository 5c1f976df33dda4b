package daemon

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/unprivtest"
)

// An existing data_dir of mode 0755 (a plain mkdir, systemd's
// StateDirectory) let every local user read message bodies out of
// Pebble's files (0644 under the usual umask) and reach the default
// maildrop. The daemon now makes it 0750, its files 0640 at most, and
// Pebble's new files 0640 whatever the umask.
func TestDataDirNotReadableByOthers(t *testing.T) {
	u := unprivtest.Get(t)
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(data, 0o755) // whatever the umask
	leftover := filepath.Join(data, "notes.txt")
	os.WriteFile(leftover, []byte("old"), 0o666)
	os.Chmod(leftover, 0o666)
	unprivtest.Traversable(t, filepath.Dir(data))
	n := newInternet(t, func(c *conf.Config) { c.DataDir = data })
	n.mx("dest.test", 10, "mx.dest.test", "127.0.0.2")
	id := n.send("app@sender.test", "user@dest.test")

	var loose []string
	filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == filepath.Join(data, "maildrop") && d.IsDir() {
			if d != nil && d.IsDir() && p != data {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Mode()&fs.ModeSocket != 0 {
			return nil
		}
		if info.Mode().Perm()&0o027 != 0 {
			loose = append(loose, p+" "+info.Mode().String())
		}
		return nil
	})
	if len(loose) > 0 {
		t.Fatalf("readable or writable by others:\n%s", strings.Join(loose, "\n"))
	}
	if info, _ := os.Stat(data); info.Mode().Perm() != 0o750 {
		t.Fatalf("data_dir mode %v, want 0750", info.Mode())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The other user is stopped at data_dir's door: grep says so (exit 2),
	// not merely "no match" (exit 1, which a readable but compressed file
	// would also give).
	out, err := u.Shell(ctx, "grep -rl "+id+" "+data)
	if err == nil || !strings.Contains(out, data+": Permission denied") {
		t.Fatalf("%s read data_dir: %v\n%s", u.Name, err, out)
	}
	if out, err := u.Shell(ctx, "printf x > "+filepath.Join(data, "maildrop", "x")); err == nil {
		t.Fatalf("%s wrote into the default maildrop: %s", u.Name, out)
	}
}

// A data_dir or maildrop that another user could replace is refused at
// start, with the directory named.
func TestUnsafeDirectoriesRefused(t *testing.T) {
	u := unprivtest.Get(t)
	base := t.TempDir()
	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	sticky := filepath.Join(base, "sticky")
	os.Mkdir(sticky, 0o777)
	os.Chmod(sticky, 0o777|os.ModeSticky)
	unprivtest.Traversable(t, sticky)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := u.Shell(ctx, "mkdir -m 3733 "+filepath.Join(sticky, "maildrop")); err != nil {
		t.Fatal(err, out)
	}
	safe := filepath.Join(base, "safe")
	os.Mkdir(safe, 0o755)
	os.Symlink(open, filepath.Join(safe, "link"))

	for _, tc := range []struct {
		name, dataDir, maildrop, want string
	}{
		{"data_dir in a directory all may write", filepath.Join(open, "data"), "", open + " is writable by every user"},
		{"maildrop in a directory all may write", filepath.Join(safe, "d1"), filepath.Join(open, "maildrop"), open + " is writable by every user"},
		{"maildrop through a symlink to one", filepath.Join(safe, "d2"), filepath.Join(safe, "link", "maildrop"), "is writable by every user"},
		{"maildrop another user made in /tmp", filepath.Join(safe, "d3"), filepath.Join(sticky, "maildrop"), "belongs to uid"},
		{"maildrop that is a symlink", filepath.Join(safe, "d4"), filepath.Join(safe, "link"), "not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := conf.Defaults()
			c.Hostname, c.DataDir, c.Sendmail.Maildrop = "mtaq.test", tc.dataDir, tc.maildrop
			c.Submission.Listen = []string{"127.0.0.1:0"}
			d, err := Start(Options{Config: c})
			if err == nil {
				stopDaemon(t, d)
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to say %q", err, tc.want)
			}
			t.Log(err)
		})
	}
	// The other user's maildrop is left as it was.
	var st syscall.Stat_t
	syscall.Stat(filepath.Join(sticky, "maildrop"), &st)
	if st.Uid != u.UID {
		t.Fatalf("maildrop now belongs to %d", st.Uid)
	}
}
