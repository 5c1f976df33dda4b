package verp

import (
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/queue"
)

func TestRoundTrip(t *testing.T) {
	s := New([]byte("0123456789abcdef0123456789abcdef"))
	id := queue.NewID(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	addr, ok := s.Address(id, "bounce.example.com")
	if !ok || !strings.HasPrefix(addr, "b-"+strings.ToLower(id)+"-") || !strings.HasSuffix(addr, "@bounce.example.com") {
		t.Fatalf("address %q %v", addr, ok)
	}
	local := addr[:strings.IndexByte(addr, '@')]
	if len(local) > 64 {
		t.Fatalf("local part of %d octets", len(local))
	}
	for _, l := range []string{local, strings.ToUpper(local)} {
		if got, ok := s.Parse(l); !ok || got != id {
			t.Fatalf("Parse(%q) = %q %v, want %s", l, got, ok, id)
		}
	}
}

// Nobody without the key makes a token: another key's, a changed ID with
// the old mac, a changed mac, and what is not a token at all are refused.
func TestForgeriesRefused(t *testing.T) {
	s := New([]byte("0123456789abcdef0123456789abcdef"))
	other := New([]byte("fedcba9876543210fedcba9876543210"))
	id := queue.NewID(time.Now())
	addr, _ := s.Address(id, "b.test")
	local := addr[:strings.IndexByte(addr, '@')]
	forged, _ := other.Address(id, "b.test")
	otherID := queue.NewID(time.Now().Add(time.Hour))
	swapped := Prefix + strings.ToLower(otherID) + local[len(Prefix)+idLen:]
	repl := "0"
	if local[len(local)-1] == '0' {
		repl = "1"
	}
	flipped := local[:len(local)-1] + repl
	for name, l := range map[string]string{
		"other key":    forged[:strings.IndexByte(forged, '@')],
		"swapped ID":   swapped,
		"changed mac":  flipped,
		"plain sender": "app",
		"short":        local[:len(local)-1],
		"empty":        "",
		"no prefix":    "x-" + local[2:],
	} {
		if got, ok := s.Parse(l); ok {
			t.Errorf("%s: %q accepted as %s", name, l, got)
		}
	}
	if _, ok := s.Address("Q0001", "b.test"); ok {
		t.Error("an ID queue.NewID does not make got a token")
	}
}

func FuzzParse(f *testing.F) {
	s := New([]byte("0123456789abcdef0123456789abcdef"))
	addr, _ := s.Address(queue.NewID(time.Unix(1800000000, 0)), "b.test")
	f.Add(addr[:strings.IndexByte(addr, '@')])
	f.Add("b-0000000000000000-0000000000")
	f.Fuzz(func(t *testing.T, local string) {
		id, ok := s.Parse(local)
		if !ok {
			return
		}
		// Whatever parses is exactly what Address makes for that ID.
		again, ok2 := s.Address(id, "b.test")
		if !ok2 || !strings.EqualFold(again[:strings.IndexByte(again, '@')], local) {
			t.Fatalf("%q parsed as %s, but Address gives %q", local, id, again)
		}
	})
}
