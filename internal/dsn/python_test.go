package dsn

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pyDSN is what testdata/parse_dsn.py reports.
type pyDSN struct {
	ContentType   string              `json:"content_type"`
	ReportType    string              `json:"report_type"`
	Subject       string              `json:"subject"`
	From          string              `json:"from"`
	To            string              `json:"to"`
	AutoSubmitted string              `json:"auto_submitted"`
	Defects       []string            `json:"defects"`
	Parts         []string            `json:"parts"`
	PerMessage    map[string]string   `json:"per_message"`
	Recipients    []map[string]string `json:"recipients"`
	HeadersPart   string              `json:"headers_part"`
	TextPart      string              `json:"text_part"`
}

// parseWithPython runs Python's email package over msg. It skips when
// python3 is missing, unless MTAQ_E2E_TOOLS=require.
func parseWithPython(t *testing.T, msg []byte) pyDSN {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("MTAQ_E2E_TOOLS") == "require" {
			t.Fatal("python3 not found and MTAQ_E2E_TOOLS=require")
		}
		t.Skip("python3 not found")
	}
	file := filepath.Join(t.TempDir(), "dsn.eml")
	if err := os.WriteFile(file, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, filepath.Join("testdata", "parse_dsn.py"), file).Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderrOf(err))
	}
	var d pyDSN
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	return d
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

const origHeaders = "Received: from app ([127.0.0.1])\r\n\tby mta.example.test (mtaq) with ESMTP id 01JN0000000000AA;\r\n" +
	"\tSat, 01 Mar 2025 09:00:00 +0000\r\n" +
	"From: App <app@example.org>\r\n" +
	"To: nobody@example.test\r\n" +
	"Subject: Your invoice 42\r\n" +
	"Message-ID: <invoice-42@example.org>\r\n\r\n"

func TestPythonParsesHardBounce(t *testing.T) {
	t.Parallel()
	msg, err := Build(Input{Hostname: "mta.example.org", ID: "01JN0000000000BB", Now: t0.Add(time.Minute),
		To: "app@example.org", QueueID: "01JN0000000000AA", Arrived: t0, Headers: []byte(origHeaders),
		Rcpts: []Recipient{{Address: "nobody@example.test", Action: Failed, Code: 550, Enhanced: "5.1.1",
			Text:     "<nobody@example.test>: Recipient address rejected:\nUser unknown in virtual mailbox table",
			Category: "user_unknown", MX: "mx.example.test", LastTry: t0.Add(time.Minute)}}})
	if err != nil {
		t.Fatal(err)
	}
	d := parseWithPython(t, msg)
	if d.ContentType != "multipart/report" || d.ReportType != "delivery-status" {
		t.Fatalf("content type %q report-type %q", d.ContentType, d.ReportType)
	}
	if want := []string{"text/plain", "message/delivery-status", "text/rfc822-headers"}; strings.Join(d.Parts, ",") != strings.Join(want, ",") {
		t.Fatalf("parts %v, want %v", d.Parts, want)
	}
	if len(d.Defects) != 0 {
		t.Errorf("python found defects %v", d.Defects)
	}
	if d.Subject != "Undelivered Mail Returned to Sender" || d.AutoSubmitted != "auto-replied" ||
		d.From != "Mail Delivery System <MAILER-DAEMON@mta.example.org>" || d.To != "app@example.org" {
		t.Errorf("envelope: %+v", d)
	}
	if d.PerMessage["Reporting-MTA"] != "dns; mta.example.org" || d.PerMessage["Arrival-Date"] == "" {
		t.Errorf("per-message fields %v", d.PerMessage)
	}
	if len(d.Recipients) != 1 {
		t.Fatalf("recipients %v", d.Recipients)
	}
	r := d.Recipients[0]
	checkField(t, r, "Final-Recipient", "rfc822; nobody@example.test")
	checkField(t, r, "Action", "failed")
	checkField(t, r, "Status", "5.1.1")
	checkField(t, r, "Remote-MTA", "dns; mx.example.test")
	if dc := r["Diagnostic-Code"]; !strings.Contains(dc, "smtp; 550 5.1.1") || !strings.Contains(dc, "User unknown") {
		t.Errorf("Diagnostic-Code %q", dc)
	}
	if !strings.Contains(d.HeadersPart, "Subject: Your invoice 42") ||
		!strings.Contains(d.HeadersPart, "Message-ID: <invoice-42@example.org>") {
		t.Errorf("headers part %q", d.HeadersPart)
	}
	if !strings.Contains(d.TextPart, "the address does not exist") {
		t.Errorf("text part %q", d.TextPart)
	}
	t.Logf("python parsed recipient block: %v", r)
}

func TestPythonParsesDelayWarning(t *testing.T) {
	t.Parallel()
	msg, err := Build(Input{Hostname: "mta.example.org", ID: "01JN0000000000CC", Now: t0.Add(4 * time.Hour),
		To: "app@example.org", QueueID: "01JN0000000000AA", Arrived: t0, Headers: []byte(origHeaders),
		Rcpts: []Recipient{{Address: "slow@example.test", Action: Delayed, Code: 451, Enhanced: "4.7.1",
			Text: "Greylisted, try again later", Category: "greylisting", MX: "mx.example.test",
			LastTry: t0.Add(4 * time.Hour), RetryUntil: t0.Add(72 * time.Hour)}}})
	if err != nil {
		t.Fatal(err)
	}
	d := parseWithPython(t, msg)
	if d.Subject != "Delayed Mail (still being retried)" || len(d.Parts) != 3 || len(d.Defects) != 0 {
		t.Fatalf("got %+v", d)
	}
	if len(d.Recipients) != 1 {
		t.Fatalf("recipients %v", d.Recipients)
	}
	r := d.Recipients[0]
	checkField(t, r, "Final-Recipient", "rfc822; slow@example.test")
	checkField(t, r, "Action", "delayed")
	checkField(t, r, "Status", "4.7.1")
	checkField(t, r, "Will-Retry-Until", "Tue, 04 Mar 2025 09:00:00 +0000")
	if !strings.Contains(r["Diagnostic-Code"], "smtp; 451 4.7.1 Greylisted") {
		t.Errorf("Diagnostic-Code %q", r["Diagnostic-Code"])
	}
}

func checkField(t *testing.T, block map[string]string, name, want string) {
	t.Helper()
	if got := block[name]; got != want {
		t.Errorf("%s = %q, want %q", name, got, want)
	}
}
