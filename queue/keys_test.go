package queue

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDueKeyRoundTripAndOrder(t *testing.T) {
	a := dueKey(t0, "06ABC", 3)
	n, id, idx, err := parseDueKey(a)
	if err != nil || n != uint64(t0.UnixNano()) || id != "06ABC" || idx != 3 {
		t.Fatalf("parse = %d %q %d %v", n, id, idx, err)
	}
	// Earlier times sort first whatever the ID; pre-1970 clamps, not wraps.
	if b := dueKey(t0.Add(time.Nanosecond), "0", 0); bytes.Compare(a, b) >= 0 {
		t.Fatal("due keys not ordered by time")
	}
	if old := dueKey(time.Unix(-5, 0), "Z", 0); bytes.Compare(old, a) >= 0 {
		t.Fatal("pre-1970 time sorts after now")
	}
	if k := dueKey(t0, "X", 1); bytes.Compare(k, dueUpper(t0)) >= 0 || bytes.Compare(k, dueUpper(t0.Add(-1))) < 0 {
		t.Fatal("dueUpper is not the bound just after now")
	}
	for _, bad := range [][]byte{nil, []byte("d/"), []byte("x/12345678A/1234"), []byte("d/12345678/123")} {
		if _, _, _, err := parseDueKey(bad); err == nil {
			t.Errorf("parseDueKey(%q): want error", bad)
		}
	}
}

func TestPrefixEnd(t *testing.T) {
	if got := prefixEnd([]byte("r/A/")); string(got) != "r/A0" {
		t.Fatalf("prefixEnd = %q", got)
	}
	if got := prefixEnd([]byte{'a', 0xff}); string(got) != "b" {
		t.Fatalf("prefixEnd = %q", got)
	}
}

func TestDecodeRejectsCorruption(t *testing.T) {
	good, err := encode(&rcptRecord{Recipient: Recipient{Address: "a@x", State: Queued}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeRecipient(good); err != nil {
		t.Fatalf("good record: %v", err)
	}
	for name, b := range map[string][]byte{
		"empty":         nil,
		"version":       append([]byte{9}, good[1:]...),
		"unknown field": append([]byte{1}, `{"index":0,"state":"queued","bogus":1}`...),
		"trailing":      append(bytes.Clone(good), `{}`...),
		"bad state":     append([]byte{1}, `{"index":0,"state":"limbo"}`...),
		"truncated":     good[:len(good)/2],
	} {
		if _, err := decodeRecipient(b); err == nil {
			t.Errorf("%s: want error", name)
		}
	}
}

func FuzzDecodeRecipient(f *testing.F) {
	good, _ := encode(&rcptRecord{Recipient: Recipient{Address: "a@x", State: Deferred, NextAttempt: t0}, Timeline: 2})
	f.Add(good)
	f.Add([]byte{1, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecipient(b)
		if err != nil {
			return
		}
		// Whatever decodes must encode and decode to the same record.
		again, err := encode(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeRecipient(again); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func FuzzDecodeMessage(f *testing.F) {
	good, _ := encode(&msgRecord{ID: "06ABC", Arrived: t0, Rcpts: 2, Open: 1})
	f.Add(good)
	f.Add([]byte{1, 'n', 'u', 'l', 'l'})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err != nil {
			return
		}
		if validID(m.ID) != nil || m.Open > m.Rcpts {
			t.Fatalf("accepted out-of-range record %+v", m)
		}
	})
}

// TestDecoderReuse: one recordDecoder through records of every size, with
// blanks after some: each decodes to itself, and a record with anything
// after its value is refused (then the decoder is not reused).
func TestDecoderReuse(t *testing.T) {
	d := decoders.New().(*recordDecoder)
	for i, n := range []int{0, 10, 600, 3, 5000, 1, 700, 0} {
		want := rcptRecord{Recipient: Recipient{Index: i, Address: strings.Repeat("a", n) + "@x", State: Queued}, Timeline: uint32(n)}
		b, err := encode(&want)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			b = append(b, " \r\n\t"...)
		}
		var got rcptRecord
		if err := d.decode(b[1:], &got); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("record %d (%d bytes): %+v, %v", i, len(b), got, err)
		}
	}
	good, _ := encode(&rcptRecord{Recipient: Recipient{Address: "a@x", State: Queued}})
	for _, tail := range []string{"}", " ]", "{}", "x"} {
		var got rcptRecord
		if err := decoders.New().(*recordDecoder).decode(append(bytes.Clone(good[1:]), tail...), &got); err == nil {
			t.Errorf("trailing %q: no error", tail)
		}
	}
}

// TestEncodeAsMarshal: a record is the version byte and json.Marshal's
// bytes, whichever way it is written, and the pooled buffer carries
// nothing from one record to the next.
func TestEncodeAsMarshal(t *testing.T) {
	for _, v := range []any{
		&rcptRecord{Recipient: Recipient{Address: strings.Repeat("<a&b>", 300) + "@x", State: Deferred, NextAttempt: t0}, Timeline: 3},
		&msgRecord{ID: "06ABC", Sender: "s@x", Arrived: t0, Headers: "Subject: <hi>\r\n", Rcpts: 1, Open: 1},
		&Attempt{At: t0, Duration: time.Second, Reply: Reply{Code: 250, Text: "ok"}},
	} {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		want = append([]byte{recordVersion}, want...)
		got, err := encode(v)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("encode = %q, %v; want %q", got, err, want)
		}
		if err := withEncoded(v, func(rec []byte) error {
			if !bytes.Equal(rec, want) {
				t.Errorf("withEncoded: %q, want %q", rec, want)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}
