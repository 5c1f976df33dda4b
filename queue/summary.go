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
	from = fieldValue(headers, "From")
	subject = fieldValue(headers, "Subject")
	if d, err := wordDecoder.DecodeHeader(subject); err == nil {
		subject = d
	}
	return capRunes(from), capRunes(subject)
}

// fieldValue returns the first name field of a header block (CRLF lines),
// unfolded and trimmed; "" when there is none.
func fieldValue(headers, name string) string {
	name = textproto.CanonicalMIMEHeaderKey(name)
	var cur, value string
	found := false
	for _, line := range strings.Split(headers, "\r\n") {
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			value += line
			continue
		}
		if found {
			break
		}
		cur, value, _ = strings.Cut(line, ":")
		found = textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(cur)) == name
	}
	if !found {
		return ""
	}
	return strings.TrimSpace(value)
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
