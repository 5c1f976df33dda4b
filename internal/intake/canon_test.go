package intake

import (
	"bytes"
	"strings"
	"testing"
)

func TestCanonical(t *testing.T) {
	long := strings.Repeat("x", 1200)
	words := strings.Repeat("word ", 300) // 1,500 octets with spaces
	for _, tc := range []struct {
		name, in, want string
		err            *Error
	}{
		{"already canonical", "A: b\r\n\r\nbody\r\n", "A: b\r\n\r\nbody\r\n", nil},
		{"bare LF and CR", "A: b\n\rbody\rmore", "A: b\r\n\r\nbody\r\nmore\r\n", nil},
		{"NUL", "A: b\r\n\r\nx\x00y\r\n", "", ErrNUL},
		{"long body line broken", "A: b\r\n\r\n" + long + "\r\n", "A: b\r\n\r\n" + long[:998] + "\r\n " + long[998:] + "\r\n", nil},
		// "é" is 2 octets at 997-998: the break moves before it.
		{"long body line broken at a character", "A: b\r\n\r\n" + long[:997] + "é" + long[:50] + "\r\n", "A: b\r\n\r\n" + long[:997] + "\r\n é" + long[:50] + "\r\n", nil},
		{"long header folded at a space", "Subject: " + words + "\r\n\r\nx\r\n", "", nil},
		{"long header with nowhere to fold", "Subject: " + long + "\r\n\r\nx\r\n", "", ErrLongHeader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := canonical([]byte(tc.in))
			if tc.err != nil {
				if err != tc.err {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && string(got) != tc.want {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
			if !isCanonical(got) {
				t.Fatalf("result not canonical: %q", got)
			}
			for _, l := range bytes.Split(got, []byte("\r\n")) {
				if len(l) > MaxLine {
					t.Fatalf("line of %d octets", len(l))
				}
			}
			// Folding only adds CRLF before white space: unfolding gives
			// the original text back.
			if strings.HasPrefix(tc.name, "long header") {
				if u := strings.ReplaceAll(string(got), "\r\n ", " "); u != tc.in {
					t.Fatalf("unfolded %q", u)
				}
			}
		})
	}
}

func FuzzCanonical(f *testing.F) {
	f.Add([]byte("A: b\r\n\r\nbody\r\n"))
	f.Add([]byte("Subject: " + strings.Repeat("ab ", 400) + "\n\n" + strings.Repeat("y", 2100)))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := canonical(in)
		if err != nil {
			return
		}
		if !isCanonical(got) {
			t.Fatalf("not canonical: %q", got)
		}
		again, err := canonical(got)
		if err != nil || !bytes.Equal(again, got) {
			t.Fatalf("not idempotent: %v", err)
		}
		// Nothing but line breaks and the spaces of broken lines is
		// added or lost.
		strip := func(b []byte) []byte {
			return bytes.Map(func(r rune) rune {
				if r == '\r' || r == '\n' || r == ' ' {
					return -1
				}
				return r
			}, b)
		}
		if !bytes.Equal(strip(in), strip(got)) {
			t.Fatalf("content changed")
		}
	})
}
