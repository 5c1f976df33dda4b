package submission

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
)

// User is an account that may AUTH. Its fields match conf.User, so the
// daemon converts one into the other.
type User struct {
	Name           string
	PasswordHash   string // bcrypt
	AllowedSenders []string
	DSN            *bool // false: the user's messages get no DSNs (Message.NoDSN)
}

// AUTH replies. A failed AUTH must not be go-smtp's default 454 (a
// temporary error clients retry) and must say nothing about which part
// was wrong.
var (
	errAuthFailed    = reply(535, 5, 7, 8, "Authentication credentials invalid")
	errAuthTooMany   = reply(421, 4, 7, 0, "Too many authentication failures, closing connection")
	errAuthNeedsTLS  = reply(538, 5, 7, 11, "Encryption required for requested authentication mechanism")
	errAuthMech      = reply(504, 5, 5, 4, "Unrecognized authentication mechanism")
	errAuthMalformed = reply(501, 5, 5, 2, "Malformed authentication response")
)

// userDB holds the users with their hashes parsed once.
type userDB struct {
	byName map[string]*User
	// dummy is compared against for unknown names, at the highest cost in
	// use, so a wrong name takes as long as a wrong password.
	dummy []byte
}

func newUserDB(users []User) (*userDB, error) {
	db := &userDB{byName: map[string]*User{}}
	maxCost := bcrypt.MinCost
	for i := range users {
		u := &users[i]
		cost, err := bcrypt.Cost([]byte(u.PasswordHash))
		if err != nil {
			return nil, fmt.Errorf("submission: user %q: password hash: %w", u.Name, err)
		}
		if db.byName[u.Name] != nil {
			return nil, fmt.Errorf("submission: user %q defined twice", u.Name)
		}
		db.byName[u.Name] = u
		maxCost = max(maxCost, cost)
	}
	if len(users) > 0 {
		var err error
		db.dummy, err = bcrypt.GenerateFromPassword([]byte(rand.Text()), maxCost)
		if err != nil {
			return nil, fmt.Errorf("submission: dummy hash: %w", err)
		}
	}
	return db, nil
}

// verify returns the user whose name and password match, or nil. It runs
// exactly one bcrypt comparison whatever the outcome.
func (db *userDB) verify(name, password string) *User {
	u := db.byName[name]
	hash := db.dummy
	if u != nil {
		hash = []byte(u.PasswordHash)
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	if u == nil || err != nil {
		return nil
	}
	return u
}

// mayUse reports whether u may send as from: any sender when
// AllowedSenders is empty, else an exact address or "@domain" match,
// case-insensitive. The null sender matches nothing in a list.
func (u *User) mayUse(from string) bool {
	if len(u.AllowedSenders) == 0 {
		return true
	}
	at := strings.LastIndexByte(from, '@')
	for _, a := range u.AllowedSenders {
		if strings.EqualFold(a, from) || at >= 0 && strings.HasPrefix(a, "@") && strings.EqualFold(a, from[at:]) {
			return true
		}
	}
	return false
}

// AuthMechanisms lists PLAIN and LOGIN only under TLS and only when users
// exist; with none, go-smtp advertises no AUTH at all.
func (ss *session) AuthMechanisms() []string {
	if !ss.tls || len(ss.s.users.Load().byName) == 0 {
		return nil
	}
	return []string{sasl.Plain, "LOGIN"}
}

// Auth starts one AUTH exchange. A blocked client is refused here at once;
// authenticate reserves its failure before any bcrypt work.
func (ss *session) Auth(mech string) (sasl.Server, error) {
	if !ss.tls {
		return nil, errAuthNeedsTLS
	}
	if ss.s.ipFail.blocked(ss.ip, ss.s.opts.Clock.Now()) {
		ss.s.log.Warn("auth refused: too many failures from this client IP", zap.String("client", ss.clientAddr()))
		ss.end()
		return nil, errAuthTooMany
	}
	check := func(identity, name, password string) error { return ss.authenticate(mech, identity, name, password) }
	switch mech {
	case sasl.Plain:
		return saslServer{ss, mech, sasl.NewPlainServer(check)}, nil
	case "LOGIN":
		return saslServer{ss, mech, &loginServer{check: check}}, nil
	}
	return nil, errAuthMech
}

// authenticate checks one set of credentials (identity is PLAIN's
// authorization identity: empty or the user's own name). The check is
// booked against the client IP before the bcrypt work (reserve), so
// concurrent attempts cannot overrun the limit; the booking ends as a
// counted failure or, on success, leaves nothing.
func (ss *session) authenticate(mech, identity, name, password string) error {
	now := ss.s.opts.Clock.Now()
	if !ss.s.ipFail.reserve(ss.ip, now) {
		ss.logAuth(mech, name, "refused, too many failures from this client IP")
		ss.end()
		return errAuthTooMany
	}
	u := ss.s.users.Load().verify(name, password)
	if u != nil && (identity == "" || identity == name) {
		ss.s.ipFail.release(ss.ip)
		if ss.idle != nil {
			ss.idle.promote() // its slot leaves the untrusted share
			ss.idle.progress()
		}
		ss.user = u
		ss.logAuth(mech, name, "ok")
		return nil
	}
	return ss.authFailed(mech, name, true)
}

// authFailed counts a failure against the connection and, unless reserved
// already, the client IP; it answers 535, or 421 and the end of the
// connection once the connection or the client IP has reached its limit.
func (ss *session) authFailed(mech, name string, reserved bool) error {
	ss.authFailures++
	var ipBlocked bool
	if now := ss.s.opts.Clock.Now(); reserved {
		ipBlocked = ss.s.ipFail.fail(ss.ip, now)
	} else {
		ipBlocked = ss.s.ipFail.add(ss.ip, now)
	}
	if ss.authFailures < ss.s.opts.AuthMaxFailures && !ipBlocked {
		ss.logAuth(mech, name, "failed")
		return errAuthFailed
	}
	ss.logAuth(mech, name, "failed, closing")
	if ipBlocked {
		ss.s.log.Warn("auth failure limit reached for client IP", zap.String("client", ss.clientAddr()))
	}
	ss.end()
	return errAuthTooMany
}

// logAuth writes the one line per AUTH attempt; never the password. A
// client-given name is cut short: people paste passwords into it.
func (ss *session) logAuth(mech, name, result string) {
	if len(name) > 64 {
		name = name[:64] + "…"
	}
	ss.s.log.Info("auth", zap.String("client", ss.clientAddr()), zap.String("user", name),
		zap.String("mechanism", mech), zap.String("result", result), zap.Stringer("listener", ss.kind))
}

// saslServer turns a mechanism's own errors (a malformed response) into a
// 501 that counts as a failure; go-smtp would answer them 454 with the
// library's error text.
type saslServer struct {
	ss   *session
	mech string
	sasl.Server
}

func (s saslServer) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := s.Server.Next(response)
	var se *smtp.SMTPError
	if err == nil || errors.As(err, &se) {
		return challenge, done, err
	}
	if e := s.ss.authFailed(s.mech, "", false); e != errAuthFailed {
		return nil, false, e
	}
	return nil, false, errAuthMalformed
}

// loginServer is the LOGIN mechanism (draft-murchison-sasl-login), which
// go-sasl dropped but Outlook-era clients and swaks still use: the server
// prompts "Username:" then "Password:"; an initial response is the name.
type loginServer struct {
	step  int
	name  string
	check func(identity, name, password string) error
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch {
	case l.step == 0 && response == nil:
		l.step = 1
		return []byte("Username:"), false, nil
	case l.step <= 1:
		l.step, l.name = 2, string(response)
		return []byte("Password:"), false, nil
	case l.step == 2:
		l.step = 3
		return nil, true, l.check("", l.name, string(response))
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}

// SetUsers replaces the users AUTH checks against (SIGHUP). Sessions that
// already authenticated keep their user; the next AUTH sees the new list.
func (s *Server) SetUsers(users []User) error {
	db, err := newUserDB(users)
	if err != nil {
		return err
	}
	s.users.Store(db)
	return nil
}
