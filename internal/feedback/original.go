package feedback

import (
	"regexp"
	"strings"
)

var (
	// mtaq's trace field: "by HOST (mtaq) with ESMTP id QUEUEID".
	reQueueID = regexp.MustCompile(`\(mtaq\)\s+with\s+\S+\s+id\s+([0-9A-HJKMNP-TV-Z]{16})\b`)
	// A VERP local part (internal/verp), either case: some MTAs fold it.
	reToken = regexp.MustCompile(`(?i)\bb-[0-9a-hjkmnp-tv-z]{16}-[0-9a-hjkmnp-tv-z]{10}\b`)
)

// noteToken keeps the first VERP token in v.
func noteToken(rep *Report, v string) {
	if rep.Original.Token != "" {
		return
	}
	if t := reToken.FindString(v); t != "" {
		rep.Original.Token = strings.ToLower(t)
	}
}

// originalHeader is the header of the returned message: the first
// attached message or header part, else a header block quoted in the
// text; nil when there is none.
func (m *msg) originalHeader() hdr {
	if m.origDone {
		return m.origHdr
	}
	m.origDone = true
	for _, e := range m.orig {
		if len(e.h) > 0 {
			m.origHdr = e.h
			return m.origHdr
		}
	}
	for _, t := range m.texts {
		if h, _ := inlineHeader(t); h != nil {
			m.origHdr = h
			return h
		}
	}
	return nil
}

// findOriginal fills what the report says of the original message. The
// report's own envelope fields come first for the token: that is where
// the return path the bounce was sent to ends up.
func (m *msg) findOriginal(rep *Report) {
	for _, k := range []string{"to", "delivered-to", "x-original-to", "envelope-to", "x-envelope-to", "x-rcpt-to", "x-delivered-to"} {
		for _, v := range m.h.all(k) {
			noteToken(rep, v)
		}
	}
	h := m.originalHeader()
	o := &rep.Original
	if h != nil {
		if o.MessageID == "" {
			o.MessageID = strings.Trim(firstWord(h.get("message-id")), "<>")
		}
		for _, v := range h.all("received") {
			if sm := reQueueID.FindStringSubmatch(v); sm != nil && o.QueueID == "" {
				o.QueueID = sm[1]
			}
		}
		for _, k := range []string{"return-path", "x-envelope-from", "sender", "from"} {
			noteToken(rep, h.get(k))
		}
		if o.Sender == "" {
			for _, k := range []string{"return-path", "from"} {
				if a := firstAddr(h.get(k)); a != "" {
					o.Sender = a
					break
				}
			}
		}
		if o.Recipient == "" {
			o.Recipient = m.originalRecipient()
		}
	}
	if o.QueueID == "" || o.Token == "" {
		// Last resort: any mention in the texts (quoted headers that were
		// not recognised as a block, a forwarded report).
		for _, t := range append(append([]string{}, m.texts...), m.dsn...) {
			if o.QueueID == "" {
				if sm := reQueueID.FindStringSubmatch(t); sm != nil {
					o.QueueID = sm[1]
				}
			}
			noteToken(rep, t)
		}
		for _, e := range m.orig {
			if o.QueueID == "" {
				if sm := reQueueID.FindStringSubmatch(string(e.body[:min(len(e.body), 64<<10)])); sm != nil {
					o.QueueID = sm[1]
				}
			}
		}
	}
}

// reOrigField is a field that opens a quoted original header block.
var reOrigField = regexp.MustCompile(`(?i)^(?:>\s*)?(received|return-path|from|to|subject|date|message-id|dkim-signature|mime-version|content-type|x-[a-z0-9-]+|delivered-to|reply-to|sender|cc|authentication-results|arc-[a-z-]+|list-unsubscribe|feedback-id):[ \t]`)

// inlineHeader finds a header block quoted in a bounce's text (MTAs that
// return the original inline): at least three field lines in a row, one
// of them From, Subject, Message-ID, Date or Received. It returns the
// block and the offset where it starts; nil and -1 when there is none.
func inlineHeader(t string) (hdr, int) {
	lines := strings.SplitAfter(t, "\n")
	off := 0
	for i := 0; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], "\r\n")
		if reOrigField.MatchString(strings.TrimLeft(l, " \t")) {
			var block strings.Builder
			fields, key := 0, false
			base := indent(l)
			j := i
			for ; j < len(lines) && j < i+400; j++ {
				lj := strings.TrimRight(lines[j], "\r\n")
				s := strings.TrimPrefix(strings.TrimLeft(lj, " \t"), "> ")
				if s == "" {
					break
				}
				if ind := indent(lj); ind > base && fields > 0 {
					block.WriteString(" " + s + "\n")
					continue
				} else if ind < base || indexColon(s) < 0 {
					break
				}
				fields++
				n := strings.ToLower(s[:indexColon(s)])
				key = key || n == "from" || n == "subject" || n == "message-id" || n == "date" || n == "received"
				block.WriteString(s + "\n")
			}
			if fields >= 3 && key {
				h, _ := parseHeader([]byte(block.String()))
				if h.get("final-recipient") == "" && h.get("feedback-type") == "" {
					return h, off
				}
			}
			// Lines already scanned cannot open a better block: skipping
			// them keeps this linear on hostile input.
			for ; i < j-1; i++ {
				off += len(lines[i])
			}
		}
		off += len(lines[i])
	}
	return nil, -1
}

// indent is the width of l's leading blanks (a tab counts 8).
func indent(l string) int {
	n := 0
	for _, c := range l {
		switch c {
		case ' ':
			n++
		case '\t':
			n += 8
		default:
			return n
		}
	}
	return n
}
