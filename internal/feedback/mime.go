package feedback

import (
	"bytes"
	"html"
	"io"
	"mime"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// msg is a report email taken apart: its header, the texts meant for a
// person, the machine-readable report parts and the returned originals.
type msg struct {
	h          hdr
	reportType string     // report-type of a multipart/report, lower case
	texts      []string   // text parts of the report itself, HTML stripped
	dsn        []string   // message/delivery-status bodies
	arf        []string   // message/feedback-report bodies
	orig       []embedded // returned messages or headers, in order
	parts      int
	textBytes  int // in texts, before HTML was stripped
	nest       int // levels of forwarded reports above this one

	origHdr  hdr // originalHeader's answer, once found
	origDone bool
}

// embedded is a message/rfc822 or text/rfc822-headers part.
type embedded struct {
	h    hdr
	body []byte // nil for headers only
}

func readMessage(raw []byte) *msg {
	h, body := parseHeader(raw)
	m := &msg{h: h}
	m.walk(h, body, 0)
	return m
}

// walk files the entity with header h and raw (still encoded) body.
func (m *msg) walk(h hdr, body []byte, depth int) {
	m.parts++
	if depth > maxDepth || m.parts > maxParts {
		return
	}
	ct, params := contentType(h.get("content-type"))
	switch {
	case strings.HasPrefix(ct, "multipart/"):
		if ct == "multipart/report" && m.reportType == "" {
			m.reportType = strings.ToLower(params["report-type"])
		}
		parts := splitMultipart(body, params["boundary"])
		if parts == nil {
			// No part found: read the body as text rather than lose it.
			m.addText(decode(h, body), "")
			return
		}
		for _, p := range parts {
			ph, pb := parseHeader(p)
			if len(ph) == 0 && len(bytes.TrimSpace(pb)) > 0 {
				pb = p // no header at all: a part with default type
			}
			m.walk(ph, pb, depth+1)
		}
	case ct == "message/delivery-status" || ct == "message/global-delivery-status":
		m.dsn = append(m.dsn, decode(h, body))
	case ct == "message/feedback-report":
		m.arf = append(m.arf, decode(h, body))
	case ct == "message/rfc822" || ct == "message/global" || ct == "message/partial":
		eh, eb := parseHeader([]byte(decode(h, body)))
		m.orig = append(m.orig, embedded{h: eh, body: eb})
	case ct == "text/rfc822-headers" || ct == "message/global-headers" || ct == "message/rfc822-headers":
		eh, _ := parseHeader([]byte(decode(h, body)))
		m.orig = append(m.orig, embedded{h: eh})
	case ct == "" || strings.HasPrefix(ct, "text/"):
		if strings.EqualFold(strings.TrimSpace(h.get("content-disposition")), "attachment") && ct != "text/plain" {
			return
		}
		m.addText(decode(h, body), ct)
	}
}

// addText files a text part, cut to maxTextPart and to what is left of
// maxTextTotal: what a report says for people is said in its first pages,
// and every heuristic then works on a bounded text (F1).
func (m *msg) addText(s, ct string) {
	left := maxTextTotal - m.textBytes
	if left <= 0 {
		return
	}
	s = cutValid(s, min(left, maxTextPart))
	m.textBytes += len(s)
	m.texts = append(m.texts, textOf(s, ct))
}

// cutValid is s cut to n bytes on a rune boundary.
func cutValid(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s[max(0, len(s)-4):]) {
		s = s[:len(s)-1]
	}
	return s
}

// contentType is the lower-case media type and its parameters; a broken
// field keeps what can be read from it. No field means text/plain.
func contentType(v string) (string, map[string]string) {
	if strings.TrimSpace(v) == "" {
		return "text/plain", map[string]string{}
	}
	ct, params, err := mime.ParseMediaType(v)
	if err == nil {
		return ct, params
	}
	t, rest, _ := strings.Cut(v, ";")
	params = map[string]string{}
	for _, kv := range []string{"boundary", "report-type", "charset"} {
		if sm := regexp.MustCompile(`(?i)\b` + kv + `\s*=\s*"?([^";]+)"?`).FindStringSubmatch(rest); sm != nil {
			params[kv] = strings.TrimSpace(sm[1])
		}
	}
	return strings.ToLower(strings.TrimSpace(t)), params
}

// splitMultipart returns the raw parts of a multipart body: go-message's
// reader first; when it finds nothing or stops on a broken part, a
// line-based split on the boundary (or the first "--token" line when the
// boundary is missing or wrong) that accepts what the reader refuses.
func splitMultipart(body []byte, boundary string) [][]byte {
	var parts [][]byte
	if boundary != "" {
		mr := textproto.NewMultipartReader(bytes.NewReader(body), boundary)
		for len(parts) < maxParts {
			p, err := mr.NextPart()
			if err == io.EOF {
				return parts
			}
			if err != nil {
				break
			}
			var b bytes.Buffer
			textproto.WriteHeader(&b, p.Header) //nolint:errcheck // a bytes.Buffer does not fail
			if _, err := io.Copy(&b, p); err != nil {
				break
			}
			parts = append(parts, b.Bytes())
		}
	}
	if lp := splitLines(body, boundary); len(lp) > len(parts) {
		return lp
	}
	if len(parts) == 0 {
		return nil
	}
	return parts
}

// splitLines is the hand split for broken multiparts.
func splitLines(body []byte, boundary string) [][]byte {
	if boundary == "" || !bytes.Contains(body, []byte("--"+boundary)) {
		boundary = guessBoundary(body)
		if boundary == "" {
			return nil
		}
	}
	delim := []byte("--" + boundary)
	var parts [][]byte
	var cur []byte
	in := false
	for rest := body; len(rest) > 0 && len(parts) < maxParts; {
		line, next := cutLine(rest)
		t := bytes.TrimRight(line, " \t\r")
		if bytes.HasPrefix(t, delim) && (len(t) == len(delim) || bytes.Equal(t[len(delim):], []byte("--"))) {
			if in {
				parts = append(parts, cur)
			}
			cur, in = nil, len(t) == len(delim)
			if !in {
				break
			}
			rest = next
			continue
		}
		if in {
			cur = append(cur, rest[:len(rest)-len(next)]...)
		}
		rest = next
	}
	if in && len(cur) > 0 {
		parts = append(parts, cur)
	}
	return parts
}

// guessBoundary is the token of the first "--token" line followed by a
// Content-Type field within a few lines.
func guessBoundary(body []byte) string {
	lines := strings.Split(string(body[:min(len(body), 256<<10)]), "\n")
	for i, l := range lines {
		l = strings.TrimRight(l, "\r \t")
		if !strings.HasPrefix(l, "--") || len(l) < 6 || strings.ContainsAny(l, " \t") {
			continue
		}
		for _, n := range lines[i+1 : min(len(lines), i+4)] {
			if strings.HasPrefix(strings.ToLower(n), "content-") {
				return strings.TrimSuffix(l[2:], "--")
			}
		}
	}
	return ""
}

// decode undoes the transfer encoding and, for text, the charset (through
// go-message); what cannot be decoded is kept raw. The result is valid
// UTF-8.
func decode(h hdr, body []byte) string {
	mh := message.Header{}
	if v := h.get("content-type"); v != "" {
		mh.Set("Content-Type", v)
	}
	if v := h.get("content-transfer-encoding"); v != "" {
		mh.Set("Content-Transfer-Encoding", strings.ToLower(strings.TrimSpace(v)))
	}
	e, _ := message.New(mh, bytes.NewReader(body))
	out := body
	if e != nil {
		if b, err := io.ReadAll(io.LimitReader(e.Body, int64(3*len(body)+1024))); err == nil || len(b) > 0 {
			out = b
		}
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

var (
	reTags   = regexp.MustCompile(`(?s)<(script|style)\b.*?</(script|style)>|<!--.*?-->`)
	reBreaks = regexp.MustCompile(`(?i)<(br|/p|p|/div|div|/tr|tr|li|/h\d|/table|hr)\b[^>]*>`)
	reAnyTag = regexp.MustCompile(`<[^>]*>`)
	reCell   = regexp.MustCompile(`(?i)</t[dh]>`)
	// reMailto is a link to an address: Exchange and Office 365 show the
	// display name and keep the address only in the href.
	reMailto   = regexp.MustCompile(`(?is)<a\b[^>]*?href\s*=\s*["']?mailto:([^"'>?\s]+)[^>]*>(.{0,300}?)</a>`)
	reBlankRun = regexp.MustCompile(`\n[ \t]*\n([ \t]*\n)+`)
)

// textOf normalises a text part: "\n" line ends; HTML turned into lines.
func textOf(s, ct string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	if ct == "text/html" || (ct == "" && strings.Contains(strings.ToLower(s[:min(len(s), 512)]), "<html")) {
		s = reTags.ReplaceAllString(s, "")
		s = reMailto.ReplaceAllStringFunc(s, mailtoText)
		s = reBreaks.ReplaceAllString(s, "\n")
		s = reCell.ReplaceAllString(s, " ")
		s = reAnyTag.ReplaceAllString(s, "")
		s = htmlUnescape(s)
		s = reBlankRun.ReplaceAllString(s, "\n\n")
	}
	return s
}

// htmlUnescape undoes entities, numeric ones too ("&#64;" hides '@');
// no-break spaces become spaces.
func htmlUnescape(s string) string {
	return strings.ReplaceAll(html.UnescapeString(s), "\u00a0", " ")
}

// mailtoText renders a mailto link as its text, followed by the address
// in angle brackets when the text does not show it.
func mailtoText(a string) string {
	sm := reMailto.FindStringSubmatch(a)
	addr, text := sm[1], reAnyTag.ReplaceAllString(sm[2], "")
	if u, err := url.PathUnescape(addr); err == nil {
		addr = u
	}
	if strings.Contains(html.UnescapeString(text), "@") {
		return text
	}
	return text + " <" + addr + ">"
}
