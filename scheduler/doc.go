// Package scheduler decides what runs when. It scans the queue's due index
// for a bounded window of work, leases it (so a crash retries at a sane time,
// not in a tight loop), groups recipients into jobs of one message, one
// domain and at most 100 recipients, serves the per-domain lanes fairly under
// a global worker budget and a per-domain concurrency limit, and turns each
// delivery result into a queue update through policy.
//
// With source pools (pools.go) each job also takes a source address of
// its message's pool, and a destination is a domain from one source
// address; a warming pool's daily caps move what exceeds them to the next
// day, a local deferral.
//
// It does not talk SMTP (delivery), classify replies (policy) or store
// anything itself (queue). Memory holds at most Window recipients, however
// large the queue grows.
package scheduler
