// Package tmpfstest mounts small tmpfs filesystems for tests that fill a
// disk (it needs root). It owns nothing else; callers decide whether a
// missing root is a skip or a failure.
package tmpfstest

import (
	"os/exec"
	"testing"
)

// Mount mounts a tmpfs of size (mount's syntax: "16m") with options on the
// existing directory dir and unmounts it when the test ends. It returns
// mount's error, output included.
func Mount(t testing.TB, dir, size, options string) error {
	t.Helper()
	o := "size=" + size
	if options != "" {
		o += "," + options
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", o, "tmpfs", dir).CombinedOutput(); err != nil {
		return &mountError{err, out}
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return nil
}

type mountError struct {
	err error
	out []byte
}

func (e *mountError) Error() string { return "mount -t tmpfs: " + e.err.Error() + ": " + string(e.out) }
func (e *mountError) Unwrap() error { return e.err }
