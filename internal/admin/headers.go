package admin

import (
	"bytes"
	"strings"
)

// maxHeaders bounds what ShowMessage returns for a message with a runaway
// header block.
const maxHeaders = 500

// parseHeaders returns the header fields of a stored body in order,
// unfolded, with names as written. net/mail and net/textproto would
// canonicalise names and lose the order, which is what an operator reads.
// Parsing stops at the first empty line or at a line that is neither a
// field nor a continuation (the body of a message with no header block).
func parseHeaders(body []byte) []Header {
	out := []Header{}
	for len(body) > 0 && len(out) <= maxHeaders {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(out) > 0 {
				h := &out[len(out)-1]
				h.Value += " " + strings.TrimSpace(string(line))
			}
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
			break
		}
		out = append(out, Header{Name: string(name), Value: strings.TrimSpace(string(value))})
	}
	return out[:min(len(out), maxHeaders)]
}
