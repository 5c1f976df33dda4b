package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/mail"
	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/queue"
)

// SendRequest is POST /v1/messages. Field names are an interface.
type SendRequest struct {
	From        string            `json:"from"`
	To          []string          `json:"to"`
	Cc          []string          `json:"cc"`
	Bcc         []string          `json:"bcc"`
	ReplyTo     string            `json:"reply_to"`
	Subject     string            `json:"subject"`
	Text        string            `json:"text"`
	HTML        string            `json:"html"`
	Headers     map[string]string `json:"headers"`
	Attachments []Attachment      `json:"attachments"`
	Tag         string            `json:"tag"`
	Metadata    map[string]string `json:"metadata"`
}

// Attachment is one file; Content is base64 (RFC 4648, with padding).
type Attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Content     string `json:"content"`
}

// SendResult is the 202's body.
type SendResult struct {
	ID         string            `json:"id"`
	Recipients []RecipientResult `json:"recipients"`
}

// RecipientResult says what became of one recipient: "queued", or
// "rejected" with the reason (a suppressed address).
type RecipientResult struct {
	Address string `json:"address"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
}

// BatchRequest is POST /v1/messages/batch.
type BatchRequest struct {
	Messages []SendRequest `json:"messages"`
}

// BatchResult has one entry per message, in order: its SendResult or the
// problem that refused it.
type BatchResult struct {
	Results []BatchItem `json:"results"`
}

// BatchItem is one message's outcome in a batch.
type BatchItem struct {
	*SendResult
	Error *Problem `json:"error,omitempty"`
}

// MaxBatch is the most messages one batch request may carry.
const MaxBatch = 500

// idempotencyTTL is how long a key's first response is remembered.
const idempotencyTTL = 24 * time.Hour

// envelope is what a request asks to send: the sender and each recipient
// with the request field that named it.
type envelope struct {
	sender string
	rcpts  []rcptField
}

type rcptField struct{ field, addr string }

// jsonLimit bounds a JSON body: the message in base64 plus the fields.
func (s *Server) jsonLimit() int64 { return s.o.MaxMessageBytes/3*4 + 1<<20 }

func (s *Server) sendJSON(w http.ResponseWriter, r *http.Request, k *Key) (int, any, *Problem) {
	idem, p := idempotencyKey(r)
	if p != nil {
		return 0, nil, p
	}
	if resp, ok := s.remembered(r.Context(), k, idem); ok {
		w.Header().Set("Idempotent-Replayed", "true")
		return http.StatusAccepted, resp, nil
	}
	var req SendRequest
	if p := decodeStrict(r.Body, s.jsonLimit(), &req); p != nil {
		return 0, nil, p
	}
	env, data, p := s.build(&req, "")
	if p != nil {
		return 0, nil, p
	}
	return s.submit(r, k, env, data, idem)
}

func (s *Server) sendRaw(w http.ResponseWriter, r *http.Request, k *Key) (int, any, *Problem) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "message/rfc822" {
		return 0, nil, &Problem{Type: typeMediaType, Title: "Unsupported media type", Status: http.StatusUnsupportedMediaType,
			Detail: "Content-Type: want message/rfc822", Field: "Content-Type"}
	}
	idem, p := idempotencyKey(r)
	if p != nil {
		return 0, nil, p
	}
	if resp, ok := s.remembered(r.Context(), k, idem); ok {
		w.Header().Set("Idempotent-Replayed", "true")
		return http.StatusAccepted, resp, nil
	}
	q := r.URL.Query()
	for name := range q {
		if name != "from" && name != "to" {
			return 0, nil, invalidField(name, "unknown query parameter (want from and to)")
		}
	}
	env := envelope{sender: q.Get("from")}
	if len(q["from"]) > 1 {
		return 0, nil, invalidField("from", "given more than once")
	}
	if err := s.o.Intake.Sender(env.sender, true); err != nil {
		return 0, nil, invalidField("from", "not an address")
	}
	for i, a := range q["to"] {
		env.rcpts = append(env.rcpts, rcptField{fmt.Sprintf("to[%d]", i), a})
	}
	if len(env.rcpts) == 0 {
		return 0, nil, invalidField("to", "at least one recipient is needed")
	}
	buf := make([]byte, intake.Headroom, intake.Headroom+4096)
	body := bytes.NewBuffer(buf)
	n, err := io.Copy(body, io.LimitReader(r.Body, s.o.MaxMessageBytes+1))
	if err != nil {
		return 0, nil, invalidField("", "reading the body: %v", err)
	}
	if n > s.o.MaxMessageBytes {
		return 0, nil, fromIntake(intake.ErrSize, "")
	}
	if n == 0 {
		return 0, nil, invalidField("", "the body is empty: want the message")
	}
	return s.submit(r, k, env, body.Bytes(), idem)
}

func (s *Server) sendBatch(w http.ResponseWriter, r *http.Request, k *Key) (int, any, *Problem) {
	idem, p := idempotencyKey(r)
	if p != nil {
		return 0, nil, p
	}
	var req BatchRequest
	if p := decodeStrict(r.Body, s.jsonLimit(), &req); p != nil {
		return 0, nil, p
	}
	if len(req.Messages) == 0 {
		return 0, nil, invalidField("messages", "at least one message is needed")
	}
	if len(req.Messages) > MaxBatch {
		return 0, nil, invalidField("messages", "%d messages: at most %d per batch", len(req.Messages), MaxBatch)
	}
	res := BatchResult{Results: make([]BatchItem, len(req.Messages))}
	// Messages commit in parallel so their fsyncs are grouped, as for
	// concurrent SMTP clients; each is still its own synced batch.
	sem := make(chan struct{}, 16)
	done := make(chan struct{})
	for i := range req.Messages {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; done <- struct{}{} }()
			res.Results[i] = s.batchItem(r, k, &req.Messages[i], i, idem)
		}()
	}
	for range req.Messages {
		<-done
	}
	return http.StatusAccepted, res, nil
}

func (s *Server) batchItem(r *http.Request, k *Key, m *SendRequest, i int, idem string) BatchItem {
	itemKey := ""
	if idem != "" {
		itemKey = fmt.Sprintf("%s#%d", idem, i)
		if resp, ok := s.remembered(r.Context(), k, itemKey); ok {
			var sr SendResult
			if json.Unmarshal(resp, &sr) == nil {
				return BatchItem{SendResult: &sr}
			}
		}
	}
	env, data, p := s.build(m, fmt.Sprintf("messages[%d].", i))
	if p == nil {
		var resp any
		if _, resp, p = s.submit(r, k, env, data, itemKey); p == nil {
			var sr SendResult
			if err := json.Unmarshal(resp.(rawJSON), &sr); err != nil {
				return BatchItem{Error: internal()}
			}
			return BatchItem{SendResult: &sr}
		}
	}
	return BatchItem{Error: p}
}

// idempotencyKey reads the Idempotency-Key header: 1 to 255 printable
// ASCII characters, or absent.
func idempotencyKey(r *http.Request) (string, *Problem) {
	vs := r.Header.Values("Idempotency-Key")
	if len(vs) == 0 {
		return "", nil
	}
	v := vs[0]
	if len(vs) > 1 || v == "" || len(v) > 255 || strings.ContainsFunc(v, func(c rune) bool { return c < '!' || c > '~' }) {
		return "", invalidField("Idempotency-Key", "want one value of 1 to 255 printable ASCII characters")
	}
	return v, nil
}

// remembered returns the first response to k's idem, if any.
func (s *Server) remembered(ctx context.Context, k *Key, idem string) (rawJSON, bool) {
	if idem == "" {
		return nil, false
	}
	resp, err := s.o.Store.Idempotent(ctx, k.scope()+":"+idem, s.o.Clock.Now())
	if err != nil {
		if !errors.Is(err, queue.ErrNotFound) {
			s.log.Error("idempotency lookup", zap.Error(err))
		}
		return nil, false
	}
	return resp, true
}

// submit checks the envelope like SMTP's MAIL and RCPT would, then hands
// the message to intake; the 202 comes only after intake's synced commit.
func (s *Server) submit(r *http.Request, k *Key, env envelope, data []byte, idem string) (int, any, *Problem) {
	if !k.mayUse(env.sender) {
		return 0, nil, &Problem{Type: typeForbidden, Title: "Sender not allowed", Status: http.StatusForbidden,
			Detail: fmt.Sprintf("from: this API key may not send as %q (allowed_senders)", env.sender), Field: "from"}
	}
	o := s.origin(r, k)
	ctx := r.Context()
	start := s.o.Clock.Now()
	res := SendResult{Recipients: []RecipientResult{}}
	var rcpts []intake.Recipient
	seen := map[string]bool{}
	_, maxRcpts, _ := s.o.Intake.Limits()
	for _, rf := range env.rcpts {
		if seen[strings.ToLower(rf.addr)] {
			continue
		}
		if len(seen) == maxRcpts {
			p := fromIntake(intake.ErrRcptLimit, rf.field)
			p.Detail = fmt.Sprintf("%s: more than %d distinct recipients (submission.max_recipients)", rf.field, maxRcpts)
			return 0, nil, p
		}
		seen[strings.ToLower(rf.addr)] = true
		rc, err := s.o.Intake.Recipient(ctx, o, rf.addr)
		switch {
		case errors.Is(err, intake.ErrSuppressed):
			res.Recipients = append(res.Recipients, RecipientResult{Address: rf.addr, Status: "rejected", Reason: "suppressed"})
			continue
		case errors.Is(err, intake.ErrBadRecipient):
			return 0, nil, invalidField(rf.field, "not an address")
		case err != nil:
			return 0, nil, fromIntake(err, rf.field)
		}
		st := RecipientResult{Address: rf.addr, Status: "queued"}
		if rc.Suppressed {
			st.Status, st.Reason = "rejected", "suppressed"
		}
		res.Recipients = append(res.Recipients, st)
		rcpts = append(rcpts, rc)
	}
	if len(rcpts) == 0 {
		p := refusedField("to", "every recipient is suppressed: nothing to send")
		return 0, nil, p
	}
	now := s.o.Clock.Now()
	res.ID = queue.NewID(now)
	resp, err := json.Marshal(res)
	if err != nil {
		return 0, nil, internal()
	}
	resp = append(resp, '\n')
	m := intake.Message{ID: res.ID, Origin: o, Sender: env.sender, Rcpts: rcpts, Data: data, Headroom: intake.Headroom}
	if idem != "" {
		m.Idempotency = &queue.Idempotency{Key: k.scope() + ":" + idem, Response: resp, Expires: now.Add(idempotencyTTL)}
	}
	acc, err := s.o.Intake.Submit(ctx, m)
	var dup *queue.DuplicateError
	if errors.As(err, &dup) {
		return http.StatusAccepted, rawJSON(dup.Response), nil
	}
	if err != nil {
		return 0, nil, fromIntake(err, "")
	}
	if s.o.OnAccepted != nil {
		s.o.OnAccepted(s.o.Clock.Now().Sub(start))
	}
	s.log.Info("queued", zap.String("queue_id", acc.ID), zap.String("user", k.User), zap.String("sender", env.sender),
		zap.Int("rcpts", len(rcpts)), zap.Int64("size", acc.Size))
	return http.StatusAccepted, rawJSON(resp), nil
}

func (s *Server) origin(r *http.Request, k *Key) intake.Origin {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	proto := "HTTP"
	if r.TLS != nil {
		proto = "HTTPS"
	}
	return intake.Origin{Kind: intake.HTTP, ClientAddr: host, Helo: k.User, Protocol: proto, Fixup: true,
		UTF8: true, NoDSN: k.NoDSN, User: k.User}
}

// reservedHeaders are set from the request's own fields.
var reservedHeaders = []string{"From", "To", "Cc", "Bcc", "Reply-To", "Subject", "Content-Type",
	"Content-Transfer-Encoding", "Content-Disposition", "Mime-Version"}

// build checks req and writes its MIME message after intake.Headroom free
// bytes. prefix starts every field name ("messages[3]." in a batch).
func (s *Server) build(req *SendRequest, prefix string) (envelope, []byte, *Problem) {
	bad := func(field, format string, a ...any) (envelope, []byte, *Problem) {
		return envelope{}, nil, invalidField(prefix+field, format, a...)
	}
	if req.From == "" {
		return bad("from", "required")
	}
	from, err := mail.ParseAddress(req.From)
	if err != nil || s.o.Intake.Sender(from.Address, true) != nil {
		return bad("from", "not an address")
	}
	env := envelope{sender: from.Address}
	var h mail.Header
	h.SetAddressList("From", []*mail.Address{from})
	for _, list := range []struct {
		name   string
		header string
		addrs  []string
	}{{"to", "To", req.To}, {"cc", "Cc", req.Cc}, {"bcc", "", req.Bcc}} {
		var parsed []*mail.Address
		for i, a := range list.addrs {
			field := fmt.Sprintf("%s[%d]", list.name, i)
			pa, err := mail.ParseAddress(a)
			if err != nil {
				return bad(field, "not an address")
			}
			parsed = append(parsed, pa)
			env.rcpts = append(env.rcpts, rcptField{prefix + field, pa.Address})
		}
		if list.header != "" && len(parsed) > 0 {
			h.SetAddressList(list.header, parsed)
		}
	}
	if len(env.rcpts) == 0 {
		return bad("to", "at least one recipient in to, cc or bcc is needed")
	}
	if req.ReplyTo != "" {
		rt, err := mail.ParseAddress(req.ReplyTo)
		if err != nil {
			return bad("reply_to", "not an address")
		}
		h.SetAddressList("Reply-To", []*mail.Address{rt})
	}
	if why := badText(req.Subject); why != "" {
		return bad("subject", "%s", why)
	}
	if req.Subject != "" {
		h.SetSubject(req.Subject)
	}
	if req.Text == "" && req.HTML == "" {
		return bad("text", "text or html is needed")
	}
	if !utf8.ValidString(req.Text) {
		return bad("text", "not valid UTF-8")
	}
	if !utf8.ValidString(req.HTML) {
		return bad("html", "not valid UTF-8")
	}
	names := make([]string, 0, len(req.Headers))
	for name := range req.Headers {
		names = append(names, name)
	}
	slices.Sort(names) // a map has no order; the message should
	for _, name := range names {
		v := req.Headers[name]
		field := "headers." + name
		switch {
		case name == "" || strings.ContainsFunc(name, func(c rune) bool { return c < '!' || c > '~' || c == ':' }):
			return bad(field, "not a header field name")
		case slices.Contains(reservedHeaders, http.CanonicalHeaderKey(name)):
			return bad(field, "set from the request's own fields")
		case strings.HasPrefix(strings.ToLower(name), "x-mtaq-"):
			return bad(field, "use tag and metadata")
		}
		if why := badText(v); why != "" {
			return bad(field, "%s", why)
		}
		h.Add(name, mime.QEncoding.Encode("utf-8", v))
	}
	// Labels go in as intake's header fields, written by hand: go-message
	// would change a metadata key's case. Checked first, so nothing the
	// app sent can start a header line of its own.
	var labels bytes.Buffer
	if req.Tag != "" {
		if why := badText(req.Tag); why != "" {
			return bad("tag", "%s", why)
		}
		labels.WriteString(intake.TagHeader + ": " + req.Tag + "\r\n")
	}
	keys := make([]string, 0, len(req.Metadata))
	for key := range req.Metadata {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	for _, key := range keys {
		if key == "" || len(key) > intake.MaxMetaKeyLen || strings.ContainsFunc(key, func(c rune) bool {
			return !(c == '_' || c == '-' || c == '.' || c < unicode.MaxASCII && (unicode.IsLetter(c) || unicode.IsDigit(c)))
		}) {
			return bad("metadata."+key, "the key must be 1 to %d letters, digits, '_', '-' or '.'", intake.MaxMetaKeyLen)
		}
		if why := badText(req.Metadata[key]); why != "" {
			return bad("metadata."+key, "%s", why)
		}
		labels.WriteString(intake.MetadataPrefix + key + ": " + req.Metadata[key] + "\r\n")
	}
	atts := make([][]byte, len(req.Attachments))
	for i, a := range req.Attachments {
		field := fmt.Sprintf("attachments[%d]", i)
		if a.Filename == "" || badText(a.Filename) != "" {
			return bad(field+".filename", "required, without control characters")
		}
		if a.ContentType != "" {
			if _, _, err := mime.ParseMediaType(a.ContentType); err != nil {
				return bad(field+".content_type", "not a media type")
			}
		}
		b, err := base64.StdEncoding.DecodeString(a.Content)
		if err != nil {
			return bad(field+".content", "not base64")
		}
		atts[i] = b
	}
	buf := bytes.NewBuffer(make([]byte, intake.Headroom, intake.Headroom+len(req.Text)+len(req.HTML)+4096))
	buf.Write(labels.Bytes())
	if err := writeMIME(buf, h, req, atts); err != nil {
		return envelope{}, nil, internal()
	}
	return env, buf.Bytes(), nil
}

// badText says why s cannot be a header value: invalid UTF-8 or control
// characters (a CR or LF would start a field of the app's choosing).
func badText(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "not valid UTF-8"
	case strings.ContainsFunc(s, unicode.IsControl):
		return "contains control characters"
	}
	return ""
}

// writeMIME writes the message: one text part, text and HTML as
// multipart/alternative, and with attachments multipart/mixed around it.
func writeMIME(w io.Writer, h mail.Header, req *SendRequest, atts [][]byte) error {
	textHeader := func(ct, body string) mail.InlineHeader {
		var ih mail.InlineHeader
		ih.Set("Content-Type", ct+"; charset=utf-8")
		if plain7bit(body) {
			ih.Set("Content-Transfer-Encoding", "7bit")
		}
		return ih
	}
	writeText := func(iw *mail.InlineWriter) error {
		for _, part := range []struct{ ct, body string }{{"text/plain", req.Text}, {"text/html", req.HTML}} {
			if part.body == "" {
				continue
			}
			pw, err := iw.CreatePart(textHeader(part.ct, part.body))
			if err != nil {
				return err
			}
			if _, err := io.WriteString(pw, part.body); err != nil {
				return err
			}
			if err := pw.Close(); err != nil {
				return err
			}
		}
		return iw.Close()
	}
	both := req.Text != "" && req.HTML != ""
	if len(atts) == 0 {
		if both {
			iw, err := mail.CreateInlineWriter(w, h)
			if err != nil {
				return err
			}
			return writeText(iw)
		}
		ct, body := "text/plain", req.Text
		if req.HTML != "" {
			ct, body = "text/html", req.HTML
		}
		h.Set("Content-Type", ct+"; charset=utf-8")
		if plain7bit(body) {
			h.Set("Content-Transfer-Encoding", "7bit")
		}
		sw, err := mail.CreateSingleInlineWriter(w, h)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(sw, body); err != nil {
			return err
		}
		return sw.Close()
	}
	mw, err := mail.CreateWriter(w, h)
	if err != nil {
		return err
	}
	if both {
		iw, err := mw.CreateInline()
		if err != nil {
			return err
		}
		if err := writeText(iw); err != nil {
			return err
		}
	} else {
		ct, body := "text/plain", req.Text
		if req.HTML != "" {
			ct, body = "text/html", req.HTML
		}
		pw, err := mw.CreateSingleInline(textHeader(ct, body))
		if err != nil {
			return err
		}
		if _, err := io.WriteString(pw, body); err != nil {
			return err
		}
		if err := pw.Close(); err != nil {
			return err
		}
	}
	for i, a := range req.Attachments {
		var ah mail.AttachmentHeader
		ct := a.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		ah.Set("Content-Type", ct)
		ah.SetFilename(a.Filename)
		aw, err := mw.CreateAttachment(ah)
		if err != nil {
			return err
		}
		if _, err := aw.Write(atts[i]); err != nil {
			return err
		}
		if err := aw.Close(); err != nil {
			return err
		}
	}
	return mw.Close()
}

// plain7bit reports text that needs no transfer encoding (RFC 2045 7bit):
// ASCII without NUL or a bare CR, lines within SMTP's 998 octets. Such
// text is sent as written instead of quoted-printable.
func plain7bit(s string) bool {
	line := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n':
			line = 0
			continue
		case c == '\r':
			if i+1 >= len(s) || s[i+1] != '\n' {
				return false
			}
			continue
		case c == 0 || c >= 0x80:
			return false
		}
		if line++; line > 998 {
			return false
		}
	}
	return true
}
