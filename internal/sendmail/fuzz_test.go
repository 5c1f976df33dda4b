package sendmail

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzHeaderRecipients feeds arbitrary messages to -t's header parsing: no
// panic, the header and body split loses no byte, and no recipient it
// returns carries a line break or NUL into the envelope.
func FuzzHeaderRecipients(f *testing.F) {
	f.Add([]byte("To: a@x.test, \"B\" <b@y.test>\r\nCc: team: c@z.test, d@z.test;\r\nBcc: root\r\n\r\nhi\r\n"))
	f.Add([]byte("to: \"a\r\n b\"@x\r\nBCC: <e@f>\r\n"))
	f.Add([]byte("Subject: no recipients\r\n\r\n"))
	f.Add([]byte("hello without header\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		fields, body := splitHeader(msg)
		var whole bytes.Buffer
		for _, fl := range fields {
			whole.Write(fl.Raw)
		}
		if !bytes.HasSuffix(msg, body) || whole.Len()+len(body) > len(msg) {
			t.Fatalf("split lost or invented bytes: %d fields, %d body of %d", whole.Len(), len(body), len(msg))
		}
		rcpts, err := headerRcpts(fields, "host.test")
		if err != nil {
			return
		}
		for _, r := range rcpts {
			if strings.ContainsAny(r, "\r\n\x00") {
				t.Fatalf("recipient %q carries a line break or NUL", r)
			}
		}
	})
}
