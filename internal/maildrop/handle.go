package maildrop

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mtaq/mtaq/internal/fsperm"
)

// Dir is the daemon's handle on the maildrop. Other users write there, so
// any name may be a symlink, a hard link, a FIFO, or be replaced between
// two calls: every operation is relative to one directory descriptor,
// nothing is opened through a symlink, and what was opened is checked with
// fstat before it is trusted.
type Dir struct {
	path string
	fd   int
}

// Prepare is the daemon's start: no directory on the way to path may be
// replaceable by another user (fsperm.CheckAncestry), path is created if
// missing, must be a real directory belonging to this process's user (or
// to root when that is who runs), and gets DirMode.
func Prepare(path string) (*Dir, error) {
	if err := fsperm.CheckAncestry(path); err != nil {
		return nil, fmt.Errorf("maildrop: %w", err)
	}
	if err := os.Mkdir(path, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	d, err := Open(path)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(d.fd, &st); err != nil {
		d.Close()
		return nil, err
	}
	if euid := uint32(os.Geteuid()); st.Uid != euid {
		d.Close()
		return nil, fmt.Errorf("maildrop %s belongs to uid %d, but mtaq runs as uid %d: chown it or remove it", path, st.Uid, euid)
	}
	// DirMode in the kernel's bits: fs.FileMode keeps sticky and setgid
	// elsewhere.
	want := uint32(DirMode.Perm()) | unix.S_ISGID | unix.S_ISVTX
	if st.Mode&0o7777 != want {
		if err := unix.Fchmod(d.fd, want); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

// Open opens path as a Dir without any check but refusing a symlink.
func Open(path string) (*Dir, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return nil, fmt.Errorf("maildrop %s is not a directory (a symbolic link or a file)", path)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return &Dir{path: path, fd: fd}, nil
}

// Path is the directory's name, for messages.
func (d *Dir) Path() string { return d.path }

// FD is the directory descriptor, for *at calls of the caller's own.
func (d *Dir) FD() int { return d.fd }

// Close releases the handle.
func (d *Dir) Close() error { return unix.Close(d.fd) }

// Stamp is the directory's modification time: it changes whenever an
// entry is added, renamed or removed, so a scan can be skipped while it
// stays the same.
func (d *Dir) Stamp() (time.Time, error) {
	var st unix.Stat_t
	if err := unix.Fstat(d.fd, &st); err != nil {
		return time.Time{}, err
	}
	return time.Unix(st.Mtim.Unix()), nil
}

// Entry is a name waiting in the maildrop.
type Entry struct {
	Name string
	// Changed is the entry's ctime: set by the kernel at every write or
	// rename, so a user cannot date a file back or forward.
	Changed time.Time
}

// List returns the entries to import or refuse (everything but
// directories and temporary files), in name order, which is posting
// order; and the regular temporary files unchanged for longer than
// staleAfter (a sendmail that died before exiting 0: nobody was told
// "queued"). Names starting with a dot count as temporary too (editors,
// copy tools). A temporary name that is not a regular file is listed
// with the rest, so it is refused and moved away.
func (d *Dir) List(now time.Time, staleAfter time.Duration) (files, stale []Entry, err error) {
	rfd, err := unix.Openat(d.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, &fs.PathError{Op: "open", Path: d.path, Err: err}
	}
	f := os.NewFile(uintptr(rfd), d.path)
	defer f.Close()
	des, err := f.ReadDir(-1)
	if err != nil {
		return nil, nil, err
	}
	for _, de := range des {
		name := de.Name()
		switch {
		case de.IsDir():
			continue // corrupt/ of earlier versions; nobody's mail
		case (strings.HasPrefix(name, TempPrefix) || strings.HasPrefix(name, ".")) && de.Type().IsRegular():
			var st unix.Stat_t
			if unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
				continue // renamed or removed meanwhile
			}
			if ct := time.Unix(st.Ctim.Unix()); now.Sub(ct) > staleAfter {
				stale = append(stale, Entry{Name: name, Changed: ct})
			}
		default:
			files = append(files, Entry{Name: name})
		}
	}
	slices.SortFunc(files, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return files, stale, nil
}

// OpenFile opens name for reading without following a symlink, without
// blocking on a FIFO and without becoming its controlling terminal, and
// returns it with its fstat. A symlink gives unix.ELOOP, a socket ENXIO.
func (d *Dir) OpenFile(name string) (*os.File, *unix.Stat_t, error) {
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, nil, err
	}
	return os.NewFile(uintptr(fd), name), &st, nil
}

// ErrReplaced: the name no longer refers to the file that was read.
var ErrReplaced = errors.New("maildrop: file replaced since it was opened")

// RemoveIfSame removes name if it still is the file st describes, so a
// file its owner put in place of one being imported is kept for the next
// scan instead of being deleted unread.
func (d *Dir) RemoveIfSame(name string, st *unix.Stat_t) error {
	var now unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &now, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	if now.Dev != st.Dev || now.Ino != st.Ino {
		return ErrReplaced
	}
	return d.Remove(name)
}

// Remove unlinks name (never what a symlink points to).
func (d *Dir) Remove(name string) error {
	if err := unix.Unlinkat(d.fd, name, 0); err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	return nil
}

// MoveTo renames name into the directory toFD as newName, never replacing
// an existing file there. Across file systems it fails with unix.EXDEV.
func (d *Dir) MoveTo(name string, toFD int, newName string) error {
	err := unix.Renameat2(d.fd, name, toFD, newName, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		if err = unix.Linkat(d.fd, name, toFD, newName, 0); err == nil {
			err = unix.Unlinkat(d.fd, name, 0)
		}
	}
	if err != nil {
		return &fs.PathError{Op: "rename", Path: name, Err: err}
	}
	return nil
}

// Sync makes the directory's entries durable.
func (d *Dir) Sync() error { return unix.Fsync(d.fd) }

// List is Dir.List on a path, for readers that only count (mailq).
func List(dir string, now time.Time, staleAfter time.Duration) (files, stale []Entry, err error) {
	d, err := Open(dir)
	if err != nil {
		return nil, nil, err
	}
	defer d.Close()
	return d.List(now, staleAfter)
}
