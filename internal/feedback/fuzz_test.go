package feedback

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzParse feeds mutated reports to parse (Parse without its recover, so
// a panic fails the run) and checks the bounds of F1.
func FuzzParse(f *testing.F) {
	for _, dir := range labelSets {
		files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("From: a@b.example\nContent-Type: multipart/report; boundary=x\n\n--x\nContent-Type: multipart/mixed; boundary=x\n\n--x\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		raw = trimEnvelope(raw)
		if !looksLikeEmail(raw) {
			return
		}
		rep := parse(raw, Options{Classify: func(int, string, string, string) (string, string, bool) { return "hard", "x", true }})
		switch rep.Kind {
		case KindDSN, KindComplaint, KindAutoReply, KindNotBounce:
		default:
			t.Fatalf("kind %q", rep.Kind)
		}
		if len(rep.Recipients) > maxRecipients {
			t.Fatalf("%d recipients", len(rep.Recipients))
		}
		for _, r := range rep.Recipients {
			if len(r.Text) > maxText || !utf8.ValidString(r.Text) {
				t.Fatalf("text %d bytes, valid %v", len(r.Text), utf8.ValidString(r.Text))
			}
		}
		if _, err := json.Marshal(rep); err != nil {
			t.Fatal(err)
		}
	})
}
