package intake

import (
	"bytes"
	"unicode/utf8"
)

// MaxLine is RFC 5321 §4.5.3.1.6: 1000 octets with the CRLF.
const MaxLine = 998

// canonical returns msg as it will be stored and sent (I2): CRLF line
// endings only (a bare CR or LF ends a line: relayed as is they are the
// SMTP smuggling vector), a final CRLF, no NUL, and no line over MaxLine
// octets. A long header line is folded at its last white space within the
// limit; one with no white space to fold at is refused. A long body line is
// broken by inserting CRLF SPACE, as Postfix's smtp_line_length_limit does:
// apps send unwrapped HTML, receivers refuse over-long lines, and base64 or
// quoted-printable lines are never that long. msg is returned unchanged
// (not copied) when it already is canonical, the common case.
func canonical(msg []byte) ([]byte, error) {
	if bytes.IndexByte(msg, 0) >= 0 {
		return nil, ErrNUL
	}
	if isCanonical(msg) {
		return msg, nil
	}
	out := make([]byte, 0, len(msg)+len(msg)/64+2)
	inHeader := true
	for len(msg) > 0 {
		line, rest := nextLine(msg)
		msg = rest
		if inHeader && len(line) == 0 {
			inHeader = false
		}
		var err error
		if inHeader {
			out, err = foldHeader(out, line)
		} else {
			out = breakBody(out, line)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// foldHeader appends a header line, folded at white space so no line
// passes MaxLine. The continuation starts with the white space it was
// folded at (RFC 5322 §2.2.3); a piece of white space only would end the
// header for some parsers, so it is refused like a line with nowhere to
// fold.
func foldHeader(out, line []byte) ([]byte, error) {
	for len(line) > MaxLine {
		cut := bytes.LastIndexAny(line[:MaxLine+1], " \t")
		if cut <= 0 || len(bytes.TrimLeft(line[:cut], " \t")) == 0 {
			return nil, ErrLongHeader
		}
		out = append(out, line[:cut]...)
		out = append(out, '\r', '\n')
		line = line[cut:]
	}
	out = append(out, line...)
	return append(out, '\r', '\n'), nil
}

// breakBody appends a body line, broken by CRLF SPACE every MaxLine
// octets; the inserted space counts toward the next line's length. A
// break never falls inside a UTF-8 sequence: an 8-bit body keeps its
// characters whole.
func breakBody(out, line []byte) []byte {
	limit := MaxLine
	for len(line) > limit {
		cut := limit
		for i := 0; i < utf8.UTFMax-1 && line[cut]&0xC0 == 0x80; i++ {
			cut--
		}
		out = append(out, line[:cut]...)
		out = append(out, '\r', '\n', ' ')
		line = line[cut:]
		limit = MaxLine - 1
	}
	out = append(out, line...)
	return append(out, '\r', '\n')
}

// nextLine splits off the first line of msg without its ending, which is
// CRLF, a bare LF or a bare CR.
func nextLine(msg []byte) (line, rest []byte) {
	i := bytes.IndexAny(msg, "\r\n")
	if i < 0 {
		return msg, nil
	}
	if msg[i] == '\r' && i+1 < len(msg) && msg[i+1] == '\n' {
		return msg[:i], msg[i+2:]
	}
	return msg[:i], msg[i+1:]
}

// isCanonical reports whether every line ends in CRLF, the last one
// included, with no bare CR or LF and none longer than MaxLine.
func isCanonical(msg []byte) bool {
	if len(msg) > 0 && !bytes.HasSuffix(msg, []byte("\r\n")) {
		return false
	}
	for len(msg) > 0 {
		i := bytes.IndexAny(msg, "\r\n")
		if i > MaxLine || msg[i] != '\r' || msg[i+1] != '\n' {
			return false
		}
		msg = msg[i+2:]
	}
	return true
}
