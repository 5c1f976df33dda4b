// Package dsn writes delivery status notifications (RFC 3464 inside an RFC
// 6522 multipart/report) to the envelope sender of mail that failed for
// good, and optionally warns about mail that is still being retried. It
// owns the DSN's text and the decision whether one is sent; it does not
// decide why a recipient failed (policy), keep state (queue) or deliver
// the DSN (it is enqueued like any other message).
//
// Rules:
//
//	D1 a DSN goes out with the null envelope sender <>, so it can never
//	   bounce back and loop (RFC 5321 §4.5.5).
//	D2 no DSN is ever written for a message whose envelope sender is <>:
//	   that covers DSNs, other MTAs' bounces and auto-replies sent
//	   properly. An Auto-Submitted header alone does not stop a DSN (RFC
//	   3461/3834 leave failure notices to the envelope, not the header).
//	D3 one DSN per original message per handled event batch, covering every
//	   recipient that failed (or is being warned about) together.
//	D4 at least once: a crash between enqueueing a DSN and the cursor
//	   moving may send it twice; never zero times once the event exists.
//	D5 a delay warning goes out once per recipient: on the first deferred
//	   attempt at least DelayWarning after arrival, judged from the
//	   recipient's persisted timeline, so a restart does not repeat it
//	   (a replayed event batch after a crash may, see D4).
//
// Wiring (done by the integrator, where the events dispatcher's handlers
// are listed; dsn.enabled = false leaves the handler out):
//
//	if c.DSN.Enabled {
//		handlers = append(handlers, dsn.NewHandler(dsn.Options{Store: store, Hostname: c.Hostname,
//			Clock: clk, DelayWarning: c.DSN.DelayWarning.Duration, Expire: c.Retry.Expire.Duration,
//			MaxHeaders: c.DSN.MaxHeaders, Logger: log}))
//	}
//
// Known gaps: ESMTP DSN parameters (NOTIFY, RET, ENVID, ORCPT) are not
// offered by the submission server, so Input.EnvID stays empty and
// NOTIFY=NEVER is not honoured (a per-user dsn = false is the switch);
// DSNs for non-ASCII (SMTPUTF8) addresses use plain rfc822 types, not
// RFC 6533's message/global-delivery-status.
package dsn
