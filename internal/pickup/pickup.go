// Package pickup imports the maildrop into the queue: at daemon start and
// then every Interval it reads each complete file that sendmail left,
// enqueues the message like submission does, and only then removes the
// file. It owns no state besides the directory.
//
// Invariants:
//
//	P1 a file is removed only after Store.Enqueue returned nil, so a crash
//	   loses nothing; a crash between the two imports it again (a duplicate
//	   at worst, never a loss).
//	P2 a file that cannot be parsed or fails a check is moved to
//	   <dir>/corrupt with a log line, never deleted.
//	P3 files are untrusted (the directory is world-writable): symlinks,
//	   hard links and files whose uid field differs from their owner are
//	   refused, and the size is bounded before reading.
package pickup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/maildrop"
	"github.com/mtaq/mtaq/queue"
)

// Store is the part of queue.Store that pickup uses.
type Store interface {
	Enqueue(ctx context.Context, m *queue.Message, body []byte) error
	Suppression(ctx context.Context, addr string, now time.Time) (*queue.Suppression, error)
}

// Options configure a Pickup. Dir, Hostname and Store are required.
type Options struct {
	Dir      string
	Hostname string // for the Received field
	Store    Store
	Clock    clock.Clock // default clock.Real
	Logger   *zap.Logger // default zap.NewNop
	// MaxMessageBytes bounds a body (default 25 MiB); bigger files are
	// moved aside.
	MaxMessageBytes int64
	// MaxRecipients sizes the room allowed for the envelope (default 1000).
	MaxRecipients int
	Interval      time.Duration // between scans, default 1s
	// OnQueued wakes the scheduler after a message is committed; may be nil.
	OnQueued func(id string)
	// NewID names messages (default queue.NewID).
	NewID func(now time.Time) string
}

// staleAfter is when a temporary file is given up: its writer died before
// exiting 0, so nobody was told the mail was queued.
const staleAfter = 24 * time.Hour

// Pickup is the maildrop importer.
type Pickup struct {
	o    Options
	log  *zap.Logger
	wake chan struct{}
}

// New fills defaults; Run starts the loop.
func New(o Options) *Pickup {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 25 << 20
	}
	if o.MaxRecipients <= 0 {
		o.MaxRecipients = 1000
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.NewID == nil {
		o.NewID = queue.NewID
	}
	return &Pickup{o: o, log: o.Logger.Named("pickup"), wake: make(chan struct{}, 1)}
}

// Wake makes the loop scan now instead of at the next tick.
func (p *Pickup) Wake() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run creates the directory with its mode, then scans until ctx ends.
func (p *Pickup) Run(ctx context.Context) {
	if err := maildrop.Ensure(p.o.Dir); err != nil {
		p.log.Error("creating the maildrop", zap.String("dir", p.o.Dir), zap.Error(err))
	}
	var failing string // the last scan's error: a lasting one is logged once
	for {
		_, err := p.Scan(ctx)
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
		case <-t.C():
		}
	}
}

// Scan imports every complete file once and returns how many it queued.
// A file that fails for a temporary reason (storage) stays for the next
// scan; the first such error is returned after the others are tried (a full
// queue ends the scan at once: no file would fit).
func (p *Pickup) Scan(ctx context.Context) (int, error) {
	files, stale, err := maildrop.List(p.o.Dir, p.o.Clock.Now(), staleAfter)
	if err != nil {
		return 0, err
	}
	for _, e := range stale {
		p.log.Warn("removing an abandoned temporary file", zap.String("file", e.Name), zap.Time("mtime", e.ModTime))
		os.Remove(filepath.Join(p.o.Dir, e.Name))
	}
	n := 0
	var first error
	for _, e := range files {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		err := p.importFile(ctx, e.Name)
		var ce *corruptError
		switch {
		case err == nil:
			n++
		case errors.As(err, &ce):
			p.moveAside(e.Name, ce)
		case errors.Is(err, os.ErrNotExist):
			// Imported and removed by an earlier scan's retry; nothing to do.
		case errors.Is(err, queue.ErrNoSpace):
			// The queue logs the full disk once; every file waits for room.
			return n, err
		default:
			p.log.Debug("importing from the maildrop; will retry", zap.String("file", e.Name), zap.Error(err))
			first = firstErr(first, err)
		}
	}
	return n, first
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// corruptError is a file that will never import: it goes to corrupt/.
type corruptError struct{ reason error }

func (c *corruptError) Error() string { return c.reason.Error() }
func (c *corruptError) Unwrap() error { return c.reason }

// moveAside keeps a bad file for the operator (P2). If even that fails
// the file stays and is reported again at the next scan.
func (p *Pickup) moveAside(name string, why error) {
	cdir := filepath.Join(p.o.Dir, maildrop.CorruptDir)
	if err := os.Mkdir(cdir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		p.log.Error("creating the corrupt directory", zap.String("dir", cdir), zap.Error(err))
		return
	}
	if err := os.Rename(filepath.Join(p.o.Dir, name), filepath.Join(cdir, name)); err != nil {
		p.log.Error("moving a bad maildrop file aside", zap.String("file", name), zap.Error(err))
		return
	}
	if err := maildrop.SyncDir(p.o.Dir); err != nil {
		p.log.Warn("syncing the maildrop", zap.Error(err))
	}
	p.log.Error("bad maildrop file moved to "+maildrop.CorruptDir+"/", zap.String("file", name), zap.Error(why))
}
