package delivery

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// maxRcptsPerTxn bounds the recipients of one transaction; RFC 5321
// 4.5.3.1.8 has every server take at least 100.
const maxRcptsPerTxn = 100

// send delivers the session's job in as many transactions as it takes:
// batches of at most 100 recipients, and those a server turned away with
// "452 4.5.3 too many recipients" again in a new transaction on the same
// connection. Every recipient gets a result, except when nothing was
// committed on the first transaction: then fail is set and the caller
// fails over, or, on a connection from the idle pool, stale is set and
// the caller opens a fresh one (the pooled connection's trouble is never
// anyone's result).
func (s *session) send(body []byte) (res []Result, fail *Result, stale bool) {
	if f := s.refuse(body); f != nil {
		return nil, f, false
	}
	res = make([]Result, len(s.job.Rcpts))
	todo := s.valid(res)
	if len(todo) == 0 {
		if f := s.allNeedUTF8(res); f != nil {
			return nil, f, false // another host may offer SMTPUTF8
		}
		return res, nil, false
	}
	mail := s.mailCmd(body, todo)
	for first := true; len(todo) > 0; first = false {
		n := min(len(todo), maxRcptsPerTxn)
		t := &txn{s: s, res: res, mail: mail, batch: todo[:n], done: map[int]bool{}}
		t.run(body)
		rest := append(t.retry, todo[n:]...)
		switch {
		case first && t.beforeMail && s.reused && s.ctx.Err() == nil:
			return nil, nil, true
		case first && t.beforeMail && t.end.Code == 0 && !s.reused:
			return nil, t.end, false
		case t.end != nil:
			t.finish(rest, *t.end)
			return res, nil, false
		case t.mailRep != nil:
			t.finish(rest, *t.mailRep)
			return res, nil, false
		case len(t.retry) == len(t.batch):
			// Not one recipient taken or refused: stop rather than loop;
			// the 452 is everyone's (soft) result.
			t.finish(rest, res[t.retry[0]])
			return res, nil, false
		}
		todo = rest
	}
	return res, nil, false
}

// errNoUTF8 is the local 5.6.7 of RFC 6531 3.4: the address needs
// SMTPUTF8 and the server does not offer it (no downgrade is attempted).
var errNoUTF8 = errors.New("the address is not ASCII and the server does not offer SMTPUTF8")

// refuse checks what the whole transaction needs before MAIL. An 8-bit
// body needs 8BITMIME (RFC 6152): without it the message is not sent raw
// and not converted (quoted-printable conversion could come later), it
// fails with 5.6.3 "conversion required but not supported". A sender with
// a non-ASCII local part needs SMTPUTF8 (RFC 6531), else 5.6.7 for all.
// Domains are A-labels by now (wireJob): only local parts need SMTPUTF8.
func (s *session) refuse(body []byte) *Result {
	var err error
	enh := ""
	switch {
	case !isASCII(s.job.Sender) && !s.ext.utf8:
		enh, err = "5.6.7", fmt.Errorf("sender: %w", errNoUTF8)
	case has8bit(body) && !s.ext.eightBit:
		enh, err = "5.6.3", errors.New("the message has 8-bit content and the server does not offer 8BITMIME; conversion to 7 bit is not supported")
	default:
		return nil
	}
	r := s.local(StageMail, enh, err)
	return &r
}

// valid returns the indices of the recipients that can be sent; the
// others get a local result without a word to the server: 5.1.3 for an
// address that would corrupt the command, 5.6.7 for one that needs
// SMTPUTF8 when the server lacks it. Only those fail: their ASCII
// co-recipients still go.
func (s *session) valid(res []Result) []int {
	var todo []int
	for i, rcpt := range s.job.Rcpts {
		switch err := checkAddr(rcpt); {
		case err != nil:
			res[i] = s.local(StageRcpt, "5.1.3", fmt.Errorf("recipient: %w", err))
		case !isASCII(rcpt) && !s.ext.utf8:
			res[i] = s.local(StageRcpt, "5.6.7", fmt.Errorf("recipient: %w", errNoUTF8))
		default:
			todo = append(todo, i)
		}
	}
	return todo
}

// allNeedUTF8 returns the failure to fail over with when every recipient
// was held back for SMTPUTF8 alone: nothing was sent, and another
// exchanger may offer it.
func (s *session) allNeedUTF8(res []Result) *Result {
	for _, r := range res {
		if r.Enhanced != "5.6.7" {
			return nil
		}
	}
	r := s.local(StageMail, "5.6.7", errors.New("every recipient is not ASCII and the server does not offer SMTPUTF8"))
	return &r
}

// mailCmd is the MAIL command with the ESMTP parameters the server offers
// and the message needs: SIZE (RFC 1870), BODY=8BITMIME (RFC 6152),
// SMTPUTF8 (RFC 6531) when the sender or a recipient to be sent is not
// ASCII.
func (s *session) mailCmd(body []byte, todo []int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "MAIL FROM:<%s>", s.job.Sender)
	if s.ext.size {
		fmt.Fprintf(&b, " SIZE=%d", len(body))
	}
	if s.ext.eightBit && has8bit(body) {
		b.WriteString(" BODY=8BITMIME")
	}
	utf8 := !isASCII(s.job.Sender)
	for _, i := range todo {
		utf8 = utf8 || !isASCII(s.job.Rcpts[i])
	}
	if utf8 && s.ext.utf8 {
		b.WriteString(" SMTPUTF8")
	}
	return b.String()
}

// has8bit runs over every body before it is sent (twice when the server
// offers 8BITMIME), so it tests eight bytes at a time.
func has8bit(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return true
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// txn is one MAIL transaction for a batch of recipients (indices into
// the job's Rcpts and res).
type txn struct {
	s        *session
	res      []Result
	mail     string
	batch    []int
	accepted []int        // RCPT 2xx: their result is DATA's
	retry    []int        // too many recipients: next transaction
	done     map[int]bool // has a result of its own from this transaction
	mailRep  *Result      // MAIL refused: everyone's result
	end      *Result      // the session is over (421, lost): for everyone without a result
	// beforeMail: the session ended before MAIL (or the RSET before it)
	// was answered: nothing was committed.
	beforeMail bool
}

func (t *txn) run(body []byte) {
	if t.s.ext.pipelining {
		t.pipelined(body)
	} else {
		t.lockstep(body)
	}
}

// pipelined sends [RSET], MAIL, every RCPT and DATA in one write and then
// reads their replies in order (RFC 2920 3.1). Every reply is read even
// after MAIL was refused, to stay in step; the body goes only after a 354
// with at least one recipient accepted.
func (t *txn) pipelined(body []byte) {
	w, rset := t.s.w, t.s.dirty
	if rset {
		w.cmd("RSET")
	}
	w.cmd("%s", t.mail)
	for _, i := range t.batch {
		w.cmd("RCPT TO:<%s>", t.s.job.Rcpts[i])
	}
	if !t.s.job.probe {
		w.cmd("DATA")
	}
	if err := w.flush(); err != nil {
		t.lostBeforeMail(err)
		return
	}
	if rset && !t.onRset(w.read()) {
		return
	}
	if !t.onMail(w.read()) {
		return
	}
	for _, i := range t.batch {
		rep, err := w.read()
		if !t.onRcpt(i, rep, err) {
			return
		}
	}
	if t.s.job.probe {
		t.probed()
		return
	}
	rep, err := w.read()
	t.onData(body, rep, err)
}

// probed ends a probe's transaction after RCPT: each accepted recipient's
// result is its RCPT reply; the session is QUIT, never reused.
func (t *txn) probed() {
	for _, i := range t.accepted {
		t.done[i] = true
	}
}

// lockstep sends one command at a time; after a "too many recipients" the
// rest of the batch waits for the next transaction unsent.
func (t *txn) lockstep(body []byte) {
	w := t.s.w
	if t.s.dirty && !t.onRset(w.roundTrip("RSET")) {
		return
	}
	if !t.onMail(w.roundTrip("%s", t.mail)) || t.mailRep != nil {
		return
	}
	for k, i := range t.batch {
		rep, err := w.roundTrip("RCPT TO:<%s>", t.s.job.Rcpts[i])
		if !t.onRcpt(i, rep, err) {
			return
		}
		if len(t.retry) > 0 {
			t.retry = append(t.retry, t.batch[k+1:]...)
			break
		}
	}
	if t.s.job.probe {
		t.probed()
		return
	}
	if len(t.accepted) > 0 {
		rep, err := w.roundTrip("DATA")
		t.onData(body, rep, err)
	}
}
