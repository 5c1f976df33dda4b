package queue

import (
	"io"
	"os"

	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"
)

// privateMode is the most a queue file may allow: message bodies live in
// the WAL and the tables, so nobody outside the daemon's user and group.
const privateMode = 0o640

// privateFS is the real disk with every file Pebble creates made
// privateMode at once. Pebble asks the OS for 0666 and leaves the rest to
// the umask, which is not the queue's to choose (with a plain 022 umask
// every local user reads the bodies).
type privateFS struct{ vfs.FS }

func (p privateFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := p.FS.Create(name, c)
	return private(name, f, err)
}

func (p privateFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := p.FS.ReuseForWrite(oldname, newname, c)
	return private(newname, f, err)
}

func (p privateFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := p.FS.OpenReadWrite(name, c, opts...)
	return private(name, f, err)
}

func private(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	if fd := f.Fd(); fd != vfs.InvalidFd {
		err = unix.Fchmod(int(fd), privateMode)
	} else {
		err = os.Chmod(name, privateMode)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Lock creates the lock file too; it holds nothing, but data_dir stays
// uniform (0640), so a look at the modes finds nothing to explain.
func (p privateFS) Lock(name string) (io.Closer, error) {
	c, err := p.FS.Lock(name)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(name, privateMode); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
