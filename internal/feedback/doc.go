// Package feedback reads a report email — a delivery status notification
// (RFC 3464, RFC 6533), a spam complaint (RFC 5965 ARF and its redacting
// variants), a human-readable bounce from an MTA that sends no DSN, or an
// RFC 3834 auto-reply — into a Report: its kind, the recipients it is
// about with action, status and the remote reply, and what it says about
// the original message (queue ID, VERP token, Message-ID).
//
// The free-text heuristics weigh who sent a message, its subject and its
// wording; the wording comes from the per-language phrase tables in
// phrases.go, so a new language or producer is a line there, not code.
//
// It owns reading: MIME, transfer encodings and charsets (through
// go-message), the report formats and the heuristics for free text. It
// does not decide effects (suppression, events), does not trust anything
// it finds — a queue ID or token is a syntactic candidate the caller must
// verify — and stores nothing. The reply's class and category come from
// the caller's Options.Classify, so the package imports no policy.
//
// Rules:
//
//	F1 Parse never panics and its work is bounded: input over MaxBytes is
//	   refused, MIME nesting, parts, recipients and text are capped; the
//	   heuristics read at most maxTextTotal bytes of text parts and a
//	   bounded subject and field values (TestParseHostileBig: 10 MiB
//	   inputs of the costly shapes).
//	F2 structured data wins: a delivery-status or feedback-report part is
//	   read before any free-text heuristic, and the heuristics only run
//	   when no structured recipient was found.
//	F3 anything shaped like an email yields a Report (KindNotBounce when
//	   nothing in it is a report); an error means not an email or too big.
//	F4 a redacted complaint recipient is reported with Address "", never
//	   a guess.
package feedback
