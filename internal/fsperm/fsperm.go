// Package fsperm keeps other local users out of mtaq's own files: it
// checks that no directory on the way to data_dir or the maildrop can be
// rewritten by another user, and tightens data_dir to 0750 with files of
// 0640 at most. It owns those checks and the tightening; it does not
// create the maildrop (internal/maildrop) nor choose the files Pebble
// writes (queue).
package fsperm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// DirMode and FileMode are the most that data_dir and what it holds may
// allow: the daemon's group may read (a backup or monitoring account),
// nobody else anything.
const (
	DirMode  fs.FileMode = 0o750
	FileMode fs.FileMode = 0o640
)

// CheckAncestry returns an error when another user could replace path or
// any directory leading to it: a directory writable by others lets them
// rename the next component away and put a symlink of theirs in its place.
// A sticky directory (like /tmp) is safe only for a next component owned
// by root or by this process, since then nobody else can rename it. Both
// the path as written and the path with symlinks resolved are checked.
// path itself need not exist yet.
func CheckAncestry(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if err := checkChain(abs); err != nil {
		return err
	}
	parent, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return err
	}
	return checkChain(filepath.Join(parent, filepath.Base(abs)))
}

// checkChain walks from / down to abs, checking each directory against
// the component below it.
func checkChain(abs string) error {
	euid := uint32(os.Geteuid())
	dir := "/"
	for _, next := range strings.Split(abs, "/") {
		if next == "" || next == "." {
			continue
		}
		child := filepath.Join(dir, next)
		info, err := os.Stat(dir)
		if err != nil {
			return err
		}
		if info.Mode().Perm()&0o002 != 0 {
			if info.Mode()&fs.ModeSticky == 0 {
				return fmt.Errorf("%s is writable by every user (mode %04o): anyone could replace %s; make it 0755 or choose another path",
					dir, info.Mode().Perm(), child)
			}
			if cinfo, err := os.Lstat(child); err == nil {
				if uid := cinfo.Sys().(*syscall.Stat_t).Uid; uid != 0 && uid != euid {
					return fmt.Errorf("%s is in the shared directory %s but belongs to uid %d, not to mtaq's uid %d",
						child, dir, uid, euid)
				}
			}
		}
		dir = child
	}
	return nil
}

// ErrNotOwned is a directory that belongs to another user.
var ErrNotOwned = errors.New("belongs to another user")

// SecureDataDir creates dir (0750) or checks that it is a directory of
// this process's user (or root's), after CheckAncestry, then tightens it
// and everything under it to DirMode and FileMode, leaving out skip (the
// maildrop, which has its own mode) and sockets. It returns how many modes
// it changed, for the log.
func SecureDataDir(dir string, skip ...string) (changed int, err error) {
	if err := CheckAncestry(dir); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return 0, err
	}
	info, err := os.Stat(dir)
	if err != nil {
		return 0, err
	}
	if !info.IsDir() {
		return 0, fmt.Errorf("%s is not a directory", dir)
	}
	st := info.Sys().(*syscall.Stat_t)
	if euid := uint32(os.Geteuid()); st.Uid != euid && st.Uid != 0 {
		return 0, fmt.Errorf("%s %w (uid %d), not to mtaq's uid %d", dir, ErrNotOwned, st.Uid, euid)
	}
	skipped := map[string]bool{}
	for _, s := range skip {
		if a, err := filepath.Abs(s); err == nil {
			skipped[a] = true
		}
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return 0, err
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile
			}
			return err
		}
		if skipped[p] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		var most fs.FileMode
		switch {
		case d.IsDir():
			most = DirMode
		case d.Type().IsRegular():
			most = FileMode
		default:
			return nil // sockets, symlinks (chmod would follow them)
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if m := info.Mode().Perm(); m&^most != 0 {
			if err := os.Chmod(p, m&most); err != nil {
				return err
			}
			changed++
		}
		return nil
	})
	return changed, err
}
