package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/mtaq/mtaq/queue"
)

// BackupManifest is the file a backup directory carries; restore refuses
// a directory without it and checks the restored copy against it.
const BackupManifest = "mtaq-backup.json"

// BackupRequest asks for a backup into Dir, an absolute path that must not
// exist yet (the daemon creates it).
type BackupRequest struct {
	Dir string `json:"dir"`
}

// BackupResult describes a finished backup; it is also the manifest.
type BackupResult struct {
	Dir     string    `json:"dir"`
	Created time.Time `json:"created"`
	// Counts read back from the copy, not from the live queue: they are
	// what a restore of Dir will hold.
	Messages     int            `json:"messages"`
	States       map[string]int `json:"states"` // recipients by state
	Pending      int            `json:"pending"`
	Suppressions int            `json:"suppressions"`
	Bytes        int64          `json:"bytes"`
	Seconds      float64        `json:"seconds"`
}

// Snapshotter writes a consistent copy of the queue and the files the
// queue depends on (the bounce secret) into a new directory; the daemon
// implements it (maildrop paused, Pebble checkpoint).
type Snapshotter func(ctx context.Context, dir string) error

// Backup implements API.
func (s *Service) Backup(ctx context.Context, req BackupRequest) (*BackupResult, error) {
	if s.snapshot == nil {
		return nil, invalid("this daemon cannot make backups")
	}
	if !filepath.IsAbs(req.Dir) {
		return nil, invalid("backup directory %q: give an absolute path", req.Dir)
	}
	if _, err := os.Lstat(req.Dir); err == nil {
		return nil, invalid("backup directory %s exists: a backup goes into a new directory", req.Dir)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, invalid("backup directory: %v", err)
	}
	start := s.clock.Now()
	if err := s.snapshot(ctx, req.Dir); err != nil {
		return nil, fmt.Errorf("backup into %s: %w", req.Dir, err)
	}
	res, err := Inspect(ctx, req.Dir)
	if err != nil {
		return nil, fmt.Errorf("reading the backup back: %w", err)
	}
	res.Created = start.UTC()
	res.Seconds = s.clock.Now().Sub(start).Seconds()
	if err := writeManifest(req.Dir, res); err != nil {
		return nil, err
	}
	return res, nil
}

// Inspect opens the queue in dir read-only and counts what it holds.
func Inspect(ctx context.Context, dir string) (*BackupResult, error) {
	st, err := queue.Open(dir, queue.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	res := &BackupResult{Dir: dir, States: map[string]int{}}
	last := "" // recipients come in key order: a message's are together
	err = st.EachRecipient(ctx, func(id string, r *queue.Recipient) error {
		if id != last {
			last = id
			res.Messages++
		}
		res.States[string(r.State)]++
		if !r.State.Final() {
			res.Pending++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if res.Suppressions, err = st.SuppressionCount(ctx); err != nil {
		return nil, err
	}
	err = filepath.WalkDir(dir, func(_ string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		info, err := e.Info()
		if err == nil {
			res.Bytes += info.Size()
		}
		return err
	})
	return res, err
}

func writeManifest(dir string, res *BackupResult) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, BackupManifest), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	if _, err = f.Write(append(b, '\n')); err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close(), SyncDir(dir))
}

// SyncDir fsyncs a directory, so the names just written in it last.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// CopyFile copies src to the new file dst with mode and syncs it: a
// backup's and a restore's files.
func CopyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	return errors.Join(err, out.Close())
}
