package delivery

import "fmt"

// The reply handlers of a transaction, shared by the pipelined and the
// lock-step paths. Each returns false when the session is over.

// onRset handles the reply to the RSET that opens a transaction after one
// that did not finish.
func (t *txn) onRset(rep reply, err error) bool {
	switch {
	case err != nil:
		t.lostBeforeMail(err)
		return false
	case rep.Code/100 != 2:
		// 421, or a server out of step with us: nothing is committed.
		r := t.s.result(StageMail, rep)
		t.s.broken = true
		t.end, t.beforeMail = &r, true
		return false
	}
	t.s.dirty = false
	return true
}

func (t *txn) onMail(rep reply, err error) bool {
	s := t.s
	switch {
	case err != nil:
		t.lostBeforeMail(err)
		return false
	case rep.Code == 421:
		r := s.result(StageMail, rep)
		s.broken = true
		t.end, t.beforeMail = &r, true
		return false
	case rep.Code/100 != 2:
		r := s.result(StageMail, rep)
		t.mailRep = &r
		for _, i := range t.batch {
			t.res[i], t.done[i] = r, true
		}
		s.dirty = true
		return s.ext.pipelining // read the RCPT and DATA replies that follow
	}
	s.dirty = true
	s.txns++
	return true
}

func (t *txn) lostBeforeMail(err error) {
	r := t.s.lost(StageMail, "4.4.2", err)
	t.end, t.beforeMail = &r, true
}

// onRcpt records one recipient's reply: 2xx waits for DATA, a "too many
// recipients" goes to the next transaction, anything else is its result;
// a 421 or a lost connection ends the session.
func (t *txn) onRcpt(i int, rep reply, err error) bool {
	s := t.s
	switch {
	case err != nil:
		r := s.lost(StageRcpt, "4.4.2", err)
		t.end = &r
		return false
	case rep.Code == 421:
		r := s.result(StageRcpt, rep)
		s.broken = true
		t.end = &r
		return false
	case t.mailRep != nil:
		return true // drained: the refused MAIL is the result
	}
	t.res[i] = s.result(StageRcpt, rep)
	switch {
	case rep.Code/100 == 2:
		t.accepted = append(t.accepted, i)
	case tooManyRecipients(rep):
		t.retry = append(t.retry, i)
	default:
		t.done[i] = true
	}
	return true
}

// onData handles the reply to DATA: 354 sends the body, anything else is
// the accepted recipients' result. A 354 with nobody accepted (a pipelined
// DATA the server took anyway, RFC 2920 3.1) gets a lone dot, no body.
func (t *txn) onData(body []byte, rep reply, err error) {
	s := t.s
	nobody := len(t.accepted) == 0 || t.mailRep != nil
	switch {
	case err != nil:
		r := s.lost(StageData, "4.4.2", err)
		t.end = &r
	case rep.Code == 354 && nobody:
		if rep, err := s.w.roundTrip("."); err != nil || rep.Code == 421 {
			s.broken = true
		}
		s.dirty = false
	case rep.Code == 354:
		t.sendBody(body)
	case nobody:
		// The expected 503/554 to a pipelined DATA without recipients.
		if rep.Code == 421 {
			r := s.result(StageData, rep)
			s.broken, t.end = true, &r
		}
	default:
		r := s.result(StageData, rep)
		t.setAccepted(r)
		if rep.Code == 421 {
			s.broken, t.end = true, &r
		}
	}
}

// sendBody sends the body and the final dot; the reply, within
// DataTimeout, is every accepted recipient's result. A connection lost
// before that reply may still have delivered (RFC 1047): a soft 4.4.2.
func (t *txn) sendBody(body []byte) {
	s := t.s
	if err := s.w.body(body); err != nil {
		r := s.lost(StageData, "4.4.2", err)
		t.end = &r
		return
	}
	s.dc.setTimeout(s.d.opts.DataTimeout)
	rep, err := s.w.read()
	s.dc.setTimeout(s.d.opts.CommandTimeout)
	if err != nil {
		lost := s.lost(StageData, "4.4.2", err)
		t.end = &lost
		r := lost
		r.Text = fmt.Sprintf("connection to %s [%s] lost after the final dot, the message may have been delivered: %v",
			s.dst.host, s.dst.ip, err)
		t.setAccepted(r)
		return
	}
	s.dirty = false
	r := s.result(StageData, rep)
	t.setAccepted(r)
	if rep.Code == 421 {
		s.broken, t.end = true, &r
	}
}

func (t *txn) setAccepted(r Result) {
	for _, i := range t.accepted {
		t.res[i], t.done[i] = r, true
	}
}

// finish gives r to every recipient of the batch and of rest that has no
// result of its own from this transaction.
func (t *txn) finish(rest []int, r Result) {
	for _, group := range [][]int{t.batch, rest} {
		for _, i := range group {
			if !t.done[i] {
				t.res[i] = r
			}
		}
	}
}
