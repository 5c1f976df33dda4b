package feedback

import (
	"regexp"
	"strings"
)

// Free-text bounces: the MTAs that send no DSN (or bury a useless one)
// all say the same few things in different words — an address on a line
// of its own or after "to", an SMTP reply near it, a sentence of failure
// around it. These are the general patterns, not any one MTA's layout.
var (
	reBounceSubject = phraseRE(`(?i)`, bounceSubjects)
	reDaemonLocal   = regexp.MustCompile(`(?i)^(?:mailer[-_.]?daemon|mail[-_.]?daemon|postmaster|mdaemon|mail[-_.]?delivery|bounces?|bounce[-+].*|nobody|mailerd|mail[-_.]?admin|mail[-_.]?system|root|noreply[-_.]?dsn|dsn)$`)
	reDaemonName    = regexp.MustCompile(`(?i)mail delivery (?:subsystem|system|service)|mailer[- ]daemon|postmaster|microsoft outlook|microsoft exchange|mail administrator|system administrator|mail ?system|mail ?server|mail gateway|delivery status|delivery subsystem`)
	reFailPhrase    = phraseRE(`(?i)`, failPhrases)
	reDelayPhrase   = phraseRE(`(?i)`, delayPhrases)
	reDelaySubject  = phraseRE(`(?i)`, delaySubjects)
	reGiveUp        = regexp.MustCompile(`(?i)giving up|gave up|permanent(?:ly)?|fatal|will not be retried|no further attempts|has been returned|returned to sender|could not be delivered to one or more|failed to deliver|delivery has failed|undeliverable`)
	reCutOriginal   = regexp.MustCompile(`(?im)^[ \t>]*(?:-{2,}.*(?:original|copy of|returned message|headers|message follows|below this line|rejected message)|original message headers|original message follows|original message:|(?:a )?copy of the (?:original )?message|(?:the )?headers of the original|below this line is a copy|------ this is a copy|content-type: message/rfc822|message headers follow|-+ ?forwarded message|-----original message-----)`)
	reCue           = regexp.MustCompile(`(?i)(?:^|\s)(?:to|recipients?|address(?:es)?|rcpt to|for|user|mailbox|delivered to|deliver to|destinataire|empfänger|destinatario|failed|address not found|recipient address|original-recipient|final-recipient)\s*:?\s*["'<(\[]?$`)
	reBullet        = regexp.MustCompile(`^[\s<"'(\[*•·>\-]*(?:\d+[.)]\s*)?$|^\s*[^\s:<>@(][^:<>@()]{0,60}[(<]$`)
	reHeaderish     = regexp.MustCompile(`(?i)^\s*(?:from|sender|return-path|reply-to|message-id|in-reply-to|references|x-[a-z0-9-]+|dkim-signature|list-[a-z]+|authentication-results|received|cc):`)
	reReplySubject  = regexp.MustCompile(`(?i)^\s*(?:re|fwd?|aw|wg|tr|sv|vs|rv|odp|enc|res)\s*(?:\[\d+\])?\s*:`)
	// reRespCue introduces the remote's words in prose bounces: "The
	// response was:", "Remote server replied:", "said:".
	reRespCue = regexp.MustCompile(`(?i)(?:the (?:response|error|reply)(?: that the other server returned| from the remote server| from the remote host)? (?:was|is)|remote (?:server|host|mta) (?:replied|said|returned|responded)|server replied|said|reason|error message|diagnostic[- ]code|smtp error[^:\n]{0,60}|delay reason|details)\s*:`)
	reTrailer = regexp.MustCompile(`(?i)\s*\(in reply to (?:rcpt to|mail from|end of data|data|the) ?(?:command)?\)\s*$`)
)

// maxBounceText bounds the prose the phrase patterns read: a bounce says
// what it has to say in its first pages, and the patterns are costly.
const maxBounceText = 64 << 10

// bounceText is what the bounce says in its own words: the text parts
// before the returned message starts.
func (m *msg) bounceText() string {
	var b strings.Builder
	for _, t := range m.texts {
		t = t[:min(len(t), maxBounceText)]
		if _, off := inlineHeader(t); off >= 0 {
			t = t[:off]
		}
		if loc := reCutOriginal.FindStringIndex(t); loc != nil && loc[0] > 0 {
			t = t[:loc[0]]
		}
		b.WriteString(t)
		b.WriteString("\n\n")
		if b.Len() > maxBounceText {
			break
		}
	}
	return b.String()[:min(b.Len(), maxBounceText)]
}

// isDaemonSender: the report comes from a mail system, not a person.
func (m *msg) isDaemonSender() bool {
	from := m.h.get("from")
	a := firstAddr(from)
	// "<>" or "<@>": a null sender written into From.
	empty := a == "" && (from == "" || strings.Contains(from, "<>") || strings.Contains(from, "<@>"))
	return reDaemonLocal.MatchString(localOf(a)) || reDaemonName.MatchString(decodeWords(from)) || (empty && (from != "" || nullSender(m.h)))
}

func nullSender(h hdr) bool {
	rp := strings.TrimSpace(h.get("return-path"))
	return rp == "<>" || rp == "<<>>" || strings.EqualFold(rp, "<MAILER-DAEMON>")
}

// humanBounce reads a bounce written for people. It decides by evidence
// (who sent it, its subject, failure sentences) and then looks for the
// addresses and replies; a bounce whose recipient cannot be found falls
// back to the returned message's single recipient.
func (m *msg) humanBounce(rep *Report) bool {
	text := m.bounceText()
	score := 0
	if m.isDaemonSender() {
		score += 2
	}
	if nullSender(m.h) {
		score++
	}
	bounceSubject := subjectSaysBounce(rep.Subject)
	if bounceSubject {
		score += 2
	}
	failText := reFailPhrase.MatchString(text) || reDelayPhrase.MatchString(text)
	if failText {
		score += 2
	}
	failed := splitHeaderList(m.h.all("x-failed-recipients"))
	if len(failed) > 0 {
		score += 3
	}
	if score < 3 || (!failText && len(failed) == 0 && !bounceSubject) {
		return false
	}
	if !m.systemSent(len(failed) > 0) && !quotesReply(text) {
		// A person writing about a failed delivery uses the same words;
		// a bounce from an address that looks personal still quotes a
		// server's reply.
		return false
	}
	delayed := (reDelaySubject.MatchString(rep.Subject) || reDelayPhrase.MatchString(text)) &&
		!reGiveUp.MatchString(rep.Subject) && !(reGiveUp.MatchString(text) && !reDelayPhrase.MatchString(text))
	rcpts := m.freeTextRecipients(text, rep, failed)
	if len(rcpts) == 0 {
		// The subject may name it ("Undeliverable mail: a@b"), else the
		// returned message's one recipient.
		a := m.subjectRecipient(rep)
		if a == "" {
			a = rep.Original.Recipient
		}
		if a == "" {
			a = m.originalRecipient()
		}
		if a == "" && !failText {
			return false
		}
		r := Recipient{Address: a}
		r.Code, r.Enhanced, r.Text = diagnose(text)
		rcpts = []Recipient{r}
	}
	for i := range rcpts {
		finishHuman(&rcpts[i], delayed)
	}
	rep.Recipients = append(rep.Recipients, rcpts...)
	return true
}

// systemSent: something other than the words says a program sent the
// message: a daemon or null sender, X-Failed-Recipients, an automatic
// marker, or a returned message attached.
func (m *msg) systemSent(failedHeader bool) bool {
	return failedHeader || m.isAuto() || len(m.orig) > 0
}

// quotesReply: the text quotes an SMTP failure reply or enhanced code.
func quotesReply(text string) bool {
	if c, _ := findReply(text); c >= 400 {
		return true
	}
	e := findEnhanced(text)
	return e != "" && e[0] != '2'
}

// subjectRecipient is the one address a bounce's subject names, "" when
// it names none or several, or only the report's own parties.
func (m *msg) subjectRecipient(rep *Report) string {
	skip := m.notRecipients(rep)
	var found []string
	for _, a := range addrs(rep.Subject) {
		if !skip[strings.ToLower(a)] && !reDaemonLocal.MatchString(localOf(a)) {
			found = append(found, a)
		}
	}
	if len(found) == 1 {
		return found[0]
	}
	return ""
}

// finishHuman sets action and status the way the spec asks for free text:
// delayed or failed by the message's words; the status from the enhanced
// code in the text, else the reply code's class, else x.0.0.
func finishHuman(r *Recipient, delayed bool) {
	class := "5"
	r.Action = "failed"
	if delayed {
		r.Action, class = "delayed", "4"
	}
	switch {
	case r.Enhanced != "" && r.Code == 0 && r.Enhanced[0] != class[0] && r.Enhanced[0] != '2':
		// No reply quoted, and the code's class disagrees with the
		// words ("(#4.4.2)" in a notice that gave up): the words win.
		r.Status = class + ".0.0"
	case r.Enhanced != "" && (r.Code == 0 || r.Enhanced[0] == byte('0'+r.Code/100)):
		r.Status = r.Enhanced
	case r.Code >= 400:
		r.Status = string(rune('0'+r.Code/100)) + ".0.0"
	case r.Enhanced != "":
		r.Status = r.Enhanced
	default:
		r.Status = class + ".0.0"
	}
	if r.Enhanced == "" {
		r.Enhanced = r.Status
	}
}

// splitHeaderList reads comma-separated address fields.
func splitHeaderList(vs []string) []string {
	var out []string
	for _, v := range vs {
		out = append(out, addrs(v)...)
	}
	return out
}

type mention struct {
	addr       string
	start, end int  // of the address in the text
	anchored   bool // first on its line, or after a cue word ("to", "RCPT TO:")
	alone      bool // first on its line: a list of failed addresses
}

// freeTextRecipients finds the failed addresses in a bounce's text and
// the reply given for each.
func (m *msg) freeTextRecipients(text string, rep *Report, failed []string) []Recipient {
	skip := m.notRecipients(rep)
	var ms []mention
	for _, loc := range reAddr.FindAllStringIndex(text, 500) {
		a := normAddr(text[loc[0]:loc[1]])
		if a == "" || skip[strings.ToLower(a)] || reDaemonLocal.MatchString(localOf(a)) || reToken.MatchString(localOf(a)) {
			continue
		}
		ls := strings.LastIndexByte(text[:loc[0]], '\n') + 1
		line := text[ls:loc[0]]
		if reHeaderish.MatchString(line) {
			continue
		}
		alone := reBullet.MatchString(line)
		ms = append(ms, mention{addr: a, start: loc[0], end: loc[1], alone: alone, anchored: alone || reCue.MatchString(line)})
	}
	want := map[string]bool{}
	for _, a := range failed {
		want[strings.ToLower(a)] = true
	}
	anyAnchored := false
	for _, mt := range ms {
		anyAnchored = anyAnchored || mt.anchored
	}
	var out []Recipient
	var listed []bool // out[i] stood alone on its line
	seen := map[string]int{}
	for i, mt := range ms {
		key := strings.ToLower(mt.addr)
		if anyAnchored && !mt.anchored && !want[key] {
			continue
		}
		w := window(text, ms, i)
		code, enh, diag := diagnose(w)
		if j, ok := seen[key]; ok {
			if out[j].Code == 0 && code != 0 {
				out[j].Code, out[j].Enhanced, out[j].Text = code, enh, diag
			}
			listed[j] = listed[j] || mt.alone || want[key]
			continue
		}
		if len(out) >= maxRecipients {
			break
		}
		seen[key] = len(out)
		out = append(out, Recipient{Address: mt.addr, Code: code, Enhanced: enh, Text: diag})
		listed = append(listed, mt.alone || want[key])
	}
	for _, a := range failed {
		if _, ok := seen[strings.ToLower(a)]; !ok && len(out) < maxRecipients {
			seen[strings.ToLower(a)] = len(out)
			out = append(out, Recipient{Address: a})
			listed = append(listed, true)
		}
	}
	return pickEvidence(out, listed)
}

// pickEvidence keeps the addresses that came with a reply code or stood
// in a list of their own when some did: the others are mentions in
// prose (a helpdesk, a forwarding target).
func pickEvidence(rs []Recipient, listed []bool) []Recipient {
	var with []Recipient
	for i, r := range rs {
		if r.Code != 0 || r.Enhanced != "" || listed[i] {
			with = append(with, r)
		}
	}
	if len(with) > 0 {
		return with
	}
	if len(rs) > 1 {
		return rs[:1]
	}
	return rs
}

// window is the text from mention i's line up to the next anchored
// mention of another address (or 4000 bytes).
func window(text string, ms []mention, i int) string {
	start := strings.LastIndexByte(text[:ms[i].start], '\n') + 1
	end := len(text)
	for _, n := range ms[i+1:] {
		if n.anchored && !strings.EqualFold(n.addr, ms[i].addr) && n.start > ms[i].end {
			end = strings.LastIndexByte(text[:n.start], '\n') + 1
			if end <= start {
				end = n.start
			}
			break
		}
	}
	return text[start:min(end, start+4000)]
}

// diagnose finds the remote reply in a window: the first failure reply
// code and the paragraph it starts; without one, the sentence after the
// address. It returns code, enhanced code and text.
func diagnose(w string) (int, string, string) {
	code, at := findReply(w)
	if code >= 400 {
		p := paragraph(w[at-3:])
		c, e := leadingReply(collapse(p))
		if e == "" {
			e = findEnhanced(p)
		}
		if c == 0 {
			c = code
		}
		if e != "" && e[0] != byte('0'+c/100) {
			// "550 4.4.7" happens; keep the code's own class for Status.
			e = findEnhancedClass(w, byte('0'+c/100), e)
		}
		return c, e, capText(trimParen(strings.Trim(reTrailer.ReplaceAllString(collapse(p), ""), `'" `)))
	}
	p := afterAddress(w)
	if loc := reRespCue.FindStringIndex(w); loc != nil {
		if q := strings.TrimSpace(paragraph(strings.TrimLeft(w[loc[1]:], " \t\n"))); q != "" {
			p = q
		}
	}
	e := findEnhanced(w)
	return 0, e, capText(trimParen(p))
}

// trimParen drops a closing parenthesis whose opening one was cut off
// ("(reason: 550 ... unknown)" read from the code on).
func trimParen(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, ")") && strings.Count(s, ")") > strings.Count(s, "(") {
		s = strings.TrimSpace(strings.TrimSuffix(s, ")"))
	}
	return s
}

// findEnhancedClass prefers a code of the given class; else def.
func findEnhancedClass(s string, class byte, def string) string {
	for _, m := range reEnhanced.FindAllStringSubmatch(s, 20) {
		if m[1][0] == class {
			return m[1]
		}
	}
	return def
}

// paragraph is s up to its first blank line.
func paragraph(s string) string {
	if i := strings.Index(s, "\n\n"); i >= 0 {
		s = s[:i]
	}
	if i := strings.Index(s, "\n \n"); i >= 0 {
		s = s[:i]
	}
	return s
}

// afterAddress is the reason written after the address: the rest of its
// line and the lines below it, or the next paragraph when the address
// stands alone.
func afterAddress(w string) string {
	loc := reAddr.FindStringIndex(w)
	if loc == nil {
		return paragraph(w)
	}
	rest := strings.TrimLeft(w[loc[1]:], ">'\")]:,.; \t")
	p := paragraph(rest)
	for i := 0; i < 3; i++ {
		t := strings.TrimSpace(p)
		if t != "" && !(len(t) < 40 && strings.HasSuffix(t, ":")) {
			break
		}
		// Empty, or a heading such as "because:": the next paragraph.
		rest = strings.TrimLeft(rest[strings.Index(rest, p)+len(p):], "\n \t")
		p = paragraph(rest)
	}
	line, _, _ := strings.Cut(w[:loc[0]], "\n")
	if pre := strings.TrimSpace(line); len(pre) > 20 && strings.TrimSpace(p) == "" {
		return pre
	}
	return strings.Trim(p, "- \n\t")
}

// notRecipients are addresses a bounce names that are not its failed
// recipients: whoever sent or receives the report, and the original's
// sender and Message-ID.
func (m *msg) notRecipients(rep *Report) map[string]bool {
	skip := map[string]bool{}
	add := func(vs ...string) {
		for _, v := range vs {
			for _, a := range addrs(v) {
				skip[strings.ToLower(a)] = true
			}
		}
	}
	for _, k := range []string{"from", "to", "cc", "reply-to", "sender", "return-path", "delivered-to", "x-original-to", "envelope-to", "message-id", "in-reply-to", "references"} {
		add(m.h.all(k)...)
	}
	if h := m.originalHeader(); h != nil {
		for _, k := range []string{"from", "sender", "return-path", "reply-to", "message-id", "references", "in-reply-to"} {
			add(h.all(k)...)
		}
	}
	add(rep.Original.Sender, rep.Original.MessageID)
	return skip
}
