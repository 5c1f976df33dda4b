package pickup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/internal/maildrop"
	"github.com/mtaq/mtaq/queue"
)

// maxFile bounds a maildrop file: the body limit plus the envelope lines,
// MaxRecipients of them at the longest legal path.
func (p *Pickup) maxFile() int64 {
	maxBytes, maxRcpts, _ := p.o.Intake.Limits()
	return maxBytes + int64(maxRcpts)*int64(len("rcpt: \n")+256) + 4096
}

// importFile enqueues one file and removes it (P1). A file it refuses is
// returned as a *corruptError holding the open file, for the quarantine.
func (p *Pickup) importFile(ctx context.Context, name string) error {
	f, st, err := p.open(name)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if ok {
			f.Close()
		}
	}()
	bad := func(err error) error {
		return &corruptError{reason: err, f: f, st: st}
	}
	data, err := io.ReadAll(io.LimitReader(f, p.maxFile()+1))
	if err != nil {
		ok = true
		return err
	}
	if p.afterRead != nil {
		p.afterRead(name)
	}
	env, body, err := maildrop.Parse(data)
	if err != nil {
		return bad(err)
	}
	if owner := int(st.Uid); env.UID != owner {
		return bad(fmt.Errorf("uid field %d, but the file belongs to uid %d", env.UID, owner))
	}
	acc, err := p.submit(ctx, env, body)
	var ce *corruptError
	if errors.As(err, &ce) {
		return bad(ce.reason)
	}
	ok = true
	if err != nil {
		return err
	}
	p.log.Info("queued", zap.String("queue_id", acc.ID), zap.String("file", name), zap.Int("uid", env.UID),
		zap.String("sender", env.Sender), zap.Int("rcpts", len(env.Rcpts)), zap.Int("rejected", acc.Rejected),
		zap.Int64("size", acc.Size), zap.Time("posted", env.Posted))
	// Enqueued: from here a crash means a duplicate, never a loss (P1).
	// Only the file that was read is removed: one its owner put in its
	// place meanwhile waits for the next scan.
	if err := p.dir.RemoveIfSame(name, st); err != nil {
		p.log.Error("removing an imported maildrop file; it will be imported again", zap.String("file", name), zap.Error(err))
		return nil
	}
	if err := p.dir.Sync(); err != nil {
		p.log.Warn("syncing the maildrop", zap.Error(err))
	}
	return nil
}

// open opens name through the maildrop handle and checks, before a byte
// is read, that it is a regular file with one link and a bounded size
// (P3). Refusals come back as *corruptError; a name that vanished as
// fs.ErrNotExist.
func (p *Pickup) open(name string) (*os.File, *unix.Stat_t, error) {
	f, st, err := p.dir.OpenFile(name)
	switch {
	case errors.Is(err, unix.ELOOP):
		return nil, nil, corrupt("is a symbolic link")
	case errors.Is(err, unix.ENXIO):
		return nil, nil, corrupt("is a socket")
	case errors.Is(err, unix.EACCES):
		return nil, nil, corrupt("not readable by the daemon (mode bits)")
	case err != nil:
		return nil, nil, err
	}
	var why error
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		why = fmt.Errorf("not a regular file (%v)", fileType(st.Mode))
	case st.Nlink != 1:
		why = fmt.Errorf("has %d hard links", st.Nlink)
	case st.Size > p.maxFile():
		why = fmt.Errorf("%d bytes, more than the message size limit allows", st.Size)
	}
	if why != nil {
		return nil, nil, &corruptError{reason: why, f: f, st: st}
	}
	return f, st, nil
}

func fileType(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFCHR, unix.S_IFBLK:
		return "a device"
	case unix.S_IFSOCK:
		return "a socket"
	}
	return fmt.Sprintf("type %#o", mode&unix.S_IFMT)
}

// submit hands the file's message to intake, the same checks and the
// same message as SMTP gets. A permanent refusal is a corruptError (the
// file goes to the quarantine: there is nobody to answer); a temporary
// one leaves the file for the next scan.
func (p *Pickup) submit(ctx context.Context, env maildrop.Envelope, body []byte) (*intake.Accepted, error) {
	in := p.o.Intake
	o := intake.Origin{Kind: intake.Sendmail, UID: env.UID, ClientAddr: fmt.Sprintf("local (uid %d)", env.UID),
		Protocol: "local", Fixup: true, UTF8: true}
	err := in.Sender(env.Sender, true)
	var rcpts []intake.Recipient
	if err == nil {
		rcpts, err = in.Recipients(ctx, o, env.Rcpts)
	}
	var acc *intake.Accepted
	if err == nil {
		acc, err = in.Submit(ctx, intake.Message{Origin: o, Sender: env.Sender, Rcpts: rcpts, Data: body})
	}
	var ie *intake.Error
	switch {
	case err == nil:
		return acc, nil
	case errors.Is(err, intake.ErrNoSpace):
		return nil, fmt.Errorf("enqueue: %w", queue.ErrNoSpace)
	case errors.As(err, &ie) && !ie.Temporary():
		if ie.Field != "" {
			return nil, corrupt("%s: %s", ie.Field, ie.Text)
		}
		return nil, corrupt("%s %s", ie.Enhanced, ie.Text)
	}
	return nil, err
}
