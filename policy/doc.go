// Package policy decides what a reply means and what happens next. It is pure
// functions and plain data: no I/O, no clock, no randomness of its own (the
// caller passes the time and the random draw), so every rule is table-tested.
//
// It owns the reply classifier (class, category, side, suppress), the retry
// schedule arithmetic and the outcome of an attempt (delivered, deferred,
// bounced, failed, expired; suppress or not), and the words shown for each
// category in DSNs, webhooks and mtaq classify (text.go). It does not store
// anything (queue) or decide when work runs (scheduler).
//
// Order of evidence: the 3-digit reply code decides the class; weighed
// evidence decides the category (phrase families of rules.go, the enhanced
// code's and the reply code's priors of priors.go, the learned fallback of
// model.go; the strongest wins, evidence.go); the category decides the side
// and whether the address is suppressed, and an unexplained reply
// suppresses only on evidence about the address (unexplainedSuppresses).
// docs/CLASSIFIER.md has the weights and the accuracy.
package policy
