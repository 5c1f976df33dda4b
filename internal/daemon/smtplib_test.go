package daemon

import (
	"context"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

// smtplibScript sends what Python's documentation shows: an EmailMessage
// with From, To and Subject only (no Message-ID, no Date), labelled with
// mtaq's tag and metadata headers.
const smtplibScript = `
import smtplib, sys
from email.message import EmailMessage
m = EmailMessage()
m["From"] = "App <app@sender.test>"
m["To"] = "user@ok.test"
m["Subject"] = "Welcome aboard"
m["X-Mtaq-Tag"] = "welcome"
m["X-Mtaq-Metadata-user_id"] = "42"
m.set_content("hello from smtplib\n")
host, port = sys.argv[1].rsplit(":", 1)
with smtplib.SMTP(host, int(port)) as s:
    s.send_message(m)
`

// TestPythonSMTPLib: an app using smtplib's EmailMessage, which adds
// neither Message-ID nor Date, gets both added by mtaq (Gmail refuses mail
// without a Message-ID), its labels never reach the recipient, and every
// webhook of the recipient carries them.
func TestPythonSMTPLib(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		missingTool(t, "python3 is not installed")
	}
	rcv := &hookReceiver{secret: "app-secret", got: map[uint64]int{}, kinds: map[string]int{},
		bodies: map[uint64]map[string]any{}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	n := newInternet(t, func(c *conf.Config) { c.Webhooks = []conf.Webhook{{URL: srv.URL, Secret: "app-secret"}} })
	mx := n.mx("ok.test", 10, "mx.ok.test", "127.0.0.2")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, py, "-c", smtplibScript, n.d.Addrs()[0].String()).CombinedOutput(); err != nil {
		t.Fatalf("smtplib: %v\n%s", err, out)
	}
	waitfor.True(t, "the message at the MX", func() bool { return len(mx.Messages()) == 1 })
	got := string(mx.Messages()[0].Data)
	header, _, _ := strings.Cut(got, "\r\n\r\n")
	id := regexp.MustCompile(`(?m)^Message-ID: <([0-9A-Z]{16})@mtaq\.test>\r?$`).FindStringSubmatch(header)
	if id == nil || !regexp.MustCompile(`(?m)^Date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\r?$`).MatchString(header) {
		t.Fatalf("delivered without Message-ID or Date:\n%s", header)
	}
	if strings.Contains(strings.ToLower(got), "x-mtaq") || strings.Count(header, "\nFrom: ") != 1 {
		t.Fatalf("labels or a second From reached the recipient:\n%s", header)
	}
	n.wait(id[1], 0, queue.Delivered)
	waitfor.True(t, "the queued and delivered webhooks", func() bool {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		return rcv.kinds[queue.EventQueued] == 1 && rcv.kinds[queue.EventDelivered] == 1
	})
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for _, b := range rcv.bodies {
		meta, _ := b["metadata"].(map[string]any)
		pm, _ := b["Metadata"].(map[string]any)
		if b["tag"] != "welcome" || b["Tag"] != "welcome" || meta["user_id"] != "42" || pm["user_id"] != "42" ||
			b["Subject"] != "Welcome aboard" || b["From"] != "App <app@sender.test>" || b["queue_id"] != id[1] {
			t.Fatalf("%s webhook: %v", b["event"], b)
		}
	}
}
