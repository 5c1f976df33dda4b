// Package intake owns everything between "an app handed us a message"
// and "it is in the queue": address syntax, the envelope, de-duplicated
// recipients, the suppression check, the limits (size, recipients, hops),
// the line rules, the Received field, the header fix-up, the app's labels
// (tag, metadata), and enqueue-then-wake. SMTP submission, sendmail's
// pickup and DSN generation call it, and so will every later way in; it
// speaks no protocol itself (each caller maps an *Error to its own reply)
// and never delivers.
//
// Invariants:
//
//	I1 nothing else builds a queue.Message from outside input: every way
//	   in runs the same checks in the same order and gets the same *Error
//	   for the same input.
//	I2 the bytes committed are the bytes that will be sent: CRLF lines
//	   only, no NUL, none over 998 octets (headers folded, body lines
//	   broken), so a signature over them holds.
//	I3 a trusted message lacking From, Date or Message-ID gets them;
//	   nothing present is ever added to or rewritten.
//	I4 Submit returns nil only after the synced commit, so a caller's
//	   "queued" (250, exit 0, 202) is never early. Transferred (messages
//	   another fleet node hands over, already checked where they came in)
//	   keeps it too: the sender deletes its copy only after that commit.
package intake
