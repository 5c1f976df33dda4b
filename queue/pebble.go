package queue

import (
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/clock"
)

// Options configure Open.
type Options struct {
	// FS is the filesystem under dir; nil is the real disk, with every
	// file made 0640 whatever the umask (privateFS). Tests pass
	// vfs.NewCrashableMem() to reopen exactly what was synced.
	FS vfs.FS
	// Logger may be nil.
	Logger *zap.Logger
	// Clock stamps the final time of messages finalised without an attempt
	// (operator deletes); nil is the wall clock.
	Clock clock.Clock
	// MinFreeBytes is the disk space Enqueue leaves free: below it new mail
	// gets ErrNoSpace while Lease and Apply, which the queue needs to drain,
	// still have room. Pebble treats a failed WAL write or fsync as fatal:
	// DB.Apply, and commitRelease after its SyncWait, call Logger.Fatalf
	// ("fatal commit error"), which exits with
	// status 1 before Enqueue returns (TestInjectedWALFault), so the client
	// sees a dropped connection, never a 250. Refusing early is the only
	// graceful answer to a full disk.
	// 0 means 64 MiB; negative disables the check.
	MinFreeBytes int64
	// ReadOnly opens the store for inspection only (mtaq queue ls
	// --offline): nothing is written, not even the WAL's replay. Pebble
	// still takes its lock file, so this fails with ErrLocked while the
	// daemon holds the store.
	ReadOnly bool
	// SharedOutbox records every local suppression change as a p/ entry
	// for the fleet's shared list (Q6, shared.go). Off without [cluster].
	SharedOutbox bool
}

const defaultMinFree = 64 << 20

// PebbleStore is the Store on one Pebble database.
type PebbleStore struct {
	db       *pebble.DB
	fs       vfs.FS
	dir      string
	minFree  int64
	refusing atomic.Bool // last checkSpace refused: log only the changes
	log      *zap.Logger
	plog     pebble.Logger // Pebble's: Fatalf ends the process
	clock    clock.Clock
	locks    stripes
	out      *outbox
	due      *dueMark
	ids      *idHigh
	supp     *suppFilter // nil when read-only: every lookup reads the store
	bgMu     sync.Mutex  // orders starting background work with Close
	closed   bool
	done     chan struct{} // closed by Close
	bg       sync.WaitGroup
	// consumerMu orders changes to consumers' dead letters and holds.
	consumerMu sync.Mutex
	histTrim   historyTrim
	// sentMu orders AddSent's read-modify-write of the u/ counters.
	sentMu sync.Mutex
	shared *sharedOutbox // nil: the shared outbox is off
}

var _ Store = (*PebbleStore)(nil)

// memTableSize is large enough that a burst of 4 KiB bodies does not flush
// every few hundred messages, small enough to replay quickly after a crash.
const memTableSize = 64 << 20

// Open opens (creating if needed) the queue database in dir. Only one
// process may hold it open (Pebble takes a lock file).
func Open(dir string, opts Options) (*PebbleStore, error) {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("queue")
	clk := opts.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	minFree := opts.MinFreeBytes
	if minFree == 0 {
		minFree = defaultMinFree
	}
	fs := opts.FS
	if fs == nil {
		fs = privateFS{vfs.Default}
	}
	po := &pebble.Options{
		FS:                 fs,
		MemTableSize:       memTableSize,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{log.Named("pebble").Sugar()},
		ReadOnly:           opts.ReadOnly,
		ErrorIfNotExists:   opts.ReadOnly,
		Merger:             rollupMerger,
	}
	po.EnsureDefaults()
	db, err := pebble.Open(dir, po)
	if err != nil {
		if lockHeld(err) {
			err = fmt.Errorf("%w: %v", ErrLocked, err)
		}
		return nil, fmt.Errorf("open queue %s: %w", dir, mapNoSpace(err))
	}
	if !opts.ReadOnly {
		if err := initWaiting(db); err != nil {
			db.Close()
			return nil, fmt.Errorf("open queue %s: counting waiting recipients: %w", dir, mapNoSpace(err))
		}
	}
	out, err := initOutbox(db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open queue %s: %w", dir, err)
	}
	ids, err := initIDHigh(db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open queue %s: %w", dir, err)
	}
	s := &PebbleStore{db: db, fs: po.FS, dir: dir, minFree: minFree, log: log, plog: po.Logger, clock: clk, out: out, due: newDueMark(), ids: ids, done: make(chan struct{})}
	if opts.SharedOutbox {
		if s.shared, err = initShared(db); err != nil {
			db.Close()
			return nil, fmt.Errorf("open queue %s: %w", dir, err)
		}
	}
	if !opts.ReadOnly { // last: nothing below may fail with the build running
		s.supp = newSuppFilter()
		s.startSuppFilter()
	}
	return s, nil
}

// Close flushes nothing extra (every change was synced) and releases the
// database lock.
func (s *PebbleStore) Close() error {
	s.bgMu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
	s.bgMu.Unlock()
	s.bg.Wait()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close queue: %w", err)
	}
	return nil
}

// commit writes b with fsync: the durability every caller relies on.
func (s *PebbleStore) commit(b *pebble.Batch) error { return s.commitRelease(b, nil) }

// commitRelease is commit that calls release (the caller's stripes) once b
// is applied, before waiting for its fsync, so the next writer of the same
// message or address builds its batch while this one syncs instead of
// after. Pebble makes a synced batch visible before its WAL sync in any
// case; holding the stripes across the sync only kept out the writers of
// the same stripes, and their batches follow b in the WAL, so none of them
// can be durable without b. A batch that writes nothing still waits, with
// a synced empty log record, so that what its caller read under the
// stripes is durable when it returns. release is called on every path and
// must tolerate a second call (stripes.lock's unlock does).
func (s *PebbleStore) commitRelease(b *pebble.Batch, release func()) error {
	if release == nil {
		defer b.Close()
		if err := b.Commit(pebble.Sync); err != nil {
			return fmt.Errorf("commit: %w", mapNoSpace(err))
		}
		return nil
	}
	if b.Empty() {
		b.Close()
		release()
		if err := s.db.LogData(nil, pebble.Sync); err != nil {
			return fmt.Errorf("commit: %w", mapNoSpace(err))
		}
		return nil
	}
	if err := s.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		release() // an invalid batch: Pebble ends the process on any other error
		b.Close()
		return fmt.Errorf("commit: %w", mapNoSpace(err))
	}
	release()
	if err := b.SyncWait(); err != nil {
		// What DB.Apply does when the WAL fails under a synced commit, and
		// for the same reason: b is visible but will not survive, and
		// every later commit would fail too (TestInjectedWALFault).
		s.plog.Fatalf("pebble: fatal commit error: %v", err)
	}
	b.Close()
	return nil
}

// checkSpace refuses to take need more bytes when that would eat into the
// reserve. A filesystem that cannot tell (ErrUnsupported) is not checked.
func (s *PebbleStore) checkSpace(need int64) error {
	if s.minFree < 0 {
		return nil
	}
	u, err := s.fs.GetDiskUsage(s.dir)
	if err != nil {
		if errors.Is(err, vfs.ErrUnsupported) {
			return nil
		}
		return fmt.Errorf("disk usage: %w", err)
	}
	if u.AvailBytes < uint64(s.minFree)+uint64(max(need, 0)) {
		if !s.refusing.Swap(true) {
			s.log.Warn("disk space below the reserve: refusing new mail until space returns; deliveries go on",
				zap.String("dir", s.dir), zap.Uint64("avail_bytes", u.AvailBytes), zap.Int64("reserve_bytes", s.minFree))
		}
		return fmt.Errorf("%w: %d bytes free, reserve %d", ErrNoSpace, u.AvailBytes, s.minFree)
	}
	if s.refusing.Swap(false) {
		s.log.Warn("disk space above the reserve again: accepting new mail",
			zap.String("dir", s.dir), zap.Uint64("avail_bytes", u.AvailBytes), zap.Int64("reserve_bytes", s.minFree))
	}
	return nil
}

// SpaceLeft reports whether the disk under the queue is above the reserve
// Enqueue keeps (ErrNoSpace, wrapped, when not): the daemon's readiness.
func (s *PebbleStore) SpaceLeft() error { return s.checkSpace(0) }

// mapNoSpace makes a disk-full error match ErrNoSpace while keeping the
// original for logs.
func mapNoSpace(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.ENOSPC) || vfs.IsNoSpaceError(err) {
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return err
}

// pebbleLogger sends Pebble's chatter to debug level; errors stay errors.
type pebbleLogger struct{ l *zap.SugaredLogger }

func (p pebbleLogger) Infof(format string, args ...any)  { p.l.Debugf(format, args...) }
func (p pebbleLogger) Errorf(format string, args ...any) { p.l.Errorf(format, args...) }

// Fatalf is called by Pebble on unrecoverable corruption; like Pebble's own
// logger it does not return.
func (p pebbleLogger) Fatalf(format string, args ...any) { p.l.Fatalf(format, args...) }

// stripes serialises read-modify-write per message (and per suppressed
// address) while letting unrelated commits, and their fsyncs, run in
// parallel. A lock is held through the commit, so what one batch read is
// still true when it lands.
type stripes struct {
	seed maphash.Seed
	once sync.Once
	mu   [256]sync.Mutex
}

func (st *stripes) index(key string) int {
	st.once.Do(func() { st.seed = maphash.MakeSeed() })
	return int(maphash.String(st.seed, key) % uint64(len(st.mu)))
}

// lock takes the stripes of all keys in ascending order (no deadlock between
// two callers with overlapping sets) and returns the unlock function, which
// does nothing after its first call (commitRelease may have called it
// before the caller's deferred call). One goroutine uses it.
func (st *stripes) lock(keys ...string) func() {
	idx := make([]int, 0, len(keys))
	for _, k := range keys {
		idx = append(idx, st.index(k))
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		st.mu[i].Lock()
	}
	return func() {
		for _, i := range slices.Backward(idx) {
			st.mu[i].Unlock()
		}
		idx = nil
	}
}

// lockAll takes every stripe: a moment in which no locked change is half
// done.
func (st *stripes) lockAll() func() {
	for i := range st.mu {
		st.mu[i].Lock()
	}
	return func() {
		for i := len(st.mu) - 1; i >= 0; i-- {
			st.mu[i].Unlock()
		}
	}
}

// msgLockKey and suppLockKey keep the two key spaces of stripes apart.
func msgLockKey(id string) string    { return "m/" + id }
func suppLockKey(addr string) string { return "s/" + addr }

// lockHeld tells whether Open failed because another process holds
// Pebble's lock file: fcntl's F_SETLK answers EAGAIN or EACCES as a bare
// errno, while a file the caller may not create comes as a *PathError.
func lockHeld(err error) bool {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return false
	}
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) ||
		strings.Contains(err.Error(), "lock held by current process")
}

// Checkpoint writes a consistent copy of the store into dir, which must
// not exist, while the store stays open and in use (mtaq backup): Pebble
// hard-links the immutable tables when dir is on the same file system and
// copies the WAL up to this moment. The copy opens like any store.
func (s *PebbleStore) Checkpoint(dir string) error {
	if err := s.db.Checkpoint(dir); err != nil {
		return fmt.Errorf("checkpoint of the queue into %s: %w", dir, mapNoSpace(err))
	}
	return nil
}
