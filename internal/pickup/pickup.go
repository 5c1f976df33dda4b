// Package pickup imports the maildrop into the queue: at daemon start and
// then whenever the directory changes it reads each complete file that
// sendmail left, enqueues the message like submission does, and only then
// removes the file. Files it refuses go to a quarantine directory under
// data_dir that only the daemon can reach. It owns no state besides those
// two directories.
//
// Invariants:
//
//	P1 a file is removed only after Store.Enqueue returned nil, so a crash
//	   loses nothing; a crash between the two imports it again (a duplicate
//	   at worst, never a loss).
//	P2 a file that cannot be parsed or fails a check is moved to the
//	   quarantine with one log line, never deleted before the retention.
//	P3 names in the maildrop are hostile (the directory is world-writable):
//	   every operation is relative to directory handles and follows no
//	   symlink; symlinks, hard links, FIFOs, files whose uid field differs
//	   from their owner, and files over the limits are refused; the size is
//	   bounded before reading.
//	P4 an unchanged directory is not listed again: an idle maildrop costs
//	   one fstat per interval however many files sit in it.
package pickup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/internal/maildrop"
	"github.com/mtaq/mtaq/queue"
)

// Options configure a Pickup. Dir, QuarantineDir and Intake are
// required.
type Options struct {
	Dir string
	// QuarantineDir receives refused files; Open creates it (0700). It
	// must be where no other user can write (data_dir/quarantine).
	QuarantineDir string
	// QuarantineRetention is how long refused files are kept (default 30
	// days); then they are removed.
	QuarantineRetention time.Duration
	// Intake checks and queues each message, as for every other way in;
	// its limits bound the files read.
	Intake   *intake.Intake
	Clock    clock.Clock   // default clock.Real
	Logger   *zap.Logger   // default zap.NewNop
	Interval time.Duration // between looks at the directory, default 1s
}

// staleAfter is when a temporary file is given up: sendmail creates it
// only once the whole message is read, so one unchanged for an hour
// belongs to a writer that died before exiting 0 (nobody was told the mail
// was queued).
const staleAfter = time.Hour

// rescanEvery bounds how long an unchanged directory goes unlisted, so a
// temporary file turning stale is found.
const rescanEvery = time.Minute

// Pickup is the maildrop importer.
type Pickup struct {
	o    Options
	log  *zap.Logger
	wake chan struct{}
	dir  *maildrop.Dir
	q    *quarantine

	// mu is held by each scan and by a backup (Pause), so a backup sees
	// every maildrop file either imported or not, never half.
	mu sync.Mutex

	// Scan state, guarded by mu.
	stamp    time.Time // the directory's mtime at the last full scan
	scanned  time.Time // the clock then
	racy     bool      // stamp was too recent to prove nothing came after
	retry    bool      // the last scan left a file to try again
	listings int       // directory listings made, for tests

	afterRead func(name string) // test seam: a file read, not yet queued
}

// Open prepares the maildrop (maildrop.Prepare: safe ancestry, owner,
// mode) and the quarantine; an error means the daemon must not start.
func Open(o Options) (*Pickup, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.QuarantineRetention <= 0 {
		o.QuarantineRetention = 30 * 24 * time.Hour
	}
	dir, err := maildrop.Prepare(o.Dir)
	if err != nil {
		return nil, err
	}
	q, err := openQuarantine(o.QuarantineDir)
	if err != nil {
		dir.Close()
		return nil, err
	}
	return &Pickup{o: o, log: o.Logger.Named("pickup"), wake: make(chan struct{}, 1), dir: dir, q: q}, nil
}

// Close releases the directory handles.
func (p *Pickup) Close() error {
	return errors.Join(p.dir.Close(), p.q.close())
}

// Wake makes the loop look at the directory now instead of at the next
// tick.
func (p *Pickup) Wake() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run scans until ctx ends.
func (p *Pickup) Run(ctx context.Context) {
	var failing string // the last scan's error: a lasting one is logged once
	for {
		p.mu.Lock()
		_, err := p.scanIfChanged(ctx)
		p.mu.Unlock()
		key := ""
		if err != nil {
			key = err.Error()
			if errors.Is(err, queue.ErrNoSpace) {
				key = "no space" // the text names a message ID, new each scan
			}
		}
		switch {
		case ctx.Err() != nil:
		case err != nil && key != failing:
			p.log.Error("scanning the maildrop; will retry", zap.String("dir", p.o.Dir), zap.Error(err))
			failing = key
		case err == nil && failing != "":
			p.log.Info("maildrop scan recovered", zap.String("dir", p.o.Dir))
			failing = ""
		}
		t := p.o.Clock.NewTimer(p.o.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-p.wake:
			t.Stop()
			p.racy = true // asked to look: do
		case <-t.C():
		}
	}
}

// Pause imports what the maildrop holds now and then stops importing
// until resume is called: a backup taken in between holds every file
// written before the pause began, once. A failed import is returned with
// the pause still held (the caller decides; resume must be called).
func (p *Pickup) Pause(ctx context.Context) (resume func(), err error) {
	p.mu.Lock()
	_, err = p.Scan(ctx)
	return p.mu.Unlock, err
}

// scanIfChanged lists the directory only when something may have changed
// since the last full scan (P4): its mtime moved, the last scan left work
// to retry, the last stamp was recent enough that a later change could
// share it (file system timestamps are coarse), or rescanEvery passed.
func (p *Pickup) scanIfChanged(ctx context.Context) (int, error) {
	stamp, err := p.dir.Stamp()
	if err != nil {
		return 0, err
	}
	now := p.o.Clock.Now()
	if p.listings > 0 && !p.retry && !p.racy && stamp.Equal(p.stamp) && now.Sub(p.scanned) < rescanEvery {
		return 0, nil
	}
	p.stamp, p.scanned = stamp, now
	// The stamp proves nothing came after it only once the file system's
	// clock has moved on past it.
	p.racy = time.Since(stamp) < 2*time.Second
	return p.Scan(ctx)
}

// Scan imports every complete file once and returns how many it queued.
// A file that fails for a temporary reason (storage) stays for the next
// scan; the first such error is returned after the others are tried (a full
// queue ends the scan at once: no file would fit).
func (p *Pickup) Scan(ctx context.Context) (int, error) {
	p.listings++
	p.retry = false
	now := p.o.Clock.Now()
	files, stale, err := p.dir.List(now, staleAfter)
	if err != nil {
		p.retry = true
		return 0, err
	}
	p.reapStale(stale)
	p.q.purge(now, p.o.QuarantineRetention, p.log)
	n := 0
	var first error
	for _, e := range files {
		if ctx.Err() != nil {
			p.retry = true
			return n, ctx.Err()
		}
		err := p.importFile(ctx, e.Name)
		var ce *corruptError
		switch {
		case err == nil:
			n++
		case errors.As(err, &ce):
			p.refuse(e.Name, ce)
		case errors.Is(err, os.ErrNotExist), errors.Is(err, maildrop.ErrReplaced):
			// Imported and removed by an earlier scan's retry, or replaced
			// by its owner: the next listing shows what is there now.
			if errors.Is(err, maildrop.ErrReplaced) {
				p.retry = true
			}
		case errors.Is(err, queue.ErrNoSpace):
			// The queue logs the full disk once; every file waits for room.
			p.retry = true
			return n, err
		default:
			p.log.Debug("importing from the maildrop; will retry", zap.String("file", e.Name), zap.Error(err))
			p.retry = true
			first = firstErr(first, err)
		}
	}
	return n, first
}

// reapStale removes temporary files of writers that died, with one line
// for the lot: a user can leave any number of them.
func (p *Pickup) reapStale(stale []maildrop.Entry) {
	removed := 0
	for _, e := range stale {
		if p.dir.Remove(e.Name) == nil {
			removed++
		}
	}
	if removed > 0 {
		p.log.Warn("removed abandoned temporary files from the maildrop", zap.Int("files", removed),
			zap.String("first", stale[0].Name), zap.Duration("unchanged_for_over", staleAfter))
	}
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// corruptError is a file that will never import: it goes to the
// quarantine. f is the file as opened, when it could be.
type corruptError struct {
	reason error
	f      *os.File
	st     *unix.Stat_t
}

func (c *corruptError) Error() string { return c.reason.Error() }
func (c *corruptError) Unwrap() error { return c.reason }

// refuse moves a bad file to the quarantine and logs it once (P2). If
// even that fails the file stays; it is logged once and tried again at
// the next scan.
func (p *Pickup) refuse(name string, why *corruptError) {
	if why.f != nil {
		defer why.f.Close()
	}
	where, err := p.q.take(p.dir, name, why.f, why.st, p.o.Clock.Now(), p.maxFile())
	if err != nil {
		p.retry = true
		if p.q.firstFailure(name) {
			p.log.Error("refused a maildrop file but cannot move it to the quarantine; will retry",
				zap.String("file", name), zap.String("reason", why.Error()), zap.Error(err))
		}
		return
	}
	if err := p.dir.Sync(); err != nil {
		p.log.Warn("syncing the maildrop", zap.Error(err))
	}
	p.log.Error("refused a maildrop file; moved to the quarantine", zap.String("file", name),
		zap.String("quarantined_as", filepath.Join(p.o.QuarantineDir, where)), zap.String("reason", why.Error()))
}

func corrupt(f string, a ...any) error { return &corruptError{reason: fmt.Errorf(f, a...)} }
