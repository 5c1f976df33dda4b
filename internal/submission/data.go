package submission

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"sync"
	"syscall"

	"github.com/emersion/go-smtp"
	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/intake"
)

// Data reads and checks the body, commits the message and only then answers
// 250 with the queue ID (S1). Every error is an *smtp.SMTPError: go-smtp
// turns a plain error into a 554 that leaks its text.
func (ss *session) Data(r io.Reader) error {
	_, bdat := r.(*io.PipeReader)
	if ss.idle != nil {
		ss.idle.inData.Store(true)
		defer ss.idle.inData.Store(false)
		ss.idle.inBody.Store(true) // until Reset, which go-smtp calls after draining
	}
	if bdat && ss.idle != nil {
		ss.idle.inBDAT.Store(true)
		defer ss.idle.inBDAT.Store(false)
	}
	sp := newBodySpool(ss.s.opts.SpoolDir, ss.s.opts.SpoolThreshold, ss.s.inFlight)
	defer func() {
		if err := sp.discard(); err != nil {
			ss.s.log.Error("removing a spooled body", zap.Error(err))
		}
	}()
	if err := receiveBody(r, sp, ss.s.opts.MaxMessageBytes); err != nil {
		return ss.readError(err)
	}
	if bdat && ss.idle != nil && ss.idle.eof.Load() {
		// go-smtp v0.25.1 ends a BDAT chunk quietly at EOF, so a LAST
		// chunk cut short looks complete. A complete one is never read
		// past, so EOF seen by now means the chunk was truncated. (Under
		// TLS a close_notify ends it above this layer: not caught here.)
		ss.s.log.Info("bdat chunk cut short by EOF", zap.String("client", ss.clientAddr()))
		return errDataRead
	}
	ended := clock.Real{}.Now()           // latency is wall time, whatever clock dates the mail
	full, err := sp.load(intake.Headroom) // the body's one copy in memory, already charged to the budget
	if err != nil {
		return ss.readError(err)
	}
	acc, err := ss.s.in.Submit(ss.s.ctx, intake.Message{Origin: ss.origin(), Sender: ss.sender, Rcpts: ss.rcpts,
		Data: full, Headroom: intake.Headroom})
	if err != nil {
		return smtpReply(err)
	}
	if ss.s.opts.OnAccepted != nil {
		ss.s.opts.OnAccepted(clock.Real{}.Now().Sub(ended))
	}
	ss.s.log.Info("queued", zap.String("queue_id", acc.ID), zap.String("sender", ss.sender),
		zap.Int("rcpts", len(ss.rcpts)), zap.Int("rejected", acc.Rejected),
		zap.Int64("size", acc.Size), zap.String("client", ss.clientAddr()), zap.String("helo", ss.conn.Hostname()))
	// go-smtp writes a returned SMTPError as the reply whatever its code,
	// which is the only way to put the queue ID into the 250 line.
	return reply(250, 2, 0, 0, "Ok: queued as "+acc.ID)
}

// readError turns a body read failure into a reply. After a timeout the
// connection refuses further reads (idleConn), so go-smtp closes it once
// the 451 is written.
func (ss *session) readError(err error) error {
	var se *smtp.SMTPError
	switch {
	case errors.Is(err, errShuttingDown):
		return errShuttingDown
	case errors.Is(err, errBudget):
		ss.s.log.Warn("refused: bytes in flight over max_bytes_in_flight", zap.String("client", ss.clientAddr()))
		return errBusy
	case errors.As(err, new(spoolError)):
		ss.s.log.Error("spooling a body", zap.String("client", ss.clientAddr()), zap.Error(err))
		if errors.Is(err, syscall.ENOSPC) {
			return errNoSpace
		}
		return errStorage
	case errors.Is(err, errTooBig), errors.As(err, &se) && se.Code == 552:
		return errSize
	case errors.Is(err, errNUL):
		return errNULByte
	case errors.Is(err, smtp.ErrTooLongLine):
		return errLineTooLong
	case isTimeout(err):
		ss.s.log.Info("data timeout", zap.String("client", ss.clientAddr()))
		return errDataTimeout
	case errors.Is(err, smtp.ErrDataReset):
		// RSET or EHLO between BDAT chunks. go-smtp v0.25.1's aborted Data
		// goroutine then races the next BDAT's result channel (it may hand
		// that transaction a stale reply), so end the connection instead.
		ss.conn.Close()
		return errDataRead
	}
	ss.s.log.Info("data read failed", zap.String("client", ss.clientAddr()), zap.Error(err))
	return errDataRead
}

// Errors of receiveBody; the session turns them into replies.
var (
	errTooBig = errors.New("message exceeds the size limit")
	errNUL    = errors.New("message contains a NUL byte")
)

// readBody is receiveBody into memory only, for tests.
func readBody(r io.Reader, limit int64) ([]byte, error) {
	sp := newBodySpool("", math.MaxInt, &byteBudget{})
	defer sp.discard()
	if err := receiveBody(r, sp, limit); err != nil {
		return nil, err
	}
	return sp.load(0)
}

// receiveBody reads a DATA body (already dot-unstuffed by go-smtp) into sp
// with every line ending as CRLF: bare LF and bare CR each become CRLF,
// because go-smtp passes them through and a relayed bare LF is the SMTP
// smuggling vector. NUL bytes are refused: they cannot be relayed over
// 8BITMIME and are never legitimate in text mail. At most limit bytes of
// output are kept; one more fails with errTooBig, so what is held stays
// bounded whatever the client sends. Read errors are returned as they are,
// the spool's own (errBudget, spoolError) too.
func receiveBody(r io.Reader, sp *bodySpool, limit int64) error {
	br := bodyReaders.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() {
		br.Reset(nil) // drop r; the buffer's bytes were all copied into sp
		bodyReaders.Put(br)
	}()
	n := &normaliser{out: sp, limit: limit}
	for {
		chunk, err := br.ReadSlice('\n')
		if werr := n.write(chunk); werr != nil {
			return werr
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return n.finish()
		default:
			return err
		}
	}
}

// bodyReaders recycles receiveBody's 32 KiB line buffers: a new one per
// message was a third of the bytes the relay allocated (smtp-source sends
// one message per connection) and zeroing it ~2 % of its CPU (profile in
// docs/BENCHMARKS.md section 10).
var bodyReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 32<<10) }}

// normaliser is the line-ending state machine of receiveBody. It is fed
// in arbitrary chunks, so a CR ending one chunk waits for the next
// (pendingCR).
type normaliser struct {
	out       *bodySpool
	limit     int64
	pendingCR bool
}

func (n *normaliser) write(p []byte) error {
	// The usual chunk is one line already ending in CRLF with no other CR
	// and no NUL (receiveBody reads up to each LF): it goes out as it is,
	// one write instead of one per part.
	if k := len(p); !n.pendingCR && k >= 2 && p[k-2] == '\r' && p[k-1] == '\n' &&
		bytes.IndexByte(p[:k-2], '\r') < 0 && bytes.IndexByte(p, 0) < 0 && bytes.IndexByte(p[:k-1], '\n') < 0 {
		n.out.write(p)
		return n.check()
	}
	for len(p) > 0 {
		if n.pendingCR {
			n.pendingCR = false
			n.out.writeCRLF()
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		i := bytes.IndexAny(p, "\r\n\x00")
		if i < 0 {
			n.out.write(p)
			break
		}
		n.out.write(p[:i])
		switch p[i] {
		case 0:
			return errNUL
		case '\r':
			n.pendingCR = true
		case '\n':
			n.out.writeCRLF()
		}
		p = p[i+1:]
		if err := n.check(); err != nil {
			return err
		}
	}
	return n.check()
}

func (n *normaliser) check() error {
	if n.out.n > n.limit {
		return errTooBig
	}
	return n.out.err
}

// finish flushes a trailing CR and ends an unterminated last line, so the
// stored body always ends in CRLF.
func (n *normaliser) finish() error {
	if n.pendingCR {
		n.pendingCR = false
		n.out.writeCRLF()
	}
	if n.out.n > 0 && !n.out.endsCRLF() {
		n.out.writeCRLF()
	}
	return n.check()
}

// protocol is the Received field's "with" (RFC 3848): ESMTP, plus S
// under TLS, plus A once authenticated.
func (ss *session) protocol() string {
	p := "ESMTP"
	if ss.tls {
		p += "S"
	}
	if ss.user != nil {
		p += "A"
	}
	return p
}
