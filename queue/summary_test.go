package queue

import (
	"strings"
	"testing"
)

func TestSummary(t *testing.T) {
	h := "Received: x\r\nfrom: \"App\" <app@example.org>\r\nSubject: =?UTF-8?B?V2lsbGtvbW1lbiwgSsO2cmc=?=\r\n\tand more\r\nSubject: second\r\n"
	from, subject := summary(h)
	if from != `"App" <app@example.org>` || subject != "Willkommen, Jörg\tand more" {
		t.Fatalf("from %q subject %q", from, subject)
	}
	_, subject = summary("Subject: " + strings.Repeat("é", 200) + "\r\n")
	if len(subject) > maxSummary || !strings.HasSuffix(subject, "é") {
		t.Fatalf("capped subject: %d octets, %q", len(subject), subject[len(subject)-4:])
	}
	if from, subject := summary(""); from != "" || subject != "" {
		t.Fatal("empty header")
	}
}
