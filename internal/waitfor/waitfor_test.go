package waitfor

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestTrueReturnsOnceTrue(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	True(t, "the third call", func() bool { return n.Add(1) == 3 })
	if n.Load() != 3 {
		t.Fatalf("%d calls", n.Load())
	}
}

// fatal records a failure instead of ending the test, so the timeout path
// can be checked without waiting for it in another test.
type fatal struct {
	testing.TB
	msg string
}

func (f *fatal) Helper() {}
func (f *fatal) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}

func TestNoErrorFailsWithLastError(t *testing.T) {
	t.Parallel()
	f := &fatal{TB: t}
	defer func() {
		if r := recover(); r != f || f.msg != "after 20ms: never" {
			t.Fatalf("recovered %v, message %q", r, f.msg)
		}
	}()
	poll(f, func() error { return errors.New("never") }, 20*time.Millisecond)
	t.Fatal("NoError returned on a condition that never holds")
}

func TestWithinFailsAtItsOwnDeadline(t *testing.T) {
	t.Parallel()
	f := &fatal{TB: t}
	defer func() {
		if r := recover(); r != f || f.msg != "after 30ms: not yet" {
			t.Fatalf("recovered %v, message %q", r, f.msg)
		}
	}()
	Within(f, 30*time.Millisecond, func() error { return errors.New("not yet") })
	t.Fatal("Within returned on a condition that never holds")
}
