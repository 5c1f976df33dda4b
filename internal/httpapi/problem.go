package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/intake"
)

// ProblemContentType is RFC 9457's media type.
const ProblemContentType = "application/problem+json"

// Problem is an RFC 9457 problem document. Field is an extension naming
// the request part at fault ("to[3]", "attachments[0].content",
// "Idempotency-Key"); Detail repeats it first ("to[3]: not an address").
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Field  string `json:"field,omitempty"`
	// SMTPCode is intake's refusal as SMTP would say it ("550 5.6.0"),
	// when intake refused.
	SMTPCode string `json:"smtp_code,omitempty"`
	// retryAfter, in seconds, becomes a Retry-After header.
	retryAfter int
	// tooLarge marks a body over its limit, for the caller to word.
	tooLarge bool
}

func (p *Problem) Error() string { return p.Detail }

// Problem types: a URN per kind, stable for clients to switch on.
const (
	typeInvalid      = "urn:mtaq:problem:invalid-request"
	typeUnauthorized = "urn:mtaq:problem:unauthorized"
	typeForbidden    = "urn:mtaq:problem:forbidden"
	typeRateLimited  = "urn:mtaq:problem:rate-limited"
	typeNotFound     = "urn:mtaq:problem:not-found"
	typeTooLarge     = "urn:mtaq:problem:too-large"
	typeRefused      = "urn:mtaq:problem:refused"
	typeUnavailable  = "urn:mtaq:problem:unavailable"
	typeInternal     = "urn:mtaq:problem:internal"
	typeMediaType    = "urn:mtaq:problem:unsupported-media-type"
)

// invalidField is a 400 naming field.
func invalidField(field, format string, a ...any) *Problem {
	msg := fmt.Sprintf(format, a...)
	detail := msg
	if field != "" {
		detail = field + ": " + msg
	}
	return &Problem{Type: typeInvalid, Title: "Invalid request", Status: http.StatusBadRequest, Detail: detail, Field: field}
}

// refusedField is a 422: well-formed, but a check refused it.
func refusedField(field, msg string) *Problem {
	p := invalidField(field, "%s", msg)
	p.Type, p.Title, p.Status = typeRefused, "Message refused", http.StatusUnprocessableEntity
	return p
}

// fromIntake maps intake's refusal to a problem; field names the request
// part it concerns when intake's own Field does not say better.
func fromIntake(err error, field string) *Problem {
	var dup *Problem
	if errors.As(err, &dup) {
		return dup
	}
	var e *intake.Error
	if !errors.As(err, &e) {
		return internal()
	}
	code := fmt.Sprintf("%d %s", e.Code, e.Enhanced)
	if f := jsonField(e.Field); f != "" {
		field = f
	}
	var p *Problem
	switch {
	case e == intake.ErrSize:
		p = &Problem{Type: typeTooLarge, Title: "Message too large", Status: http.StatusRequestEntityTooLarge, Detail: e.Text}
	case e == intake.ErrNoSpace:
		p = &Problem{Type: typeUnavailable, Title: "Insufficient storage", Status: http.StatusInsufficientStorage,
			Detail: e.Text, retryAfter: 60}
	case e.Temporary():
		p = &Problem{Type: typeUnavailable, Title: "Try again later", Status: http.StatusServiceUnavailable,
			Detail: e.Text, retryAfter: 5}
	default:
		p = refusedField(field, e.Text)
		p.Detail = e.Text
		if field != "" {
			p.Detail = field + ": " + e.Text
		}
	}
	p.SMTPCode = code
	if p.Field == "" {
		p.Field = field
	}
	return p
}

// jsonField maps intake's header-field names back to the JSON fields that
// made them: X-Mtaq-Tag is "tag", X-Mtaq-Metadata-k is "metadata.k".
func jsonField(f string) string {
	switch {
	case f == "":
		return ""
	case f == intake.TagHeader:
		return "tag"
	case len(f) > len(intake.MetadataPrefix) && http.CanonicalHeaderKey(f[:len(intake.MetadataPrefix)]) == http.CanonicalHeaderKey(intake.MetadataPrefix):
		return "metadata." + f[len(intake.MetadataPrefix):]
	case f == "From":
		return "from"
	}
	return "headers." + f
}

// fromAdmin maps the admin Service's errors.
func fromAdmin(err error) *Problem {
	switch {
	case errors.Is(err, admin.ErrNoMessage):
		return &Problem{Type: typeNotFound, Title: "No such message", Status: http.StatusNotFound, Detail: err.Error()}
	case errors.Is(err, admin.ErrNoSuppression):
		return &Problem{Type: typeNotFound, Title: "No such suppression", Status: http.StatusNotFound, Detail: err.Error()}
	case errors.Is(err, admin.ErrInvalid):
		return invalidField("", "%s", err.Error())
	}
	return internal()
}

func internal() *Problem {
	return &Problem{Type: typeInternal, Title: "Internal error", Status: http.StatusInternalServerError,
		Detail: "the server failed; nothing about the request was at fault"}
}

func notFound(detail string) *Problem {
	return &Problem{Type: typeNotFound, Title: "Not found", Status: http.StatusNotFound, Detail: detail}
}

// writeProblem sends p as application/problem+json.
func writeProblem(w http.ResponseWriter, p *Problem) {
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.retryAfter))
	}
	w.Header().Set("Content-Type", ProblemContentType)
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p) //nolint:errcheck // the client is gone
}
