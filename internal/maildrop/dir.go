package maildrop

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// DirMode is the maildrop directory's mode: every local user may create
// files (cron, PHP as www-data) but not list or remove other users' files
// (sticky, no read bit for others); setgid makes new files belong to the
// daemon's group, so a daemon that is not root can read them (FileMode).
const DirMode = 0o733 | fs.ModeSticky | fs.ModeSetgid

// FileMode keeps a message readable by its writer and the daemon's group
// only.
const FileMode = 0o640

// TempPrefix marks files still being written (M2).
const TempPrefix = "tmp."

// ErrNoSpace: the file system is full; sendmail exits EX_TEMPFAIL.
var ErrNoSpace = errors.New("maildrop: no space left on device")

// Drop writes one message into dir durably (M1) and returns its file name.
// The name is time-ordered (pickup imports in posting order) and random, so
// concurrent writers never collide and nobody can guess another's file.
//
// Every step is relative to one handle on dir and refuses symlinks, so a
// name another user planted is never followed. e.UID is replaced by the
// owner of the file as the kernel made it (the effective uid), which is
// what pickup compares it with: a set-uid caller is recorded as the user
// it runs as.
//
// The new directory entry must be synced before Drop may return nil. A
// user other than the maildrop's owner cannot open it for reading (mode
// 3733), so cannot fsync it; Drop then syncs the whole file system the
// file is on (syncfs(2)), which makes the rename durable at the price of
// flushing whatever else is dirty there. If that fails too, Drop removes
// its file again and reports the error, unless pickup has already taken
// it, in which case the queue holds it synced and Drop returns nil: it
// never fails for a message that will be delivered.
func Drop(dir string, e Envelope, body []byte) (string, error) {
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", classify(&fs.PathError{Op: "open", Path: dir, Err: err})
	}
	defer unix.Close(dfd)
	tmp := TempPrefix + randomHex(8)
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, FileMode)
	if err != nil {
		return "", classify(&fs.PathError{Op: "create", Path: filepath.Join(dir, tmp), Err: err})
	}
	f := os.NewFile(uintptr(fd), filepath.Join(dir, tmp))
	defer f.Close()
	renamed := false
	defer func() {
		if !renamed {
			unix.Unlinkat(dfd, tmp, 0)
		}
	}()
	// The umask may strip bits: set the mode exactly (the group read bit
	// is how a daemon that is not root reads the file).
	if err := f.Chmod(FileMode); err != nil {
		return "", classify(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", classify(err)
	}
	e.UID = int(st.Uid)
	if _, err := f.Write(Marshal(e, body)); err != nil {
		return "", classify(err)
	}
	if err := f.Sync(); err != nil {
		return "", classify(err)
	}
	name := e.Posted.UTC().Format("20060102T150405.000000000Z") + "-" + randomHex(8)
	if err := renameNoReplace(dfd, tmp, name); err != nil {
		return "", classify(&fs.PathError{Op: "rename", Path: filepath.Join(dir, tmp), Err: err})
	}
	renamed = true
	// From here pickup may import the file at any moment.
	if err := syncEntry(dfd, fd); err != nil {
		if uerr := unix.Unlinkat(dfd, name, 0); errors.Is(uerr, unix.ENOENT) {
			return name, nil // imported: the queue synced it
		}
		return "", classify(fmt.Errorf("syncing the maildrop %s: %w", dir, err))
	}
	return name, nil
}

// renameNoReplace never overwrites: names are random, so a file already
// there was planted.
func renameNoReplace(dfd int, from, to string) error {
	err := unix.Renameat2(dfd, from, dfd, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// A file system without RENAME_NOREPLACE: link fails on an
		// existing name just the same.
		if err = unix.Linkat(dfd, from, dfd, to, 0); err == nil {
			err = unix.Unlinkat(dfd, from, 0)
		}
	}
	return err
}

// syncEntry makes the directory entries of dfd durable: fsync of the
// directory when this user may open it, else syncfs of the file system
// that holds file fd.
func syncEntry(dfd, fd int) error {
	rfd, err := unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.EACCES) {
		return unix.Syncfs(fd)
	}
	if err != nil {
		return err
	}
	defer unix.Close(rfd)
	return unix.Fsync(rfd)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails on supported platforms (Go 1.24+)
	return hex.EncodeToString(b)
}

// classify maps ENOSPC and EDQUOT to ErrNoSpace, keeping the cause.
func classify(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return err
}

// Ensure creates dir if needed (its parent must exist) and gives it
// DirMode. sendmail calls it when the directory is missing so mail posted
// before the daemon's first start is kept; the daemon uses Prepare.
func Ensure(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	info, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("maildrop %s is not a directory (%v)", dir, info.Mode().Type())
	}
	if info.Mode()&(fs.ModePerm|fs.ModeSticky|fs.ModeSetgid) == DirMode {
		return nil
	}
	// Mkdir is subject to the umask and cannot set sticky everywhere.
	return os.Chmod(dir, DirMode)
}
