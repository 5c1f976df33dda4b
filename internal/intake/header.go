package intake

import (
	"bytes"
	"net/mail"
	"strings"
	"time"
)

// Field is one header field as it appeared, continuation lines included.
type Field struct {
	Name string // as written; compare with strings.EqualFold
	Raw  []byte // "Name: value\r\n\tmore\r\n"
}

// Value is the unfolded text after the colon.
func (f Field) Value() string {
	_, v, _ := bytes.Cut(f.Raw, []byte(":"))
	return strings.TrimSpace(strings.NewReplacer("\r\n", "", "\n", "").Replace(string(v)))
}

// SplitHeader splits a CRLF message into its header fields and body. The
// header ends at the first empty line, or at the first line that is
// neither a field nor a continuation: then the whole rest is body, as in
// "echo hi | sendmail root". sep reports whether an empty line ended it.
func SplitHeader(msg []byte) (fields []Field, body []byte, sep bool) {
	rest := msg
	for len(rest) > 0 {
		i := bytes.Index(rest, []byte("\r\n"))
		if i < 0 {
			return fields, rest, false
		}
		line := rest[:i+2]
		switch {
		case i == 0:
			return fields, rest[2:], true
		case (line[0] == ' ' || line[0] == '\t') && len(fields) > 0:
			fields[len(fields)-1].Raw = append(fields[len(fields)-1].Raw, line...)
		default:
			name, ok := FieldName(line)
			if !ok {
				return fields, rest, false
			}
			fields = append(fields, Field{Name: name, Raw: append([]byte(nil), line...)})
		}
		rest = rest[i+2:]
	}
	return fields, nil, false
}

// FieldName returns the name of a "Name: value" line (RFC 5322 ftext,
// obsolete white space before the colon allowed).
func FieldName(line []byte) (string, bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return "", false
	}
	name := strings.TrimRight(string(line[:i]), " \t")
	if name == "" {
		return "", false
	}
	for _, c := range []byte(name) {
		if c < 33 || c > 126 {
			return "", false
		}
	}
	return name, true
}

// Has reports whether fields hold one named name.
func Has(fields []Field, name string) bool {
	for _, f := range fields {
		if strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

// countReceived counts Received: fields; a loop shows up as many.
func countReceived(fields []Field) int {
	n := 0
	for _, f := range fields {
		if strings.EqualFold(f.Name, "received") {
			n++
		}
	}
	return n
}

// fixup is what a trusted client's message gets when it lacks them
// (Postfix's cleanup does the same for local clients): Gmail refuses mail
// without a Message-ID, and apps rely on the MTA for Date and From.
type fixup struct {
	id, hostname, sender, fullName string
	at                             time.Time
}

// author is the address an added From names: the envelope sender, or
// MAILER-DAEMON at hostname for the null sender.
func (x fixup) author() string {
	if x.sender == "" {
		return "MAILER-DAEMON@" + x.hostname
	}
	return x.sender
}

// missing returns the fields to add, in the order From, Date, Message-ID;
// none when the message has them. Nothing present is ever rewritten.
func (x fixup) missing(fields []Field) []byte {
	var out []byte
	if !Has(fields, "from") {
		out = append(out, "From: "+(&mail.Address{Name: x.fullName, Address: x.author()}).String()+"\r\n"...)
	}
	if !Has(fields, "date") {
		out = append(out, "Date: "+x.at.Format(time.RFC1123Z)+"\r\n"...)
	}
	if !Has(fields, "message-id") {
		out = append(out, "Message-ID: <"+x.id+"@"+x.hostname+">\r\n"...)
	}
	return out
}
