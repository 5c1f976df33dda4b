package submission

import (
	"errors"
	"io"

	"github.com/emersion/go-smtp"
	"go.uber.org/zap"

	"github.com/mtaq/mtaq/queue"
)

// Data reads and checks the body, commits the message and only then answers
// 250 with the queue ID (S1). Every error is an *smtp.SMTPError: go-smtp
// turns a plain error into a 554 that leaks its text.
func (ss *session) Data(r io.Reader) error {
	body, err := readBody(r, ss.s.opts.MaxMessageBytes)
	if err != nil {
		return ss.readError(err)
	}
	if countReceived(body) > ss.s.opts.MaxReceived {
		return errTooManyHops
	}
	m := ss.message()
	m.Recipients = ss.rcpts
	full := make([]byte, 0, len(body)+256)
	full = append(full, ss.received(m)...)
	full = append(full, body...)
	m.Size = int64(len(full))

	if err := ss.s.opts.Store.Enqueue(ss.s.ctx, m, full); err != nil {
		ss.s.log.Error("enqueue failed", zap.String("sender", m.Sender),
			zap.Int("rcpts", len(m.Recipients)), zap.String("client", m.ClientAddr), zap.Error(err))
		if errors.Is(err, queue.ErrNoSpace) {
			return errNoSpace
		}
		return errStorage
	}
	if ss.s.opts.OnQueued != nil {
		ss.s.opts.OnQueued(m.ID)
	}
	ss.s.log.Info("queued", zap.String("queue_id", m.ID), zap.String("sender", m.Sender),
		zap.Int("rcpts", len(m.Recipients)), zap.Int("rejected", countState(m, queue.Rejected)),
		zap.Int64("size", m.Size), zap.String("client", m.ClientAddr), zap.String("helo", m.Helo))
	// go-smtp writes a returned SMTPError as the reply whatever its code,
	// which is the only way to put the queue ID into the 250 line.
	return reply(250, 2, 0, 0, "Ok: queued as "+m.ID)
}

// message builds the envelope at arrival time. Pending recipients are due
// at once; suppressed ones are final (Rejected) and get no due time.
func (ss *session) message() *queue.Message {
	now := ss.s.opts.Clock.Now()
	m := &queue.Message{
		Sender:     ss.sender,
		Arrived:    now,
		ClientAddr: ss.clientAddr(),
		Helo:       ss.conn.Hostname(),
	}
	if ss.s.opts.NewID != nil {
		m.ID = ss.s.opts.NewID(now)
	}
	for i := range ss.rcpts {
		rc := &ss.rcpts[i]
		rc.Updated = now
		if rc.State == queue.Queued {
			rc.NextAttempt = now
		}
	}
	return m
}

// received is the trace field mtaq prepends; the recipient is named only
// when there is one, so a message does not list its Bcc recipients.
func (ss *session) received(m *queue.Message) string {
	t := traceInfo{helo: m.Helo, ip: m.ClientAddr, hostname: ss.s.opts.Hostname, id: m.ID, at: m.Arrived}
	if len(m.Recipients) == 1 {
		t.rcpt = m.Recipients[0].Address
	}
	return receivedField(t)
}

// readError turns a body read failure into a reply. After a timeout the
// connection refuses further reads (idleConn), so go-smtp closes it once
// the 451 is written.
func (ss *session) readError(err error) error {
	var se *smtp.SMTPError
	switch {
	case errors.Is(err, errTooBig), errors.As(err, &se) && se.Code == 552:
		return errSize
	case errors.Is(err, errNUL):
		return errNULByte
	case errors.Is(err, smtp.ErrTooLongLine):
		return errLineTooLong
	case isTimeout(err):
		ss.s.log.Info("data timeout", zap.String("client", ss.clientAddr()))
		return errDataTimeout
	}
	ss.s.log.Info("data read failed", zap.String("client", ss.clientAddr()), zap.Error(err))
	return errDataRead
}

func countState(m *queue.Message, s queue.State) int {
	n := 0
	for _, r := range m.Recipients {
		if r.State == s {
			n++
		}
	}
	return n
}
