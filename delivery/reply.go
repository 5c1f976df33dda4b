package delivery

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-smtp"
)

// asReply returns the server reply inside err, or nil when err is nil or
// not a reply (network trouble, a local refusal by go-smtp).
func asReply(err error) *smtp.SMTPError {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	return nil
}

// replyFields turns a go-smtp reply into Code, Enhanced and Text. go-smtp
// parses an enhanced code off the text when it can; when it did not (the
// EnhancedCodeNotSet or NoEnhancedCode sentinels), we try the text again.
func replyFields(se *smtp.SMTPError) (int, string, string) {
	e := se.EnhancedCode
	if e != smtp.EnhancedCodeNotSet && e != smtp.NoEnhancedCode {
		return se.Code, fmt.Sprintf("%d.%d.%d", e[0], e[1], e[2]), se.Message
	}
	enh, text := splitEnhanced(se.Message)
	return se.Code, enh, text
}

// splitEnhanced splits an RFC 3463 code ("5.1.1") off the start of a reply
// text; enhanced is "" when the text has none.
func splitEnhanced(text string) (enhanced, rest string) {
	first, after, _ := strings.Cut(text, " ")
	if !validEnhanced(first) {
		return "", text
	}
	return first, after
}

// validEnhanced checks class "." subject "." detail, class 2, 4 or 5,
// subject 1–3 digits, detail 1–3 digits.
func validEnhanced(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || !strings.ContainsAny(parts[0], "245") {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) == 0 || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}
