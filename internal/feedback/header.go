package feedback

import (
	"bytes"
	"io"
	"mime"
	"strings"

	"github.com/emersion/go-message/charset"
)

// field is one header or report field, its name lower case and its value
// unfolded.
type field struct{ name, value string }

// hdr is a header in order. Reports are read with this tolerant reader,
// not a strict one: a bounce whose returned header has one broken line
// still names its recipient.
type hdr []field

func (h hdr) get(name string) string {
	for _, f := range h {
		if f.name == name {
			return f.value
		}
	}
	return ""
}

func (h hdr) all(name string) []string {
	var vs []string
	for _, f := range h {
		if f.name == name {
			vs = append(vs, f.value)
		}
	}
	return vs
}

// maxFields bounds one header.
const maxFields = 2000

// parseHeader reads a header up to its blank line and returns it with the
// body after it. A line that is no field is skipped when a field follows
// it, else it is taken as the start of a body that lost its blank line.
func parseHeader(b []byte) (hdr, []byte) {
	var h hdr
	for len(b) > 0 && len(h) < maxFields {
		line, rest := cutLine(b)
		l := strings.TrimRight(string(line), "\r")
		if l == "" {
			return h, rest
		}
		if (l[0] == ' ' || l[0] == '\t') && len(h) > 0 {
			f := &h[len(h)-1]
			if len(f.value) < maxFieldValue {
				f.value = joinFold(f.value, strings.TrimSpace(l))
			}
			b = rest
			continue
		}
		i := indexColon(l)
		if i < 0 {
			next, _ := cutLine(rest)
			if len(h) > 0 && isFieldLine(strings.TrimRight(string(next), "\r")) {
				b = rest
				continue
			}
			return h, b
		}
		h = append(h, field{strings.ToLower(strings.TrimSpace(l[:i])), strings.TrimSpace(cutValid(l[i+1:], maxFieldValue))})
		b = rest
	}
	return h, b
}

func joinFold(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + " " + b
}

// cutLine splits b after its first "\n" (the line keeps no "\n").
func cutLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

var wordDecoder = mime.WordDecoder{CharsetReader: func(cs string, r io.Reader) (io.Reader, error) {
	return charset.Reader(cs, r)
}}

// decodeWords decodes RFC 2047 encoded words; on failure the raw value,
// made valid UTF-8.
func decodeWords(s string) string {
	if strings.Contains(s, "=?") {
		if d, err := wordDecoder.DecodeHeader(s); err == nil {
			s = d
		}
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
