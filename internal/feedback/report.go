package feedback

// report decides the kind and reads the recipients, structured data first
// (F2), then free text, then auto-replies.
func (m *msg) report() *Report {
	rep := &Report{Subject: cutValid(decodeWords(cutValid(m.h.get("subject"), 4*maxSubject)), maxSubject), Auto: m.isAuto()}
	if len(m.arf) == 0 && len(m.dsn) == 0 && m.nest < 2 {
		// A report forwarded whole as an attachment is read before the
		// outer message's own signs, which describe the forwarder.
		if f := m.forwarded(); f != nil && (len(f.arf) > 0 || len(f.dsn) > 0) {
			if inner := f.report(); inner.Kind == KindComplaint || inner.Kind == KindDSN {
				inner.Subject, inner.Auto = rep.Subject, rep.Auto
				return inner
			}
		}
	}
	m.findOriginal(rep)
	switch {
	case m.complaint(rep):
	case m.structuredDSN(rep):
		rep.Kind = KindDSN
	case m.strongAutoReply(rep) && !m.bounceFirst(rep):
		rep.Kind = KindAutoReply
	case m.humanBounce(rep), m.challenge(rep):
		rep.Kind = KindDSN
	case m.autoReply(rep):
		rep.Kind = KindAutoReply
	default:
		rep.Kind = KindNotBounce
		if f := m.forwarded(); f != nil && m.nest < 2 {
			// A report forwarded whole (an abuse desk, a gateway that
			// wraps what it returns): read the inner one.
			if inner := f.report(); inner.Kind == KindComplaint || inner.Kind == KindDSN {
				inner.Subject, inner.Auto = rep.Subject, rep.Auto
				return inner
			}
		}
	}
	return rep
}

// bounceFirst: an auto-reply sign on a message that is plainly a bounce
// (its subject says so and a mail system sent it): bounces carry
// Auto-Submitted too.
func (m *msg) bounceFirst(rep *Report) bool {
	return subjectSaysBounce(rep.Subject) && m.isDaemonSender()
}

// forwarded is the first attached message read as a report of its own,
// nil when there is none.
func (m *msg) forwarded() *msg {
	for _, e := range m.orig {
		if e.body != nil && len(e.h) > 0 {
			inner := &msg{h: e.h, parts: m.parts, nest: m.nest + 1}
			inner.walk(e.h, e.body, 1)
			return inner
		}
	}
	return nil
}
