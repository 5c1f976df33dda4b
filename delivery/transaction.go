package delivery

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-smtp"
)

// transaction runs MAIL, RCPT for each recipient and, when at least one was
// accepted, DATA. A connection lost at MAIL is a failure before anything
// was committed (fail, the caller fails over); from the first RCPT on,
// every recipient gets a result and there is no failover.
func (s *session) transaction(c *smtp.Client, body []byte, utf8 bool) ([]Result, *Result) {
	opts := &smtp.MailOptions{Size: int64(len(body)), UTF8: utf8}
	if err := c.Mail(s.job.Sender, opts); err != nil {
		if asReply(err) == nil {
			r := s.lost(StageMail, "4.4.2", err)
			return nil, &r
		}
		return fill(len(s.job.Rcpts), s.reply(StageMail, asReply(err))), nil
	}
	res := make([]Result, len(s.job.Rcpts))
	accepted, ok := s.rcpts(c, res)
	if ok && len(accepted) > 0 {
		s.data(c, body, res, accepted)
	}
	return res, nil
}

// rcpts sends RCPT for each recipient and fills its result. It returns the
// indices accepted, and false when the session ended early (a 421 or a
// lost connection): then every recipient without a refusal of its own,
// accepted ones included, gets that ending.
func (s *session) rcpts(c *smtp.Client, res []Result) ([]int, bool) {
	var accepted []int
	for i, rcpt := range s.job.Rcpts {
		if err := checkAddr(rcpt); err != nil {
			res[i] = s.base(StageRcpt)
			res[i].Enhanced, res[i].Err = "5.1.3", fmt.Errorf("recipient: %w", err)
			res[i].Text = res[i].Err.Error()
			continue
		}
		err := c.Rcpt(rcpt, nil)
		se := asReply(err)
		switch {
		case err == nil || se != nil && se.Code/100 == 2:
			res[i] = s.accepted(StageRcpt, se)
			accepted = append(accepted, i)
		case se == nil || se.Code == 421:
			s.abort(res, i, s.fromErr(StageRcpt, err))
			return nil, false
		default:
			res[i] = s.reply(StageRcpt, se)
		}
	}
	return accepted, true
}

// accepted is the Result of a 2xx. go-smtp does not hand us the text of a
// plain 250, only of other 2xx codes (as an *smtp.SMTPError).
func (s *session) accepted(stage Stage, se *smtp.SMTPError) Result {
	if se != nil {
		return s.reply(stage, se)
	}
	r := s.base(stage)
	r.Code = 250
	return r
}

// abort gives r to the recipients from index from on and to those accepted
// before it: the transaction is over without DATA.
func (s *session) abort(res []Result, from int, r Result) {
	for j := range res {
		if j >= from || res[j].Code/100 == 2 {
			res[j] = r
		}
	}
}

// data sends the body; the reply to the final dot is every accepted
// recipient's result.
func (s *session) data(c *smtp.Client, body []byte, res []Result, accepted []int) {
	set := func(r Result) {
		for _, i := range accepted {
			res[i] = r
		}
	}
	w, err := c.Data()
	if err != nil {
		set(s.fromErr(StageData, err))
		return
	}
	if _, err := w.Write(body); err != nil {
		set(s.lost(StageData, "4.4.2", err))
		return
	}
	s.dc.setTimeout(s.d.opts.DataTimeout)
	resp, err := w.CloseWithResponse()
	s.dc.setTimeout(s.d.opts.CommandTimeout)
	switch se := asReply(err); {
	case err == nil:
		r := s.base(StageData)
		r.Code = 250
		r.Enhanced, r.Text = splitEnhanced(resp.StatusText)
		set(r)
	case se != nil:
		set(s.reply(StageData, se))
	default:
		r := s.lost(StageData, "4.4.2", err)
		r.Text = fmt.Sprintf("connection to %s [%s] lost after the final dot, the message may have been delivered: %v",
			s.host, s.ip, err)
		set(r)
	}
}

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
