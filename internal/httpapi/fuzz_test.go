package httpapi

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/mtaq/mtaq/internal/intake"
)

// FuzzSendRequest feeds arbitrary bodies to the strict decoder and the
// MIME builder: every input is either a 4xx problem naming what is wrong
// or a message whose header holds no field the request did not ask for.
func FuzzSendRequest(f *testing.F) {
	for _, seed := range []string{
		`{"from":"a@x.test","to":["b@y.test"],"text":"hi"}`,
		`{"from":"A <a@x.test>","to":["b@y.test"],"cc":["c@y.test"],"bcc":["d@y.test"],"subject":"é","html":"<p>x</p>","text":"x",` +
			`"headers":{"X-A":"1"},"attachments":[{"filename":"a.txt","content_type":"text/plain","content":"YQ=="}],"tag":"t","metadata":{"k":"v"}}`,
		`{"from":"a@x.test","to":["b@y.test"],"text":"x","headers":{"X-A":"v\r\nBcc: e@z"}}`,
		`{"from":"a@x.test","to":"b@y.test"}`,
		`{"from":1}`, `[]`, `{}`, `{"x":1}`, `{"from":"a@x.test"} {}`, ``, `{`,
		`{"messages":[{"from":"a@x.test","to":["b@y.test"],"text":"x"}]}`,
	} {
		f.Add([]byte(seed))
	}
	s := &Server{o: Options{Intake: intake.New(intake.Options{Hostname: "h.test", Store: nil})}}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req SendRequest
		if p := decodeBytes(data, &req); p != nil {
			if p.Status != http.StatusBadRequest || p.Type != typeInvalid || p.Detail == "" {
				t.Fatalf("decode problem %+v", p)
			}
			return
		}
		env, msg, p := s.build(&req, "")
		if p != nil {
			if p.Status/100 != 4 || p.Field == "" || !strings.HasPrefix(p.Detail, p.Field+": ") {
				t.Fatalf("build problem %+v", p)
			}
			return
		}
		if len(env.rcpts) == 0 || env.sender == "" || len(msg) <= intake.Headroom {
			t.Fatalf("built %+v, %d bytes", env, len(msg))
		}
		header, _, _ := bytes.Cut(msg[intake.Headroom:], []byte("\r\n\r\n"))
		for _, line := range bytes.Split(header, []byte("\r\n")) {
			if len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
				continue // a continuation
			}
			name, _, ok := bytes.Cut(line, []byte(":"))
			if !ok {
				t.Fatalf("header line without a colon: %q", line)
			}
			if bytes.EqualFold(name, []byte("Bcc")) {
				t.Fatalf("a Bcc field reached the header:\n%s", header)
			}
		}
	})
}
