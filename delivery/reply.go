package delivery

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-smtp"
)

// reply is one SMTP reply as read by the transaction layer: the three-digit
// code, the RFC 3463 code that starts its text (RFC 2034), and the text of
// its lines joined by "\n" with the code and a repeated enhanced code
// removed from each.
type reply struct {
	Code     int
	Enhanced string
	Text     string
}

func (r reply) String() string {
	if r.Enhanced == "" {
		return fmt.Sprintf("%d %s", r.Code, r.Text)
	}
	return fmt.Sprintf("%d %s %s", r.Code, r.Enhanced, r.Text)
}

// Bounds on what a server may send as one reply. RFC 5321 4.5.3.1.5 allows
// 512 octets a line; verbose servers exceed it, so we allow more, but a
// peer streaming an endless line or an endless multiline reply is cut off.
const (
	maxReplyLine  = 4096
	maxReplyLines = 256
)

// errBadReply is a reply that is not SMTP: the connection is out of step
// and is treated as lost.
var errBadReply = errors.New("malformed reply")

// readReply reads one reply (RFC 5321 4.2): lines "250-text" while more
// follow, then "250 text" or a bare "250". Every line must carry the same
// code. A bare LF ends a line as CRLF does.
func readReply(r *bufio.Reader) (reply, error) {
	var lines []string
	code := 0
	for {
		line, err := readLine(r)
		if err != nil {
			return reply{}, err
		}
		c, more, text, err := parseReplyLine(line)
		if err != nil {
			return reply{}, err
		}
		if len(lines) > 0 && c != code {
			return reply{}, fmt.Errorf("%w: code %d inside a %d reply", errBadReply, c, code)
		}
		code = c
		lines = append(lines, text)
		if !more {
			break
		}
		if len(lines) >= maxReplyLines {
			return reply{}, fmt.Errorf("%w: more than %d lines", errBadReply, maxReplyLines)
		}
	}
	enh, text := replyText(code, lines)
	return reply{Code: code, Enhanced: enh, Text: text}, nil
}

// readLine returns one line without its line ending, refusing lines longer
// than maxReplyLine.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxReplyLine+2 {
			return nil, fmt.Errorf("%w: line longer than %d octets", errBadReply, maxReplyLine)
		}
		switch {
		case err == nil:
			line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return nil, err
		}
	}
}

// parseReplyLine splits "250-text" / "250 text" / "250". The code is
// 2xx..5xx: SMTP has no 1xx replies.
func parseReplyLine(line []byte) (code int, more bool, text string, err error) {
	if len(line) < 3 || line[0] < '2' || line[0] > '5' || !isDigit(line[1]) || !isDigit(line[2]) {
		return 0, false, "", fmt.Errorf("%w: %q", errBadReply, clip(line))
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if len(line) == 3 {
		return code, false, "", nil
	}
	switch line[3] {
	case '-':
		more = true
	case ' ':
	default:
		return 0, false, "", fmt.Errorf("%w: %q", errBadReply, clip(line))
	}
	return code, more, string(line[4:]), nil
}

// replyText takes the enhanced code off the first line when its class
// matches the reply's (a "250 5.1.1" is not trusted), and off every later
// line that repeats it.
func replyText(code int, lines []string) (string, string) {
	enh, first := splitEnhanced(lines[0])
	if enh != "" && int(enh[0]-'0') != code/100 {
		enh, first = "", lines[0]
	}
	out := make([]string, len(lines))
	out[0] = first
	for i, l := range lines[1:] {
		if enh != "" {
			l = strings.TrimPrefix(l, enh+" ")
		}
		out[i+1] = l
	}
	return enh, strings.Join(out, "\n")
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// clip shortens a line quoted in an error.
func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// tooManyRecipients reports a RCPT reply that means "no more recipients in
// this transaction" rather than anything about the address: 452 with 4.5.3
// or the classic text (RFC 5321 4.5.3.1.10), and the old 552 form, which
// RFC 5321 says to treat as temporary in this sense.
func tooManyRecipients(r reply) bool {
	if r.Code != 452 && r.Code != 552 {
		return false
	}
	return r.Enhanced == "4.5.3" || r.Enhanced == "5.5.3" ||
		strings.Contains(strings.ToLower(r.Text), "too many recipients")
}

// asReply returns the server reply inside err, or nil when err is nil or
// not a reply (network trouble, a local refusal by go-smtp).
func asReply(err error) *smtp.SMTPError {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	return nil
}

// replyFields turns a go-smtp reply into Code, Enhanced and Text. go-smtp
// parses an enhanced code off the text when it can; when it did not (the
// EnhancedCodeNotSet or NoEnhancedCode sentinels), we try the text again.
func replyFields(se *smtp.SMTPError) (int, string, string) {
	e := se.EnhancedCode
	if e != smtp.EnhancedCodeNotSet && e != smtp.NoEnhancedCode {
		return se.Code, fmt.Sprintf("%d.%d.%d", e[0], e[1], e[2]), se.Message
	}
	enh, text := splitEnhanced(se.Message)
	return se.Code, enh, text
}

// splitEnhanced splits an RFC 3463 code ("5.1.1") off the start of a reply
// text; enhanced is "" when the text has none.
func splitEnhanced(text string) (enhanced, rest string) {
	first, after, _ := strings.Cut(text, " ")
	if !validEnhanced(first) {
		return "", text
	}
	return first, after
}

// validEnhanced checks class "." subject "." detail, class 2, 4 or 5,
// subject 1–3 digits, detail 1–3 digits.
func validEnhanced(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || !strings.ContainsAny(parts[0], "245") {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) == 0 || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}
