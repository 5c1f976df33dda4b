package pickup

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/mtaq/mtaq/internal/maildrop"
)

// quarantine is the daemon-only directory (0700, under data_dir) where
// refused maildrop files are kept for the operator until the retention.
// Names start with the quarantine time, so age is never taken from
// timestamps a user could set.
type quarantine struct {
	path      string
	fd        int
	failed    map[string]bool // names whose move failed: logged once
	lastPurge time.Time
}

const stampLayout = "20060102T150405Z"

func openQuarantine(path string) (*quarantine, error) {
	if path == "" {
		return nil, errors.New("pickup: no quarantine directory")
	}
	if err := os.Mkdir(path, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if euid := uint32(os.Geteuid()); st.Uid != euid {
		unix.Close(fd)
		return nil, fmt.Errorf("quarantine %s belongs to uid %d, but mtaq runs as uid %d", path, st.Uid, euid)
	}
	if st.Mode&0o077 != 0 {
		if err := unix.Fchmod(fd, 0o700); err != nil {
			unix.Close(fd)
			return nil, err
		}
	}
	return &quarantine{path: path, fd: fd, failed: map[string]bool{}}, nil
}

func (q *quarantine) close() error { return unix.Close(q.fd) }

// take moves name out of the maildrop into the quarantine and returns its
// new name. The rename is relative to both directory handles, so a
// symlink a user put anywhere is moved as a link, never followed, and
// nothing in the quarantine is ever replaced. When the maildrop is on
// another file system, the bytes read through f (bounded by max) are
// copied instead, or for what has no content (symlink, FIFO, socket) a
// note, and then the name is removed.
func (q *quarantine) take(d *maildrop.Dir, name string, f *os.File, st *unix.Stat_t, now time.Time, max int64) (string, error) {
	base := name
	if len(base) > 128 {
		base = base[:128]
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	newName := now.UTC().Format(stampLayout) + "-" + base + "-" + hex.EncodeToString(suffix)
	err := d.MoveTo(name, q.fd, newName)
	if err == nil {
		delete(q.failed, name)
		return newName, nil
	}
	if !errors.Is(err, unix.EXDEV) {
		return "", err
	}
	if f != nil && st != nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
		if err := q.write(newName, io.NewSectionReader(f, 0, max+1)); err != nil {
			return "", err
		}
		err = d.RemoveIfSame(name, st)
	} else {
		newName += ".txt"
		note := fmt.Sprintf("maildrop entry %q, not a regular file; removed\n", name)
		if err := q.write(newName, strings.NewReader(note)); err != nil {
			return "", err
		}
		err = d.Remove(name)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	delete(q.failed, name)
	return newName, nil
}

func (q *quarantine) write(name string, r io.Reader) error {
	fd, err := unix.Openat(q.fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &fs.PathError{Op: "create", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		unix.Unlinkat(q.fd, name, 0)
	}
	return err
}

// firstFailure reports whether name's failure to move is new (to log).
func (q *quarantine) firstFailure(name string) bool {
	if q.failed[name] {
		return false
	}
	if len(q.failed) >= 10000 {
		clear(q.failed) // bounded: at worst a line again
	}
	q.failed[name] = true
	return true
}

// purge removes what was quarantined longer ago than retention, at most
// once an hour.
func (q *quarantine) purge(now time.Time, retention time.Duration, log *zap.Logger) {
	if !q.lastPurge.IsZero() && now.Sub(q.lastPurge) < time.Hour {
		return
	}
	q.lastPurge = now
	rfd, err := unix.Openat(q.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		log.Warn("listing the quarantine", zap.String("dir", q.path), zap.Error(err))
		return
	}
	dir := os.NewFile(uintptr(rfd), q.path)
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		log.Warn("listing the quarantine", zap.String("dir", q.path), zap.Error(err))
		return
	}
	removed := 0
	for _, n := range names {
		if len(n) < len(stampLayout) {
			continue
		}
		t, err := time.Parse(stampLayout, n[:len(stampLayout)])
		if err != nil || now.Sub(t) <= retention {
			continue
		}
		if unix.Unlinkat(q.fd, n, 0) == nil || unix.Unlinkat(q.fd, n, unix.AT_REMOVEDIR) == nil {
			removed++
		}
	}
	if removed > 0 {
		log.Info("purged the quarantine", zap.String("dir", q.path), zap.Int("files", removed), zap.Duration("retention", retention))
	}
}
