package feedback

import (
	"net/mail"
	"strings"
	"time"
)

// perMessageFields are RFC 3464 §2.2 fields (and common extensions) that
// mark a group as the per-message one.
var perMessageFields = []string{"reporting-mta", "arrival-date", "received-from-mta", "original-envelope-id", "dsn-gateway", "x-postfix-queue-id", "x-postfix-sender"}

// recipientKeys name the address of a per-recipient group.
var recipientKeys = []string{"final-recipient", "original-recipient", "x-actual-recipient"}

// structuredDSN reads the delivery-status parts, or a text part that
// carries DSN fields under a wrong type (F2). It reports whether any
// recipient was found.
func (m *msg) structuredDSN(rep *Report) bool {
	for _, s := range m.dsn {
		m.readDSNFields(rep, s)
	}
	if len(rep.Recipients) == 0 {
		for _, s := range m.texts {
			if hasDSNFields(s) {
				m.readDSNFields(rep, s)
			}
		}
	}
	rep.Recipients = dedupe(rep.Recipients)
	m.fillAddresses(rep)
	return len(rep.Recipients) > 0
}

// dedupe drops a recipient reported twice with the same action (two
// delivery-status parts, or a group split by a stray blank line), keeping
// the first that has a status.
func dedupe(rs []Recipient) []Recipient {
	seen := map[string]int{}
	out := rs[:0]
	for _, r := range rs {
		k := strings.ToLower(r.Address) + "\x00" + r.Action
		if j, ok := seen[k]; ok && r.Address != "" {
			if out[j].Status == "" {
				out[j] = r
			}
			continue
		}
		seen[k] = len(out)
		out = append(out, r)
	}
	return out
}

// fillAddresses gives a structured recipient whose address field was
// empty or unreadable the address the human-readable part names, when
// the two can be paired one to one.
func (m *msg) fillAddresses(rep *Report) {
	var missing []int
	have := map[string]bool{}
	for i, r := range rep.Recipients {
		if r.Address == "" {
			missing = append(missing, i)
		}
		have[strings.ToLower(r.Address)] = true
	}
	if len(missing) == 0 {
		return
	}
	var found []string
	for _, r := range m.freeTextRecipients(m.bounceText(), rep, splitHeaderList(m.h.all("x-failed-recipients"))) {
		if !have[strings.ToLower(r.Address)] {
			found = append(found, r.Address)
		}
	}
	if len(found) == 0 && len(missing) == 1 {
		if a := m.originalRecipient(); a != "" {
			found = []string{a}
		}
	}
	if len(found) == len(missing) {
		for k, i := range missing {
			rep.Recipients[i].Address = found[k]
		}
	}
}

// hasDSNFields: a line starting "Final-Recipient:" (or Original-) and an
// Action or Status line.
func hasDSNFields(s string) bool {
	l := strings.ToLower(s)
	return (strings.Contains(l, "\nfinal-recipient:") || strings.Contains(l, "\noriginal-recipient:") || strings.HasPrefix(l, "final-recipient:")) &&
		(strings.Contains(l, "\naction:") || strings.Contains(l, "\nstatus:"))
}

func (m *msg) readDSNFields(rep *Report, s string) {
	var pending hdr // a recipient group not yet closed
	flush := func() {
		if pending != nil && len(rep.Recipients) < maxRecipients {
			if r, ok := dsnRecipient(pending); ok {
				rep.Recipients = append(rep.Recipients, r)
			}
		}
		pending = nil
	}
	for _, g := range fieldGroups(s) {
		if !hasAny(g, recipientKeys) {
			if hasAny(g, perMessageFields) {
				flush()
				perMessage(rep, g)
				continue
			}
			// Action/Status cut off from their address by a stray blank
			// line belong to the recipient before them.
			if pending != nil && hasAny(g, []string{"action", "status", "diagnostic-code"}) {
				pending = append(pending, g...)
			}
			continue
		}
		// One group may hold several recipients when a producer forgot
		// the blank lines: a repeated address field starts the next.
		seen := map[string]bool{}
		flush()
		for _, f := range g {
			if isRecipientKey(f.name) && seen[f.name] {
				flush()
				seen = map[string]bool{}
			}
			if isRecipientKey(f.name) {
				seen[f.name] = true
			}
			if !isRecipientKey(f.name) && hasAny(hdr{f}, perMessageFields) {
				perMessage(rep, hdr{f})
				continue
			}
			pending = append(pending, f)
		}
	}
	flush()
}

func isRecipientKey(n string) bool {
	return n == "final-recipient" || n == "original-recipient" || n == "x-actual-recipient"
}

func hasAny(g hdr, names []string) bool {
	for _, n := range names {
		if g.get(n) != "" {
			return true
		}
	}
	return false
}

// perMessage reads the per-message fields the report keeps.
func perMessage(rep *Report, g hdr) {
	if v := g.get("reporting-mta"); v != "" && rep.ReportingMTA == "" {
		rep.ReportingMTA = typedHost(v)
	}
	if v := g.get("arrival-date"); v != "" && rep.Arrival.IsZero() {
		rep.Arrival = parseDate(v)
	}
	if v := g.get("x-postfix-sender"); v != "" && rep.Original.Sender == "" {
		rep.Original.Sender = typedAddr(v)
	}
	if v := g.get("original-envelope-id"); v != "" {
		noteToken(rep, v)
	}
}

// dsnRecipient builds a recipient from its group; false when the group
// names neither an address nor an action or status.
func dsnRecipient(g hdr) (Recipient, bool) {
	var r Recipient
	for _, k := range []string{"final-recipient", "x-actual-recipient", "original-recipient"} {
		if v := g.get(k); v != "" {
			if r.Address = typedAddr(v); r.Address != "" {
				break
			}
		}
	}
	if v := g.get("original-recipient"); v != "" {
		r.Original = typedAddr(v)
	}
	diag := g.get("diagnostic-code")
	if diag == "" {
		diag = g.get("x-diagnostic")
	}
	r.Code, r.Enhanced, r.Text = parseDiagnostic(diag)
	st := g.get("status")
	r.Status = statusFrom(st, r.Enhanced, r.Code)
	if r.Enhanced == "" {
		r.Enhanced = r.Status
	}
	r.Action = strings.ToLower(strings.Trim(firstWord(g.get("action")), ";,."))
	switch r.Action {
	case "failed", "delayed", "delivered", "relayed", "expanded":
	case "failure", "fail", "bounced", "bounce", "permanent":
		r.Action = "failed"
	case "delay", "deferred", "transient":
		r.Action = "delayed"
	default:
		r.Action = actionOfStatus(r.Status)
	}
	if v := g.get("remote-mta"); v != "" {
		r.RemoteMTA = typedHost(v)
	}
	return r, r.Address != "" || st != "" || g.get("action") != ""
}

func actionOfStatus(s string) string {
	switch {
	case strings.HasPrefix(s, "5"):
		return "failed"
	case strings.HasPrefix(s, "4"):
		return "delayed"
	case strings.HasPrefix(s, "2"):
		return "delivered"
	}
	return "failed"
}

func firstWord(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// typedHost reads "dns; mx.example.com" or a bare host name.
func typedHost(v string) string {
	if _, rest, ok := strings.Cut(v, ";"); ok {
		v = rest
	}
	return strings.ToLower(strings.Trim(firstWord(v), "[]<>."))
}

// parseDate reads an RFC 5322 date, tolerating the common deviations;
// zero when it cannot.
func parseDate(v string) time.Time {
	v = strings.TrimSpace(v)
	if t, err := mail.ParseDate(v); err == nil {
		return t
	}
	for _, layout := range []string{time.RFC1123Z, time.RFC1123, time.RFC3339, "Mon, 2 Jan 2006 15:04:05 -0700 (MST)", "2 Jan 2006 15:04:05 -0700", "Mon, 2 Jan 2006 15:04:05 MST"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t
		}
	}
	return time.Time{}
}
