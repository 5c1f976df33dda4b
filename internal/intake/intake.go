package intake

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/dkim"
	"github.com/mtaq/mtaq/queue"
)

// Store is the part of queue.Store intake uses.
type Store interface {
	Enqueue(ctx context.Context, m *queue.Message, body []byte) error
	Suppression(ctx context.Context, addr string, now time.Time) (*queue.Suppression, error)
}

// Options configure an Intake. Hostname and Store are required.
type Options struct {
	Hostname string // Received, Message-ID
	Store    Store
	Clock    clock.Clock // default clock.Real
	Logger   *zap.Logger // default zap.NewNop
	// MaxMessageBytes bounds a message as received (default 25 MiB).
	MaxMessageBytes int64
	// MaxRecipients bounds a message's distinct recipients (default 1000).
	MaxRecipients int
	// MaxHops is the most Received fields a message may already carry
	// (default 30): more is a mail loop.
	MaxHops int
	// RefuseSuppressed refuses a suppressed recipient (550) instead of
	// recording it as rejected.
	RefuseSuppressed bool
	// OnQueued wakes the scheduler after a commit; may be nil.
	OnQueued func(id string)
	// NewID names messages (default queue.NewID).
	NewID func(now time.Time) string
	// DKIM signs each message for its From domain at Submit, once, over
	// the final bytes; nil signs nothing. SetDKIM replaces it.
	DKIM *dkim.Signer
	// RequireDKIM refuses (550 5.7.0) mail whose From domain no key covers.
	RequireDKIM bool
	// OnRejected hears the domain of each recipient recorded as rejected
	// (suppressed) once its message is committed (metrics); may be nil.
	OnRejected func(domain string)
	// OnUnsigned hears the From domain of each message queued unsigned
	// (metrics); may be nil.
	OnUnsigned func(domain string)
	// Pools chooses each message's source-address pool; nil: none.
	// SetPools replaces it.
	Pools *Pools
}

// Intake is the one way into the queue (I1).
type Intake struct {
	o    Options
	log  *zap.Logger
	keys atomic.Pointer[signing] // replaced whole by SetDKIM
	pool atomic.Pointer[Pools]   // Options.Pools, replaced whole by SetPools
	// refuse is Options.RefuseSuppressed, which a reload may change.
	refuse atomic.Bool
	// draining refuses new mail (mtaq drain): see SetDraining.
	draining atomic.Bool
}

// signing is the DKIM part of the options, swapped as one on reload.
type signing struct {
	keys    *dkim.Signer
	require bool
}

// New fills the defaults.
func New(o Options) *Intake {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 25 << 20
	}
	if o.MaxRecipients <= 0 {
		o.MaxRecipients = 1000
	}
	if o.MaxHops <= 0 {
		o.MaxHops = 30
	}
	if o.NewID == nil {
		o.NewID = queue.NewID
	}
	in := &Intake{o: o, log: o.Logger.Named("intake")}
	in.SetDKIM(o.DKIM, o.RequireDKIM)
	in.SetRefuseSuppressed(o.RefuseSuppressed)
	in.SetPools(o.Pools)
	return in
}

// SetDraining starts (or ends) refusing new mail with ErrDraining, a
// temporary refusal, so clients retry on another node (mtaq drain). mtaq's
// own DSNs still go in: they are part of what the node delivers.
func (in *Intake) SetDraining(on bool) { in.draining.Store(on) }

// Draining reports whether new mail is refused.
func (in *Intake) Draining() bool { return in.draining.Load() }

// SetRefuseSuppressed changes [suppression] on_suppressed for the next
// RCPT: refuse (550) or record the recipient rejected.
func (in *Intake) SetRefuseSuppressed(refuse bool) { in.refuse.Store(refuse) }

// SetDKIM replaces the signing keys and dkim_require (SIGHUP): messages
// already being prepared finish with the keys they started with.
func (in *Intake) SetDKIM(keys *dkim.Signer, require bool) {
	in.keys.Store(&signing{keys: keys, require: require})
}

// Limits are the checks' bounds, for a caller that checks before it can
// reach a running intake (sendmail, which has no queue).
func (in *Intake) Limits() (maxBytes int64, maxRcpts, maxHops int) {
	return in.o.MaxMessageBytes, in.o.MaxRecipients, in.o.MaxHops
}

// Kind is the way a message came in.
type Kind string

// The ways in.
const (
	SMTP     Kind = "smtp"
	Sendmail Kind = "sendmail"
	DSN      Kind = "dsn"
	HTTP     Kind = "http"
	// Report is mtaq's own aggregate reports (TLS-RPT, internal/tlsrpt).
	Report Kind = "report"
)

// Origin is who handed the message over, for the Received field and for
// deciding what may be added to it.
type Origin struct {
	Kind Kind
	// ClientAddr is the client's IP for SMTP and HTTP, "local (uid N)"
	// for sendmail, empty for mtaq's own DSNs.
	ClientAddr string
	Helo       string // SMTP: the EHLO name
	// Protocol is the Received field's "with": ESMTP, ESMTPS, ESMTPSA
	// (RFC 3848), HTTP, HTTPS, or "local".
	Protocol string
	UID      int    // sendmail: the file's owner
	User     string // the submission user (SMTP AUTH, the HTTP API key's); pool rules match on it
	FullName string // sendmail -F: the name in an added From
	// Fixup adds a missing Message-ID, Date or From (I3): trusted
	// networks, authenticated users, sendmail, the HTTP API and mtaq's
	// own DSNs (built complete: nothing to add); never mail from anyone
	// else.
	Fixup bool
	// UTF8 allows non-ASCII addresses (SMTPUTF8).
	UTF8  bool
	NoDSN bool
}

// Message is what a protocol hands over: the envelope and the message as
// received, CRLF lines (a protocol normalises its own transfer encoding;
// Prepare still checks).
type Message struct {
	// ID names the message when its text must carry the queue ID before
	// intake sees it (a DSN's Message-ID); empty: Submit assigns one.
	ID     string
	Origin Origin
	Sender string // "" is the null sender
	Rcpts  []Recipient
	Data   []byte
	// Headroom is free space at the front of Data (the message starts at
	// Data[Headroom:]): the Received field and any added header fields
	// are written there instead of copying the message. Headroom bytes
	// are enough for them and two DKIM signatures unless the EHLO name or
	// recipient is long.
	Headroom int
	// Idempotency, when set, is committed with the message (the HTTP
	// API's Idempotency-Key); Submit returns the queue's
	// *queue.DuplicateError, queuing nothing, when the key is taken.
	Idempotency *queue.Idempotency
}

// Headroom is what a caller that loads a message into memory should
// leave free in front of it (Message.Headroom).
const Headroom = 4096

// Recipient is a checked envelope recipient (see Intake.Recipient).
type Recipient struct {
	Address    string
	Domain     string // lower case, the A-label for an IDN: the destination key
	Suppressed bool   // recorded as rejected: nothing is sent
}

// Sender checks a MAIL FROM address ("" is the null sender).
func (in *Intake) Sender(addr string, utf8 bool) error {
	if addr == "" {
		return nil
	}
	if _, err := ParseAddress(addr, utf8); err != nil {
		return ErrBadSender
	}
	return nil
}

// Recipient checks one recipient: its syntax, then the suppression list.
// A suppressed address is refused (550) when RefuseSuppressed is set and
// the origin can still tell its client (SMTP, HTTP); otherwise, and always
// for a maildrop file or a DSN, it is recorded as rejected. SMTP calls it
// at RCPT, the others through Recipients.
func (in *Intake) Recipient(ctx context.Context, o Origin, addr string) (Recipient, error) {
	a, err := ParseAddress(addr, o.UTF8)
	if err != nil {
		return Recipient{}, ErrBadRecipient
	}
	now := in.o.Clock.Now()
	sup, err := in.o.Store.Suppression(ctx, addr, now)
	if err != nil {
		in.log.Error("suppression lookup", zap.String("rcpt", addr), zap.Error(err))
		return Recipient{}, ErrTempLookup
	}
	r := Recipient{Address: addr, Domain: a.ASCIIDomain(), Suppressed: sup.Active(now)}
	if r.Suppressed && in.refuse.Load() && (o.Kind == SMTP || o.Kind == HTTP) {
		return Recipient{}, ErrSuppressed
	}
	return r, nil
}

// Recipients checks addrs in order, dropping repeats (case-insensitive)
// and refusing more than MaxRecipients distinct ones (ErrRcptLimit); the
// first refusal
// is returned with its Field set to the address.
func (in *Intake) Recipients(ctx context.Context, o Origin, addrs []string) ([]Recipient, error) {
	var out []Recipient
	seen := map[string]bool{}
	for _, a := range addrs {
		k := strings.ToLower(a)
		if seen[k] {
			continue
		}
		if len(out) == in.o.MaxRecipients {
			return nil, ErrRcptLimit
		}
		r, err := in.Recipient(ctx, o, a)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				c := *e
				c.Field = a
				return nil, &c
			}
			return nil, err
		}
		seen[k] = true
		out = append(out, r)
	}
	return out, nil
}

// Prepared is a message ready to enqueue: the final bytes (I2) and what
// was taken out of them.
type Prepared struct {
	ID       string
	Arrived  time.Time
	Data     []byte // Received field, header (fixed up), body: the bytes sent
	Tag      string
	Metadata map[string]string
	// FromDomain is the domain of the (first) From address, lower case;
	// "" when the field does not parse. It picks the DKIM key.
	FromDomain string
	// free bytes precede Data in its array (the caller's headroom), where
	// the signatures go without a copy.
	free int
}

// Prepare runs every check that needs no store, in the same order for
// every way in, and builds the final bytes: the limits, the line rules
// (I2), the hop count, the labels (tag, metadata) and the header fix-up
// (I3), with the Received field on top. sendmail calls it before writing
// the maildrop, so its exit code says what the daemon would say.
func (in *Intake) Prepare(m Message, id string, now time.Time) (*Prepared, error) {
	msg := m.Data[m.Headroom:]
	if int64(len(msg)) > in.o.MaxMessageBytes {
		return nil, ErrSize
	}
	if len(m.Rcpts) == 0 {
		return nil, ErrNoRecipients
	}
	if len(m.Rcpts) > in.o.MaxRecipients {
		return nil, ErrRcptLimit
	}
	data, err := canonical(msg)
	if err != nil {
		return nil, err
	}
	fields, body, sep := SplitHeader(data)
	if countReceived(fields) > in.o.MaxHops {
		return nil, ErrTooManyHops
	}
	kept, tag, meta, err := labels(fields)
	if err != nil {
		return nil, err
	}
	var add []byte
	fx := fixup{id: id, hostname: in.o.Hostname, sender: m.Sender, fullName: m.Origin.FullName, at: now}
	author := fieldValue(kept, "from")
	if m.Origin.Fixup {
		add = fx.missing(kept)
		if !Has(kept, "from") {
			author = fx.author()
		}
	}
	if len(add) > 0 && len(fields) == 0 && !sep {
		// A message with no header at all ("echo hi | ..."): the added
		// fields need the empty line that ends a header.
		add = append(add, '\r', '\n')
	}
	fromDomain := addressDomain(author)
	sg := in.keys.Load()
	if sg.require && !sg.keys.Covers(fromDomain) {
		return nil, noDKIM(fromDomain)
	}
	// Added fields go on top, under the Received field, so a message
	// whose own fields all stay is not copied when there is headroom.
	top := append([]byte(in.received(m, id, now)), add...)
	var out []byte
	free := 0
	switch {
	case len(kept) == len(fields) && len(data) == len(msg) && len(top) <= m.Headroom:
		// canonical returned msg itself (it only ever adds bytes): write
		// in front of it.
		start := m.Headroom - len(top)
		copy(m.Data[start:], top)
		out, free = m.Data[start:], start
	case len(kept) == len(fields):
		out = append(append(make([]byte, 0, len(top)+len(data)), top...), data...)
	default:
		out = make([]byte, 0, len(top)+len(data))
		out = append(out, top...)
		for _, f := range kept {
			out = append(out, f.Raw...)
		}
		if sep || len(body) > 0 {
			out = append(out, '\r', '\n')
		}
		out = append(out, body...)
	}
	return &Prepared{ID: id, Arrived: now, Data: out, Tag: tag, Metadata: meta, FromDomain: fromDomain, free: free}, nil
}

// sign puts the DKIM signatures for p's From domain on top of p.Data, in
// the headroom of buf when there is room, else in a new array.
func (in *Intake) sign(p *Prepared, buf []byte) error {
	keys := in.keys.Load().keys
	if !keys.Covers(p.FromDomain) {
		if in.o.OnUnsigned != nil {
			in.o.OnUnsigned(p.FromDomain)
		}
		return nil
	}
	sigs, err := keys.Sign(p.Data, p.FromDomain, p.Arrived)
	if err != nil {
		in.log.Error("dkim signing", zap.String("domain", p.FromDomain), zap.Error(err))
		return ErrStorage // a local fault: the client may try again
	}
	if len(sigs) <= p.free {
		start := p.free - len(sigs)
		copy(buf[start:], sigs)
		p.Data, p.free = buf[start:start+len(sigs)+len(p.Data)], start
		return nil
	}
	p.Data = append(append(make([]byte, 0, len(sigs)+len(p.Data)), sigs...), p.Data...)
	p.free = 0
	return nil
}

// fieldValue is the value of the first field named name, "" if none.
func fieldValue(fields []Field, name string) string {
	for _, f := range fields {
		if strings.EqualFold(f.Name, name) {
			return f.Value()
		}
	}
	return ""
}

// addressDomain is the domain of the first address of an address list
// (a From field's value), lower case; "" when it does not parse.
func addressDomain(list string) string {
	as, err := mail.ParseAddressList(list)
	if err != nil || len(as) == 0 {
		return ""
	}
	a := as[0].Address
	return strings.ToLower(a[strings.LastIndexByte(a, '@')+1:])
}

// received is the trace field mtaq prepends (RFC 5321 §4.4); the
// recipient is named only when there is one, so Bcc recipients are never
// listed. Client text (the EHLO name) is cleaned first.
func (in *Intake) received(m Message, id string, now time.Time) string {
	var b strings.Builder
	switch m.Origin.Kind {
	case Sendmail:
		fmt.Fprintf(&b, "Received: from local (uid %d)\r\n\tby %s (mtaq) with local id %s", m.Origin.UID, in.o.Hostname, id)
	case DSN, Report:
		fmt.Fprintf(&b, "Received: by %s (mtaq) with local id %s", in.o.Hostname, id)
	default:
		with := m.Origin.Protocol
		if with == "" {
			with = "ESMTP"
		}
		fmt.Fprintf(&b, "Received: from %s ([%s])\r\n\tby %s (mtaq) with %s id %s",
			cleanHelo(m.Origin.Helo), m.Origin.ClientAddr, in.o.Hostname, with, id)
	}
	if len(m.Rcpts) == 1 {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", m.Rcpts[0].Address)
	}
	fmt.Fprintf(&b, ";\r\n\t%s\r\n", now.Format(time.RFC1123Z))
	return b.String()
}

// cleanHelo keeps printable ASCII other than comment delimiters, so an
// EHLO argument cannot break the header's structure.
func cleanHelo(s string) string {
	if len(s) > 255 {
		s = s[:255]
	}
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r > '~' || r == '(' || r == ')' || r == '\\' {
			return '?'
		}
		return r
	}, s)
}

// Accepted is what Submit committed.
type Accepted struct {
	ID       string
	Rejected int // recipients recorded as rejected (suppressed)
	Size     int64
}

// Submit prepares m, commits it in one synced batch and wakes the
// scheduler; only then may the caller say "queued" (I4). Storage trouble
// is a 4xx: 452 4.3.1 when the disk is full, 451 4.3.0 otherwise.
func (in *Intake) Submit(ctx context.Context, m Message) (*Accepted, error) {
	if in.Draining() && m.Origin.Kind != DSN {
		return nil, ErrDraining
	}
	now := in.o.Clock.Now()
	id := m.ID
	if id == "" {
		id = in.o.NewID(now)
	}
	p, err := in.Prepare(m, id, now)
	if err != nil {
		return nil, err
	}
	if err := in.sign(p, m.Data); err != nil {
		return nil, err
	}
	qm := &queue.Message{ID: id, Sender: m.Sender, Arrived: now, Size: int64(len(p.Data)),
		ClientAddr: m.Origin.ClientAddr, Helo: m.Origin.Helo, NoDSN: m.Origin.NoDSN,
		Tag: p.Tag, Metadata: p.Metadata, Idempotency: m.Idempotency,
		Pool: in.pool.Load().Choose(m.Sender, m.Origin.User, p.Tag)}
	rejected := 0
	for i, r := range m.Rcpts {
		qr := queue.Recipient{Index: i, Address: r.Address, Domain: r.Domain, State: queue.Queued,
			NextAttempt: now, Updated: now}
		if r.Suppressed {
			qr.State, qr.NextAttempt = queue.Rejected, time.Time{}
			rejected++
		}
		qm.Recipients = append(qm.Recipients, qr)
	}
	if err := in.o.Store.Enqueue(ctx, qm, p.Data); err != nil {
		var dup *queue.DuplicateError
		if errors.As(err, &dup) {
			return nil, dup // the first request's answer stands
		}
		fields := []zap.Field{zap.String("origin", string(m.Origin.Kind)), zap.String("sender", m.Sender),
			zap.Int("rcpts", len(qm.Recipients)), zap.String("client", qm.ClientAddr), zap.Error(err)}
		if errors.Is(err, queue.ErrNoSpace) {
			// The queue warns once when it starts and stops refusing; a
			// line per message would flood the log while the disk is full.
			in.log.Debug("refused: no space for the queue", fields...)
			return nil, ErrNoSpace
		}
		in.log.Error("enqueue failed", fields...)
		return nil, ErrStorage
	}
	if in.o.OnQueued != nil {
		in.o.OnQueued(id)
	}
	if in.o.OnRejected != nil {
		for _, r := range qm.Recipients {
			if r.State == queue.Rejected {
				in.o.OnRejected(r.Domain)
			}
		}
	}
	return &Accepted{ID: id, Rejected: rejected, Size: qm.Size}, nil
}
