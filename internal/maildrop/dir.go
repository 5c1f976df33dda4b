package maildrop

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
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

// CorruptDir is the subdirectory where pickup moves files it cannot parse.
const CorruptDir = "corrupt"

// ErrNoSpace: the file system is full; sendmail exits EX_TEMPFAIL.
var ErrNoSpace = errors.New("maildrop: no space left on device")

// Drop writes one message into dir durably (M1) and returns its file name.
// The name is time-ordered (pickup imports in posting order) and random, so
// concurrent writers never collide and nobody can guess another's file.
func Drop(dir string, e Envelope, body []byte) (string, error) {
	name := e.Posted.UTC().Format("20060102T150405.000000000Z") + "-" + randomHex(8)
	f, err := os.CreateTemp(dir, TempPrefix+"*")
	if err != nil {
		return "", classify(err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// CreateTemp makes 0600 and the umask may strip more: set it exactly.
	if err := f.Chmod(FileMode); err != nil {
		return "", classify(err)
	}
	if _, err := f.Write(Marshal(e, body)); err != nil {
		return "", classify(err)
	}
	if err := f.Sync(); err != nil {
		return "", classify(err)
	}
	if err := f.Close(); err != nil {
		return "", classify(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return "", classify(err)
	}
	ok = true
	if err := SyncDir(dir); err != nil {
		// The file may or may not survive a crash: the caller must not say
		// "queued", and a later pickup may still deliver it (a duplicate
		// at worst if the caller retries).
		return "", classify(err)
	}
	return name, nil
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

// SyncDir fsyncs a directory, making renames and removals in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Entry is a complete file waiting in the maildrop.
type Entry struct {
	Name    string
	ModTime time.Time
}

// List returns the complete files in dir, oldest name first; temporary
// files and directories (corrupt/) are left out. Symlinks and other
// non-regular entries are listed, so pickup moves them aside (P2). Temporary files older than staleAfter (a sendmail that died
// before exiting 0, so nobody was told "queued") are returned in stale.
func List(dir string, now time.Time, staleAfter time.Duration) (files, stale []Entry, err error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, de := range des {
		if de.IsDir() {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		e := Entry{Name: de.Name(), ModTime: info.ModTime()}
		switch {
		case strings.HasPrefix(e.Name, TempPrefix) && de.Type().IsRegular():
			if now.Sub(e.ModTime) > staleAfter {
				stale = append(stale, e)
			}
		case !strings.HasPrefix(e.Name, "."):
			files = append(files, e)
		}
	}
	slices.SortFunc(files, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return files, stale, nil
}

// Ensure creates dir if needed (its parent must exist) and gives it
// DirMode. The daemon calls it at start; sendmail calls it when the
// directory is missing so mail posted before the first start is kept.
func Ensure(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	info, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if info.Mode()&(fs.ModePerm|fs.ModeSticky|fs.ModeSetgid) == DirMode {
		return nil
	}
	// Mkdir is subject to the umask and cannot set sticky everywhere.
	return os.Chmod(dir, DirMode)
}
