package delivery

import (
	"fmt"
	"strings"

	"golang.org/x/net/idna"
)

// ASCIIDomain returns the lower-case A-label form (RFC 5890) of a domain:
// the only form DNS carries, the form an envelope without SMTPUTF8 needs,
// and so the one key for a destination ("bücher.test" and
// "xn--bcher-kva.test" are one). An ASCII name is only lower-cased: the
// IDNA lookup profile's hyphen rules would refuse names mail accepts today
// ("ab--c.test"), and an A-label already in ASCII needs no conversion.
func ASCIIDomain(name string) (string, error) {
	if isASCII(name) {
		return strings.ToLower(name), nil
	}
	a, err := idna.Lookup.ToASCII(name)
	if err != nil {
		return "", fmt.Errorf("domain %q is not a valid internationalised name: %w", name, err)
	}
	return strings.ToLower(a), nil
}

// envelopeAddr returns addr with its domain as an A-label, so that only a
// non-ASCII local part needs SMTPUTF8. An address whose domain does not
// convert is kept as given: the server judges it (it needs SMTPUTF8).
func envelopeAddr(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 || isASCII(addr[i+1:]) {
		return addr
	}
	a, err := ASCIIDomain(addr[i+1:])
	if err != nil {
		return addr
	}
	return addr[:i+1] + a
}

// wireJob is job as it goes on the wire: every domain an A-label.
// Deliver reports results under the addresses as given.
func wireJob(job Job) (Job, error) {
	w := job
	w.Sender = envelopeAddr(job.Sender)
	w.Rcpts = make([]string, len(job.Rcpts))
	for i, r := range job.Rcpts {
		w.Rcpts[i] = envelopeAddr(r)
	}
	var err error
	if !isASCII(job.Domain) {
		w.Domain, err = ASCIIDomain(job.Domain)
	}
	return w, err
}
