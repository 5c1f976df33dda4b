// Package sendmail is mtaq's sendmail(8)-compatible entry point: the flags
// programs pass (-t -i -f -F -bs -bp -q ...), sysexits.h exit codes, and
// the hand-off to the daemon through the maildrop directory, which works
// whether or not the daemon runs. mailq lists the queue through the admin
// API. It never opens the queue itself (only the daemon may).
//
// Invariants:
//
//	E1 exit 0 after a message only once its maildrop file and directory
//	   entry are synced (maildrop.Drop returned nil).
//	E2 with -t, Bcc fields are not in the stored copy.
//	E3 flags that could read or write other files (-C, -X, -O, -be) are
//	   refused with EX_USAGE, naming the flag.
package sendmail

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"strings"
	"syscall"
	"time"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/dkim"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/internal/maildrop"
)

// Env is everything an invocation uses from its process; tests fill it.
type Env struct {
	Prog   string // for messages: "sendmail", "mailq"
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Config conf.Config
	// Admin reaches the running daemon (-bp, -q); nil when no client is
	// available, which is treated like a daemon that is down.
	Admin admin.API
	Now   func() time.Time
	// User is the invoking user's login name and uid.
	User func() (name string, uid int)
}

// Run executes one invocation and returns the exit code.
func Run(env Env, args []string) int {
	o, err := parseFlags(args)
	if err == nil {
		err = run(env, o)
	}
	if err == nil {
		return ExOK
	}
	code := exitCode(err)
	fmt.Fprintf(env.Stderr, "%s: %v\n", env.Prog, err)
	return code
}

// exitCode is the code an exitError carries, else EX_SOFTWARE (a bug).
func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return ExSoftware
}

func run(env Env, o options) error {
	switch o.mode {
	case modeSMTP:
		return serveSMTP(env)
	case modeList:
		return listQueue(env)
	case modeFlush:
		return flush(env)
	case modeAliases:
		fmt.Fprintf(env.Stdout, "%s: no aliases: mtaq delivers every address remotely\n", env.Prog)
		return nil
	}
	return deliver(env, o)
}

// deliver reads one message from stdin and drops it (-bm, the default).
func deliver(env Env, o options) error {
	sender, err := envelopeSender(env, o)
	if err != nil {
		return err
	}
	msg, err := readMessage(env.Stdin, o.ignoreDots, env.Config.Submission.MaxMessageBytes)
	if err != nil {
		return inputError(err)
	}
	fields, body := splitHeader(msg)
	rcpts, err := recipients(env, o, fields)
	if err != nil {
		return err
	}
	now := env.Now()
	fix := headerFix{sender: sender, fullName: o.fullName, hostname: env.Config.Hostname, dropBcc: o.extract}
	msg = fix.assemble(fields, body)
	if err := check(env, sender, rcpts, msg); err != nil {
		return intakeExit(err)
	}
	_, uid := env.User()
	_, err = drop(env.Config.MaildropPath(), maildrop.Envelope{Sender: sender, Rcpts: rcpts, Posted: now, UID: uid}, msg)
	return err
}

func inputError(err error) error {
	switch {
	case errors.Is(err, errTooBig):
		return intakeExit(intake.ErrSize)
	case errors.Is(err, errNUL):
		return intakeExit(intake.ErrNUL)
	}
	return fail(ExIOErr, "reading the message: %v", err)
}

// envelopeSender is -f (bare names get @hostname; "" and "<>" are the
// null sender), else the invoking user at hostname.
func envelopeSender(env Env, o options) (string, error) {
	s := o.sender
	if !o.senderSet {
		name, _ := env.User()
		s = name
	}
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") {
		s = s[1 : len(s)-1]
	}
	if s == "" {
		return "", nil
	}
	if !strings.Contains(s, "@") {
		s += "@" + env.Config.Hostname
	}
	if _, err := intake.ParseAddress(s, true); err != nil {
		return "", fail(ExUsage, "bad sender address %q: %v", s, err)
	}
	return s, nil
}

// recipients are the arguments plus, with -t, the To, Cc and Bcc
// addresses (Postfix adds both; classic sendmail would remove argument
// addresses from the list instead).
func recipients(env Env, o options, fields []intake.Field) ([]string, error) {
	var out []string
	for _, a := range o.rcpts {
		as, err := parseAddrs(a, env.Config.Hostname)
		if err != nil {
			return nil, fail(ExNoUser, "bad recipient address %q: %v", a, err)
		}
		out = append(out, as...)
	}
	if o.extract {
		as, err := headerRcpts(fields, env.Config.Hostname)
		if err != nil {
			return nil, err
		}
		out = append(out, as...)
	}
	if len(out) == 0 {
		return nil, fail(ExUsage, "no recipients")
	}
	if max := env.Config.Submission.MaxRecipients; max > 0 && len(out) > max {
		return nil, fail(ExUsage, "%s (%d, limit %d)", intake.ErrRcptLimit.Error(), len(out), max)
	}
	for _, r := range out {
		if _, err := intake.ParseAddress(r, true); err != nil {
			return nil, fail(ExNoUser, "bad recipient address %q: %v", r, err)
		}
	}
	return out, nil
}

// check runs intake's checks on what will be dropped (limits, hop count,
// line rules, labels), so the exit code says what the daemon would: it
// runs them again at pickup, where a refused file has nobody to tell.
func check(env Env, sender string, rcpts []string, msg []byte) error {
	c := env.Config.Submission
	// The keys' domains only: sendmail signs nothing and may not read them.
	var covered []dkim.Key
	for _, k := range env.Config.DKIM {
		covered = append(covered, dkim.Key{Domain: k.Domain, Selector: k.Selector})
	}
	in := intake.New(intake.Options{Hostname: env.Config.Hostname, MaxMessageBytes: c.MaxMessageBytes,
		MaxRecipients: c.MaxRecipients, MaxHops: c.MaxHops, DKIM: dkim.New(covered), RequireDKIM: env.Config.DKIMRequire})
	rs := make([]intake.Recipient, len(rcpts))
	for i, r := range rcpts {
		rs[i].Address = r
	}
	_, err := in.Prepare(intake.Message{Origin: intake.Origin{Kind: intake.Sendmail, Fixup: true, UTF8: true},
		Sender: sender, Rcpts: rs, Data: msg}, "check", env.Now())
	return err
}

// intakeExit maps intake's refusal to sysexits.h, with its reply text.
func intakeExit(err error) error {
	var e *intake.Error
	if !errors.As(err, &e) {
		return fail(ExSoftware, "%v", err)
	}
	code := ExDataErr
	switch {
	case e.Temporary():
		code = ExTempFail
	case e == intake.ErrRcptLimit:
		code = ExUsage
	case strings.HasPrefix(e.Enhanced, "5.1."):
		code = ExNoUser
	}
	return fail(code, "%s", e.Error())
}

// drop writes the maildrop file (E1), creating the directory when the
// daemon has never run, and maps failures to exit codes.
func drop(dir string, e maildrop.Envelope, msg []byte) (string, error) {
	name, err := maildrop.Drop(dir, e, msg)
	if errors.Is(err, fs.ErrNotExist) {
		if err = maildrop.Ensure(dir); err == nil {
			name, err = maildrop.Drop(dir, e, msg)
		}
	}
	switch {
	case err == nil:
		return name, nil
	case errors.Is(err, maildrop.ErrNoSpace):
		return "", fail(ExTempFail, "maildrop %s: no space left, try again later", dir)
	case errors.Is(err, fs.ErrPermission), errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.EROFS):
		return "", fail(ExCantCreat, "cannot write to the maildrop: %v", err)
	}
	return "", fail(ExIOErr, "writing to the maildrop: %v", err)
}

// OSEnv is the Env of a real process: stdio, the wall clock and the
// invoking user (login name from the password database, else $USER).
func OSEnv(prog string, c conf.Config, api admin.API) Env {
	return Env{Prog: prog, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Config: c, Admin: api, Now: time.Now, User: currentUser}
}

func currentUser() (string, int) {
	uid := os.Getuid()
	if u, err := user.LookupId(fmt.Sprint(uid)); err == nil {
		return u.Username, uid
	}
	if n := os.Getenv("USER"); n != "" {
		return n, uid
	}
	return fmt.Sprintf("uid%d", uid), uid
}
