package admin

import (
	"errors"
	"fmt"
)

// Errors callers branch on; the HTTP layer maps them to 404 and back.
var (
	ErrNoMessage     = errors.New("no such message in the queue")
	ErrNoSuppression = errors.New("address is not suppressed")
	ErrNoWebhook     = errors.New("no such webhook")
	// ErrInvalid is a bad request (unknown state or reason, bad address,
	// no selector); HTTP 400.
	ErrInvalid = errors.New("invalid request")
	// ErrDaemonDown: nothing answers on the admin socket. sendmail falls
	// back to its maildrop; the CLI exits 69 (EX_UNAVAILABLE).
	ErrDaemonDown = errors.New("daemon not running")
)

// kindError is an error whose text is for people and whose kind is for
// errors.Is: "no message X in the queue" matches ErrNoMessage.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func noMessage(id string) error {
	return &kindError{fmt.Sprintf("no message %s in the queue", id), ErrNoMessage}
}

func noSuppression(addr string) error {
	return &kindError{fmt.Sprintf("%s is not suppressed", addr), ErrNoSuppression}
}

// NoWebhook is ErrNoWebhook naming the webhook.
func NoWebhook(name string) error {
	return &kindError{fmt.Sprintf("no webhook named %q (mtaq webhooks ls lists them)", name), ErrNoWebhook}
}

func invalid(format string, args ...any) error {
	return &kindError{fmt.Sprintf(format, args...), ErrInvalid}
}

// daemonDown names the socket so the operator knows where mtaq looked.
func daemonDown(where string) error {
	return &kindError{fmt.Sprintf("cannot reach the daemon at %s: is \"mtaq serve\" running?", where), ErrDaemonDown}
}
