package queue

import (
	"mime"
	"net/textproto"
	"strings"
)

// maxSummary caps the From and Subject kept with a message for events.
const maxSummary = 256

var wordDecoder mime.WordDecoder

// summary returns the From and Subject fields of a header block, unfolded,
// the Subject decoded from RFC 2047 words, each capped at maxSummary
// octets: what a webhook shows an app about the message.
func summary(headers string) (from, subject string) {
	var name, value string
	flush := func() {
		switch textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(name)) {
		case "From":
			if from == "" {
				from = strings.TrimSpace(value)
			}
		case "Subject":
			if subject == "" {
				subject = strings.TrimSpace(value)
				if d, err := wordDecoder.DecodeHeader(subject); err == nil {
					subject = d
				}
			}
		}
	}
	for _, line := range strings.Split(headers, "\r\n") {
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			value += line
			continue
		}
		flush()
		name, value, _ = strings.Cut(line, ":")
	}
	flush()
	return capRunes(from), capRunes(subject)
}

// capRunes cuts s to maxSummary octets without splitting a character.
func capRunes(s string) string {
	if len(s) <= maxSummary {
		return s
	}
	s = s[:maxSummary]
	for len(s) > 0 && s[len(s)-1]&0xC0 == 0x80 {
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[len(s)-1] >= 0xC0 {
		s = s[:len(s)-1]
	}
	return s
}
