package dkim

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
	"time"
)

// BenchmarkSign is the CPU one signature costs: RSA-2048 is a private-key
// operation per message, Ed25519 a tenth of it.
func BenchmarkSign(b *testing.B) {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, ek, _ := ed25519.GenerateKey(rand.Reader)
	msg := []byte("From: a@x.test\r\nTo: b@y.test\r\nSubject: s\r\nDate: Mon, 07 Dec 2026 09:00:00 +0000\r\nMessage-ID: <1@x>\r\n\r\n" + strings.Repeat("body line of text\r\n", 160))
	for _, tc := range []struct {
		name string
		k    Key
	}{{"rsa2048", Key{Domain: "x.test", Selector: "s", Signer: rk}}, {"ed25519", Key{Domain: "x.test", Selector: "s", Signer: ek}}} {
		s := New([]Key{tc.k})
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				if _, err := s.Sign(msg, "x.test", time.Time{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
