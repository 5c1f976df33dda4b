package pickup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/mtaq/mtaq/internal/maildrop"
	"github.com/mtaq/mtaq/internal/submission"
	"github.com/mtaq/mtaq/queue"
)

// maxFile bounds a maildrop file: the body limit plus the envelope lines,
// MaxRecipients of them at the longest legal path.
func (p *Pickup) maxFile() int64 {
	return p.o.MaxMessageBytes + int64(p.o.MaxRecipients)*int64(len("rcpt: \n")+256) + 4096
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
	if int64(len(body)) > p.o.MaxMessageBytes {
		return bad(fmt.Errorf("message of %d bytes exceeds the limit of %d", len(body), p.o.MaxMessageBytes))
	}
	m, err := p.message(ctx, env)
	var ce *corruptError
	if errors.As(err, &ce) {
		return bad(ce.reason)
	}
	ok = true
	if err != nil {
		return err
	}
	full := append([]byte(p.received(m, env.UID)), body...)
	m.Size = int64(len(full))
	if err := p.o.Store.Enqueue(ctx, m, full); err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	if p.o.OnQueued != nil {
		p.o.OnQueued(m.ID)
	}
	p.log.Info("queued", zap.String("queue_id", m.ID), zap.String("file", name), zap.Int("uid", env.UID),
		zap.String("sender", m.Sender), zap.Int("rcpts", len(m.Recipients)), zap.Int64("size", m.Size),
		zap.Time("posted", env.Posted))
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

// message builds the envelope as submission does: addresses checked,
// duplicates dropped, suppressed recipients Rejected, the rest due now.
func (p *Pickup) message(ctx context.Context, env maildrop.Envelope) (*queue.Message, error) {
	now := p.o.Clock.Now()
	if env.Sender != "" {
		if _, err := submission.ParseAddress(env.Sender, true); err != nil {
			return nil, corrupt("sender %q: %v", env.Sender, err)
		}
	}
	m := &queue.Message{ID: p.o.NewID(now), Sender: env.Sender, Arrived: now,
		ClientAddr: fmt.Sprintf("local (uid %d)", env.UID)}
	seen := map[string]bool{}
	for _, to := range env.Rcpts {
		if len(seen) == p.o.MaxRecipients && !seen[strings.ToLower(to)] {
			return nil, corrupt("more than %d recipients (the submission limit)", p.o.MaxRecipients)
		}
		a, err := submission.ParseAddress(to, true)
		if err != nil {
			return nil, corrupt("rcpt %q: %v", to, err)
		}
		if seen[strings.ToLower(to)] {
			continue
		}
		seen[strings.ToLower(to)] = true
		r := queue.Recipient{Index: len(m.Recipients), Address: to, Domain: strings.ToLower(a.Domain),
			State: queue.Queued, NextAttempt: now, Updated: now}
		sup, err := p.o.Store.Suppression(ctx, to, now)
		if err != nil {
			return nil, fmt.Errorf("suppression lookup for %s: %w", to, err)
		}
		if sup.Active(now) {
			r.State, r.NextAttempt = queue.Rejected, time.Time{}
		}
		m.Recipients = append(m.Recipients, r)
	}
	return m, nil
}

// received is the trace field for mail handed over locally. Like
// submission it names the recipient only when there is one, so a Bcc
// recipient is never listed.
func (p *Pickup) received(m *queue.Message, uid int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Received: from local (uid %d)\r\n\tby %s (mtaq) with local id %s", uid, p.o.Hostname, m.ID)
	if len(m.Recipients) == 1 {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", m.Recipients[0].Address)
	}
	fmt.Fprintf(&b, ";\r\n\t%s\r\n", m.Arrived.Format(time.RFC1123Z))
	return b.String()
}
