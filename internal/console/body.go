package console

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
	"unicode/utf8"
)

// preview is what the message page shows of a body: the text part decoded,
// and the HTML part as source (and, served apart, in a sandboxed frame).
// Nothing of it is ever rendered as the console's own markup.
type preview struct {
	Text      string
	HTML      string
	Truncated bool
	Parts     []string // the MIME types seen, in order
}

// maxParts bounds the walk over a hostile multipart tree.
const maxParts = 100

// makePreview walks the stored message (CRLF lines) for its first
// text/plain and first text/html parts. A part it cannot decode is shown
// raw: the preview is for reading, never for trusting.
func makePreview(raw []byte) *preview {
	p := &preview{}
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw)))
	h, err := tp.ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		p.Text = clip(p, string(raw))
		return p
	}
	p.walk(h, tp.R, 0)
	if p.Text == "" && p.HTML == "" {
		p.Text = "(no text or HTML part)"
	}
	return p
}

func (p *preview) walk(h textproto.MIMEHeader, body io.Reader, depth int) {
	if len(p.Parts) >= maxParts || depth > 10 {
		return
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = "text/plain"
	}
	p.Parts = append(p.Parts, mt)
	if strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if err != nil {
				return
			}
			p.walk(part.Header, part, depth+1)
		}
	}
	if mt != "text/plain" && mt != "text/html" {
		return
	}
	if strings.HasPrefix(strings.ToLower(h.Get("Content-Disposition")), "attachment") {
		return
	}
	var r io.Reader = io.LimitReader(body, maxPreviewLen*2)
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &stripSpace{r: r})
	}
	b, _ := io.ReadAll(r) // what decoded before an error is still worth showing
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if mt == "text/plain" && p.Text == "" {
		p.Text = clip(p, s)
	} else if mt == "text/html" && p.HTML == "" {
		p.HTML = clip(p, s)
	}
}

func clip(p *preview, s string) string {
	if len(s) > maxPreviewLen {
		p.Truncated = true
		s = strings.ToValidUTF8(s[:maxPreviewLen], "")
	}
	return s
}

// stripSpace drops line breaks and spaces from base64 text.
type stripSpace struct{ r io.Reader }

func (s *stripSpace) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	j := 0
	for _, c := range b[:n] {
		if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
			b[j] = c
			j++
		}
	}
	return j, err
}
