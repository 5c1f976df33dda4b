package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const bounceSamples = "../../internal/feedback/testdata/docs"

// TestBounceParse: one JSON line per file with the classifier's verdict;
// a missing file and a non-email are named on stderr, the rest still
// printed, and the exit status says what went wrong.
func TestBounceParse(t *testing.T) {
	notMail := filepath.Join(t.TempDir(), "junk.bin")
	if err := os.WriteFile(notMail, []byte("\x00\x01 this is not an email\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		lines int
		code  int
		errs  []string
	}{
		{"files", []string{bounceSamples + "/postfix-dsn.eml", bounceSamples + "/arf-rfc5965.eml"}, "", 2, 0, nil},
		{"stdin", nil, "From: a@example.com\nSubject: hi\n\nhello\n", 1, 0, nil},
		{"missing", []string{"/nonexistent/x.eml", bounceSamples + "/qmail.eml"}, "", 1, exitNoInput, []string{"/nonexistent/x.eml"}},
		{"not email", []string{notMail, bounceSamples + "/qmail.eml"}, "", 1, exitDataErr, []string{"junk.bin", "not an email"}},
		{"missing wins", []string{notMail, "/nonexistent/y.eml"}, "", 0, exitNoInput, []string{"junk.bin", "y.eml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := bounceParse(tc.args, strings.NewReader(tc.stdin), &out, &errb)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tc.code, errb.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if out.Len() == 0 {
				lines = nil
			}
			if len(lines) != tc.lines {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), tc.lines, out.String())
			}
			for _, e := range tc.errs {
				if !strings.Contains(errb.String(), e) {
					t.Errorf("stderr %q lacks %q", errb.String(), e)
				}
			}
		})
	}
}

func TestBounceParseFields(t *testing.T) {
	var out, errb bytes.Buffer
	if code := bounceParse([]string{bounceSamples + "/postfix-dsn.eml", bounceSamples + "/arf-rfc5965.eml"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	dec := json.NewDecoder(&out)
	var dsn, arf map[string]any
	if err := dec.Decode(&dsn); err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(&arf); err != nil {
		t.Fatal(err)
	}
	if dsn["file"] != bounceSamples+"/postfix-dsn.eml" || dsn["kind"] != "dsn" {
		t.Errorf("dsn line %v", dsn)
	}
	r := dsn["recipients"].([]any)[0].(map[string]any)
	want := map[string]any{"address": "nobody.here@example.org", "action": "failed", "status": "5.1.1",
		"code": 550.0, "enhanced": "5.1.1", "class": "hard", "category": "user_unknown", "suppress": true}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("recipient %s = %v, want %v", k, r[k], v)
		}
	}
	if o := dsn["original"].(map[string]any); o["queue_id"] != "06A2M3KQ8C9T0V1W" || o["message_id"] != "order-1001@example.com" {
		t.Errorf("original %v", o)
	}
	if arf["kind"] != "complaint" || arf["feedback_type"] != "abuse" {
		t.Errorf("arf line %v", arf)
	}
	if o := arf["original"].(map[string]any); o["recipient"] != "user@mailbox.example" {
		t.Errorf("arf original %v", o)
	}
}
