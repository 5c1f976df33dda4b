package admin

import "errors"

// Errors callers branch on; the HTTP layer maps them to 404 and back.
var (
	ErrNoMessage     = errors.New("no such message in the queue")
	ErrNoSuppression = errors.New("address is not suppressed")
)
