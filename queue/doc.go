// Package queue holds accepted mail until every recipient is final, and keeps
// a compact record of each message (envelope, per-recipient timeline) for a
// retention period afterwards. It owns persistence in one Pebble database and
// the recipient state machine; it does not decide when to retry (scheduler),
// whether a reply is soft or hard (policy) or how to deliver (delivery).
//
// Durability: every method that changes state commits one synced Pebble
// batch before it returns, so a caller may acknowledge (e.g. answer 250) as
// soon as it returns nil. Pebble groups concurrent synced commits into one
// fsync. Lease, Apply and Enqueue (without an idempotency key) let their
// stripes go once their batch is applied,
// before its fsync (commitRelease): the next writer of the same message or
// address reads what is not yet durable, but its batch follows in the WAL,
// so it cannot be durable without the first. One exception: AddSent (the u/ warm-up counters, sent.go) does
// not sync; the synced Lease that follows it does.
//
// Besides mail, the queue keeps two kinds of transport-security records for
// the daemon (transport.go), opaque to it and outside every invariant below:
// l/<domain>, delivery's MTA-STS policy cache, and y/<yyyymmdd>/<domain>,
// a day's TLS-RPT counts (internal/tlsrpt). The key layout is in keys.go.
//
// Invariants (checked by Store.Check):
//
//	Q1 a pending recipient (queued, deferred) has exactly one due-index key,
//	   at its NextAttempt; a final or held recipient has none.
//	Q2 the next attempt time is persisted (Lease) before an attempt starts, so
//	   a crash mid-attempt retries at that time, never in a tight loop.
//	Q3 a recipient's final state, its timeline entry and its suppression
//	   entry are written in one batch.
//	Q4 a message's body exists until every recipient is final, and is
//	   removed in the batch that makes the last recipient final.
//	Q5 an event (e/<seq>) is written in the batch of the state change it
//	   reports; Events returns only seqs at or below the committed
//	   watermark, so a reader never skips one that commits later
//	   (E1, E2 in outbox.go).
//	D1 a consumer's dead letters lie at or below its cursor, written in the
//	   batch that moves the cursor past them; D2 none outlives its cursor
//	   (consumer.go).
//	H1 a recipient that becomes delivered or bounced is merged into its
//	   address's history (h/<address>: last delivered, last bounced) in
//	   the batch that makes it so, under the address's stripe, so the
//	   record is never older than a retained recipient's outcome
//	   (history.go). TrimHistory drops records older than its horizon.
//	Q6 with the shared outbox on ([cluster]), a local suppression change
//	   writes its p/ entry in its own batch, in per-address order; entries
//	   leave only once the shared list has them (shared.go).
//	R1 the rollup's counters (o/: outcomes per hour and per day and
//	   destination, waiting recipients per destination) change as Pebble
//	   merge operands in the batch of the state change they count, so
//	   concurrent batches never lose a delta and a replay never repeats
//	   one; R2 o/w/<domain> equals its pending recipients (rollup.go).
//	W1 no due key lies below the in-memory due watermark that Due and NextDue
//	   seek to, so scans skip the tombstones at the head of the due index
//	   (duemark.go).
//	F1 the in-memory suppression filter never calls a suppressed address
//	   absent: each s/ write adds the address first, under its stripe, and
//	   a rebuild takes every stripe to start (suppfilter.go).
//
// Key prefixes are single letters (keys.go lists them); u/ holds the
// per-day sent counters of source addresses, for warm-up caps (sent.go).
package queue
