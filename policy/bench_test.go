package policy

import (
	"regexp"
	"testing"
)

// benchReplies are the replies a busy relay sees most: success, greylisting,
// rate limits, unknown users, full mailboxes, blocklists, and one with an
// enhanced code only in the text.
var benchReplies = []Reply{
	{Code: 250, Enhanced: "2.0.0", Text: "OK queued as 4Bx1"},
	{Code: 451, Enhanced: "4.7.1", Text: "Greylisted, please try again in 300 seconds"},
	{Code: 421, Enhanced: "4.7.0", Text: "Try again later, closing connection. (rate limited)"},
	{Code: 550, Enhanced: "5.1.1", Text: "The email account that you tried to reach does not exist."},
	{Code: 452, Enhanced: "4.2.2", Text: "The email account that you tried to reach is over quota."},
	{Code: 554, Enhanced: "5.7.1", Text: "Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"},
	{Code: 550, Text: "sorry, no mailbox here by that name (#5.1.1 - chkusr)"},
	{Code: 0, Enhanced: "4.4.1", Text: "connect to 127.0.0.1: connection refused"},
}

// BenchmarkClassify is the per-recipient cost of turning a reply into a
// verdict with the built-in rules, then with two operator rules in front
// (the regexp one matches none of the replies, so every call tries both).
func BenchmarkClassify(b *testing.B) {
	b.Run("builtin", func(b *testing.B) {
		var c *Classifier
		benchClassify(b, c)
	})
	b.Run("rules", func(b *testing.B) {
		c := &Classifier{Rules: []Rule{
			{Name: "acme", Code: 550, Enhanced: "5.7.", Text: regexp.MustCompile(`(?i)temporarily blocked`), Class: Soft},
			{Name: "corp", Domain: "corp.example", Category: PolicyRejected},
		}}
		benchClassify(b, c)
	})
}

func benchClassify(b *testing.B, c *Classifier) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := benchReplies[i%len(benchReplies)]
		if v := c.Classify(r, "example.com"); v.Class == "" {
			b.Fatalf("no class for %+v", r)
		}
		i++
	}
}
