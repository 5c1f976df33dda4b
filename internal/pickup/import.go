package pickup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/maildrop"
	"github.com/mtaq/mtaq/internal/submission"
	"github.com/mtaq/mtaq/queue"
)

// maxFile bounds a maildrop file: the body limit plus the envelope lines,
// MaxRecipients of them at the longest legal path.
func (p *Pickup) maxFile() int64 {
	return p.o.MaxMessageBytes + int64(p.o.MaxRecipients)*int64(len("rcpt: \n")+256) + 4096
}

func corrupt(f string, a ...any) error { return &corruptError{fmt.Errorf(f, a...)} }

// importFile enqueues one file and removes it (P1).
func (p *Pickup) importFile(ctx context.Context, name string) error {
	path := filepath.Join(p.o.Dir, name)
	data, owner, err := p.read(path)
	if err != nil {
		return err
	}
	env, body, err := maildrop.Parse(data)
	if err != nil {
		return &corruptError{err}
	}
	if env.UID != owner {
		return corrupt("uid field %d, but the file belongs to uid %d", env.UID, owner)
	}
	if int64(len(body)) > p.o.MaxMessageBytes {
		return corrupt("message of %d bytes exceeds the limit of %d", len(body), p.o.MaxMessageBytes)
	}
	m, err := p.message(ctx, env)
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
	if err := os.Remove(path); err != nil {
		p.log.Error("removing an imported maildrop file; it will be imported again", zap.String("file", name), zap.Error(err))
		return nil
	}
	if err := maildrop.SyncDir(p.o.Dir); err != nil {
		p.log.Warn("syncing the maildrop", zap.Error(err))
	}
	return nil
}

// read opens path without following symlinks and checks it is a regular
// file with one link and a bounded size before reading it (P3).
func (p *Pickup) read(path string) ([]byte, int, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, 0, corrupt("is a symbolic link")
	}
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	switch {
	case !info.Mode().IsRegular():
		return nil, 0, corrupt("not a regular file (%v)", info.Mode().Type())
	case !ok:
		return nil, 0, errors.New("no owner information on this platform")
	case st.Nlink != 1:
		return nil, 0, corrupt("has %d hard links", st.Nlink)
	case info.Size() > p.maxFile():
		return nil, 0, corrupt("%d bytes, more than the message size limit allows", info.Size())
	}
	data, err := io.ReadAll(io.LimitReader(f, p.maxFile()+1))
	return data, int(st.Uid), err
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
