package dsn

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Action is a recipient's RFC 3464 Action field.
type Action string

// Actions mtaq reports.
const (
	Failed  Action = "failed"
	Delayed Action = "delayed"
)

// DefaultMaxHeaders caps the original header block quoted in a DSN.
const DefaultMaxHeaders = 16 << 10

// Input is everything one DSN says.
type Input struct {
	Hostname  string    // Reporting-MTA and the From domain
	ID        string    // the DSN's own queue ID: Message-ID and boundary
	Now       time.Time // Date
	To        string    // the original envelope sender
	QueueID   string    // the original message's queue ID
	EnvID     string    // Original-Envelope-Id (RFC 3461 ENVID), "" if none
	Arrived   time.Time // Arrival-Date of the original
	Headers   []byte    // the original header block (CRLF lines)
	MaxHeader int       // cap on Headers; 0 means DefaultMaxHeaders
	Rcpts     []Recipient
}

// Recipient is one per-recipient block of the report.
type Recipient struct {
	Address    string
	Action     Action
	Expired    bool   // failed because the retry period ran out
	Code       int    // SMTP reply code, 0 for a local failure
	Enhanced   string // RFC 3463 code from the reply, or ""
	Text       string // reply text (lines joined by "\n")
	Category   string // policy category, for the human-readable part
	MX         string // the host that answered, "" if none did
	LastTry    time.Time
	RetryUntil time.Time // for delays: when mtaq gives up
}

// Build returns the DSN message (CRLF lines) for in.
func Build(in Input) ([]byte, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	headers := capHeaders(in.Headers, in.MaxHeader)
	text := humanText(in)
	status := deliveryStatus(in)
	boundary := pickBoundary(in, text, status, headers)

	var b bytes.Buffer
	in.writeEnvelope(&b, boundary)
	b.WriteString("This is a MIME-encapsulated message.\r\n\r\n")
	part(&b, boundary, "text/plain; charset=utf-8", text)
	part(&b, boundary, "message/delivery-status", status)
	part(&b, boundary, "text/rfc822-headers", headers)
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes(), nil
}

// maxPath is RFC 5321's limit on a path (4.5.3.1.3); the queue never holds
// a longer address, and a longer one would not fit its DSN line.
const maxPath = 256

func (in *Input) check() error {
	switch {
	case in.Hostname == "":
		return errors.New("dsn: no hostname")
	case in.To == "":
		return errors.New("dsn: no recipient (null sender gets no DSN)")
	case len(in.Rcpts) == 0:
		return errors.New("dsn: no recipients to report")
	}
	for _, r := range in.Rcpts {
		if r.Action != Failed && r.Action != Delayed {
			return fmt.Errorf("dsn: recipient %q: action %q", r.Address, r.Action)
		}
		if len(r.Address) > maxPath {
			return fmt.Errorf("dsn: recipient address of %d octets, over %d", len(r.Address), maxPath)
		}
	}
	return nil
}

// failed reports whether the DSN reports any failure (else it is a warning).
func (in *Input) failed() bool {
	for _, r := range in.Rcpts {
		if r.Action == Failed {
			return true
		}
	}
	return false
}

func (in *Input) writeEnvelope(b *bytes.Buffer, boundary string) {
	host := clean(in.Hostname)
	subject := "Delayed Mail (still being retried)"
	if in.failed() {
		subject = "Undelivered Mail Returned to Sender"
	}
	fmt.Fprintf(b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", host)
	fmt.Fprintf(b, "To: <%s>\r\n", clean(in.To))
	fmt.Fprintf(b, "Subject: %s\r\n", subject)
	fmt.Fprintf(b, "Date: %s\r\n", in.Now.Format(time.RFC1123Z))
	fmt.Fprintf(b, "Message-ID: <%s.dsn@%s>\r\n", clean(in.ID), host)
	b.WriteString("Auto-Submitted: auto-replied\r\n")
	b.WriteString("MIME-Version: 1.0\r\n")
	fmt.Fprintf(b, "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n\r\n",
		boundary)
}

// part writes one body part; content ends with CRLF or is empty.
func part(b *bytes.Buffer, boundary, ctype, content string) {
	fmt.Fprintf(b, "--%s\r\nContent-Type: %s\r\n", boundary, ctype)
	if !isASCII(content) {
		b.WriteString("Content-Transfer-Encoding: 8bit\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(content)
	b.WriteString("\r\n")
}

// pickBoundary derives a boundary from the DSN's identity (so output is
// reproducible) and changes it in the unlikely case a part contains it.
func pickBoundary(in Input, parts ...string) string {
	sum := sha256.Sum256([]byte(in.Hostname + "\x00" + in.ID + "\x00" + in.QueueID))
	base := "=_mtaq_" + hex.EncodeToString(sum[:9])
	for n := 0; ; n++ {
		bd := base
		if n > 0 {
			bd = fmt.Sprintf("%s_%d", base, n)
		}
		clash := false
		for _, p := range parts {
			if strings.Contains(p, bd) {
				clash = true
				break
			}
		}
		if !clash {
			return bd
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// capHeaders returns the header block cut at the last whole field that fits
// in max octets, CRLF-terminated; a bare LF is taken as a line end.
func capHeaders(h []byte, max int) string {
	if max <= 0 {
		max = DefaultMaxHeaders
	}
	if i := bytes.Index(h, []byte("\r\n\r\n")); i >= 0 {
		h = h[:i+2]
	}
	var out strings.Builder
	for _, f := range fields(h) {
		if out.Len()+len(f) > max {
			break
		}
		out.WriteString(f)
	}
	return out.String()
}

// foldLong breaks a header line longer than maxLine into continuation
// lines, at the last space that fits or else at the limit: submission
// takes lines up to 8 KiB, and a quoted header must not break the DSN.
func foldLong(line string) string {
	if len(line) <= maxLine {
		return line
	}
	var b strings.Builder
	// Each later line starts with the folding space, so at most
	// maxLine-1 octets of the field go on any line.
	for len(line) > maxLine-1 {
		cut := strings.LastIndexByte(line[1:maxLine-1], ' ') + 1 // never 0: a line holds something
		if cut <= 0 {
			cut = maxLine - 1
		}
		b.WriteString(line[:cut])
		b.WriteString("\r\n ")
		line = strings.TrimLeft(line[cut:], " ")
	}
	b.WriteString(line)
	return b.String()
}

// fields splits a header block into fields, each with its continuation
// lines and a CRLF per line. It stops at the first empty line.
func fields(h []byte) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(strings.ReplaceAll(string(h), "\r\n", "\n"), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			break
		}
		cont := line[0] == ' ' || line[0] == '\t'
		if cont && cur.Len() == 0 {
			continue // a continuation with no field to continue
		}
		if !cont && cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
		cur.WriteString(foldLong(strings.ReplaceAll(line, "\r", " ")))
		cur.WriteString("\r\n")
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}
