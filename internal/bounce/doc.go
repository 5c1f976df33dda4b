// Package bounce closes the feedback loop. It owns the return path mail
// goes out with (a per-message VERP token at the sender's return-path
// domain, under a secret it keeps), the inbound SMTP listener that takes
// only reports addressed to a valid token or a feedback address, and
// Receive, which turns one report into queue.Feedback: which message and
// recipient it names, whether that can be trusted, and what the policy
// says it means. It does not parse report formats (internal/feedback),
// make the token format (internal/verp), or change state itself (the
// queue's ApplyFeedback does, atomically and once per report).
package bounce
