// Package waitfor is the one polling helper for tests that wait for other
// goroutines or processes: a condition checked until it holds or a
// deadline passes. A signal (a channel, clock.Fake's Added) is better when
// the code under test offers one; poll only for state nothing announces.
// It never proves that something did not happen.
package waitfor

import (
	"testing"
	"time"
)

// Timeout bounds every wait. It is generous because the race detector on
// a loaded two-core machine is slow; a passing test never waits it out.
const Timeout = 20 * time.Second

// every is the polling interval: short against Timeout, long enough not to
// starve the goroutines being waited for.
const every = 5 * time.Millisecond

// True polls cond until it returns true, and fails t with what after
// Timeout.
func True(t testing.TB, what string, cond func() bool) {
	t.Helper()
	NoError(t, func() error {
		if !cond() {
			return errNot(what)
		}
		return nil
	})
}

// NoError polls f until it returns nil, and fails t with f's last error
// after Timeout, so the failure says how far things got.
func NoError(t testing.TB, f func() error) {
	t.Helper()
	poll(t, f, Timeout)
}

// Within is NoError with a deadline of its own, for the few waits whose
// bound is itself the requirement (an issue's "within 1 s"); everything
// else uses Timeout.
func Within(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	poll(t, f, d)
}

func poll(t testing.TB, f func() error, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(every)
	}
}

type errNot string

func (e errNot) Error() string { return "still waiting for " + string(e) }
