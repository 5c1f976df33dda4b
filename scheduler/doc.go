// Package scheduler decides what runs when. It scans the queue's due index
// for a bounded window of work, leases it (so a crash retries at a sane time,
// not in a tight loop), groups recipients into jobs of one message, one
// domain and at most 100 recipients, serves the per-domain lanes fairly under
// a global worker budget and a per-domain concurrency limit, and turns each
// delivery result into a queue update through policy.
//
// It does not talk SMTP (delivery), classify replies (policy) or store
// anything itself (queue). Memory holds at most Window recipients, however
// large the queue grows.
package scheduler
