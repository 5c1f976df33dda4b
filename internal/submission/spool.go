package submission

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// byteBudget bounds the body bytes held by all transfers at once, in
// memory or spooled, from the first byte received to the commit or abort.
// A limit below 1 means none.
type byteBudget struct {
	limit int64
	used  atomic.Int64
}

// charge takes n bytes, or none and false when that would pass the limit.
func (b *byteBudget) charge(n int64) bool {
	if b.used.Add(n) > b.limit && b.limit > 0 {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *byteBudget) free(n int64) { b.used.Add(-n) }

// errBudget: taking the bytes just received would pass MaxBytesInFlight.
var errBudget = errors.New("bytes in flight over the budget")

// spoolError is a failure of the spool file, not of the client.
type spoolError struct{ err error }

func (e spoolError) Error() string { return "spool: " + e.err.Error() }
func (e spoolError) Unwrap() error { return e.err }

// spoolPrefix names body files, so Start can remove those a crash left.
const spoolPrefix = "body-"

// bodySpool holds one body while it is received: in memory up to
// threshold bytes, then in a temporary file (mode 0600) in dir, so a
// stalled transfer holds at most threshold bytes of memory. Each byte is
// charged to the budget until discard.
type bodySpool struct {
	dir       string
	threshold int
	budget    *byteBudget

	mem  []byte
	f    *os.File
	w    *bufio.Writer
	n    int64   // bytes written
	last [2]byte // the last two bytes written
	err  error   // sticky: the first failure
}

func newBodySpool(dir string, threshold int, budget *byteBudget) *bodySpool {
	return &bodySpool{dir: dir, threshold: threshold, budget: budget}
}

func (s *bodySpool) write(p []byte) {
	if s.err != nil || len(p) == 0 {
		return
	}
	if !s.budget.charge(int64(len(p))) {
		s.err = errBudget
		return
	}
	s.n += int64(len(p))
	if len(p) >= 2 {
		s.last = [2]byte{p[len(p)-2], p[len(p)-1]}
	} else {
		s.last = [2]byte{s.last[1], p[0]}
	}
	if s.f == nil && len(s.mem)+len(p) <= s.threshold {
		if s.mem == nil {
			// A recycled buffer larger than threshold would let a
			// stalled transfer hold more than threshold (S5): left out.
			if b, ok := memBodies.Get().(*[]byte); ok && cap(*b) <= s.threshold {
				s.mem = (*b)[:0]
			}
		}
		s.mem = append(s.mem, p...)
		return
	}
	if s.f == nil {
		if s.err = s.open(); s.err != nil {
			return
		}
	}
	if _, err := s.w.Write(p); err != nil {
		s.err = spoolError{err}
	}
}

var crlf = []byte("\r\n")

// writeCRLF ends a line; one shared slice, not a conversion per line.
func (s *bodySpool) writeCRLF() { s.write(crlf) }

// open moves the body so far into a new file and frees the memory.
func (s *bodySpool) open() error {
	f, err := os.CreateTemp(s.dir, spoolPrefix+"*") // mode 0600
	if err != nil {
		return spoolError{err}
	}
	s.f, s.w = f, bufio.NewWriterSize(f, 64<<10)
	_, err = s.w.Write(s.mem)
	s.releaseMem()
	if err != nil {
		return spoolError{err}
	}
	return nil
}

func (s *bodySpool) endsCRLF() bool { return s.n >= 2 && s.last == [2]byte{'\r', '\n'} }

// load returns the body after headroom free bytes (where intake writes
// the Received field) in one allocation of exactly their size: the only
// full copy of the body in memory.
func (s *bodySpool) load(headroom int) ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	out := make([]byte, headroom+int(s.n))
	if s.f == nil {
		copy(out[headroom:], s.mem)
		return out, nil
	}
	if err := s.w.Flush(); err != nil {
		return nil, spoolError{err}
	}
	if _, err := s.f.ReadAt(out[headroom:], 0); err != nil && !(errors.Is(err, io.EOF) && s.n == 0) {
		return nil, spoolError{err}
	}
	return out, nil
}

// discard removes the file and gives the bytes back to the budget; the
// spool is empty after it.
func (s *bodySpool) discard() error {
	s.budget.free(s.n)
	s.n = 0
	s.releaseMem()
	if s.f == nil {
		return nil
	}
	name := s.f.Name()
	err := errors.Join(s.f.Close(), os.Remove(name))
	s.f, s.w = nil, nil
	return err
}

// memBodies recycles the in-memory bodies of spools: load copies a body
// out, so its buffer is free again at discard, and growing a new one per
// message was a tenth of the relay's allocated bytes. Buffers larger than
// maxPooledBody are left to the GC, so the pool holds no big bodies.
var memBodies sync.Pool // of *[]byte

const maxPooledBody = 256 << 10

// releaseMem hands the in-memory body back to memBodies; nothing may
// hold it (load copies).
func (s *bodySpool) releaseMem() {
	if s.mem != nil && cap(s.mem) <= maxPooledBody {
		b := s.mem[:0]
		memBodies.Put(&b)
	}
	s.mem = nil
}

// cleanSpool removes body files left by a crash; the directory is
// created (mode 0700) when missing.
func cleanSpool(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("submission: spool directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("submission: spool directory: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), spoolPrefix) && e.Type().IsRegular() {
			errs = append(errs, os.Remove(filepath.Join(dir, e.Name())))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("submission: cleaning the spool directory: %w", err)
	}
	return nil
}
