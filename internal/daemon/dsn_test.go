package daemon

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

// TestBounceMessageEndToEnd: a 550 5.1.1 from the destination makes mtaq
// send the envelope sender an RFC 3464 report, from the null sender, to
// the sender domain's MX; Python's email package (an independent MIME
// parser) reads the right recipient, status and diagnostic code from it.
func TestBounceMessageEndToEnd(t *testing.T) {
	n := newInternet(t)
	n.mx("bad.test", 10, "mx.bad.test", "127.0.0.2", smtptest.WithRcpt(func(to string) error {
		return smtptest.Reply(550, "5.1.1", "<"+to+">: Recipient address rejected: User unknown in virtual mailbox table")
	}))
	id := n.send("app@sender.test", "nobody@bad.test")
	n.wait(id, 0, queue.Bounced)
	waitfor.True(t, "a bounce message at the sender's domain", func() bool { return len(n.senders.Messages()) > 0 })
	dsn := n.senders.Messages()[0]
	if dsn.From != "" || len(dsn.To) != 1 || dsn.To[0] != "app@sender.test" {
		t.Fatalf("DSN envelope from %q to %v, want <> to app@sender.test", dsn.From, dsn.To)
	}
	py := pythonParse(t, dsn.Data)
	t.Logf("python: %s %s, parts %v, recipient %v", py.ContentType, py.ReportType, py.Parts, py.Recipients)
	if py.ContentType != "multipart/report" || py.ReportType != "delivery-status" || len(py.Recipients) != 1 {
		t.Fatalf("parsed %+v", py)
	}
	r := py.Recipients[0]
	if r["Final-Recipient"] != "rfc822; nobody@bad.test" || r["Action"] != "failed" || r["Status"] != "5.1.1" ||
		!strings.Contains(r["Diagnostic-Code"], "550 5.1.1") {
		t.Fatalf("recipient block %v", r)
	}
	if !strings.Contains(py.HeadersPart, "Subject: e2e") || len(py.Defects) != 0 {
		t.Fatalf("headers part %q, defects %v", py.HeadersPart, py.Defects)
	}
}

type pyReport struct {
	ContentType string              `json:"content_type"`
	ReportType  string              `json:"report_type"`
	Parts       []string            `json:"parts"`
	Recipients  []map[string]string `json:"recipients"`
	HeadersPart string              `json:"headers_part"`
	Defects     []string            `json:"defects"`
}

// pythonParse runs internal/dsn's parse script (standard library email
// package only) over msg.
func pythonParse(t *testing.T, msg []byte) pyReport {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		missingTool(t, "python3 not installed")
	}
	file := filepath.Join(t.TempDir(), "dsn.eml")
	if err := os.WriteFile(file, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, filepath.Join("..", "dsn", "testdata", "parse_dsn.py"), file).Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	var r pyReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	return r
}
