package delivery

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadReply(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want reply
		err  bool
	}{
		{"250 ok\r\n", reply{250, "", "ok"}, false},
		{"250\r\n", reply{250, "", ""}, false},
		{"250 2.1.5 ok\r\n", reply{250, "2.1.5", "ok"}, false},
		{"550-5.1.1 no such\r\n550-5.1.1 user here\r\n550 5.1.1 sorry\r\n", reply{550, "5.1.1", "no such\nuser here\nsorry"}, false},
		{"250-mx.test hi\r\n250-PIPELINING\r\n250 SIZE 100\r\n", reply{250, "", "mx.test hi\nPIPELINING\nSIZE 100"}, false},
		{"452 4.5.3 too many\n", reply{452, "4.5.3", "too many"}, false}, // bare LF
		{"250 5.1.1 class mismatch\r\n", reply{250, "", "5.1.1 class mismatch"}, false},
		{"354 go ahead\r\n", reply{354, "", "go ahead"}, false},
		{"250-a\r\n550 b\r\n", reply{}, true}, // code changes mid-reply
		{"25 short\r\n", reply{}, true},       // not three digits
		{"150 no 1xx in SMTP\r\n", reply{}, true},
		{"250+x\r\n", reply{}, true},            // bad separator
		{"250-unterminated\r\n", reply{}, true}, // EOF inside a multiline reply
		{"", reply{}, true},
	} {
		got, err := readReply(bufio.NewReader(strings.NewReader(tc.in)))
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%q: got %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestReadReplyBounds(t *testing.T) {
	long := "250 " + strings.Repeat("x", maxReplyLine+10) + "\r\n"
	if _, err := readReply(bufio.NewReader(strings.NewReader(long))); !errors.Is(err, errBadReply) {
		t.Errorf("over-long line: %v", err)
	}
	many := strings.Repeat("250-x\r\n", maxReplyLines+1) + "250 x\r\n"
	if _, err := readReply(bufio.NewReader(strings.NewReader(many))); !errors.Is(err, errBadReply) {
		t.Errorf("endless multiline reply: %v", err)
	}
}

// TestReadReplyInSequence: pipelined replies are read one after another
// from one buffer.
func TestReadReplyInSequence(t *testing.T) {
	r := bufio.NewReader(strings.NewReader("250 2.1.0 ok\r\n250 2.1.5 ok\r\n452 4.5.3 too many recipients\r\n354 go\r\n"))
	var codes []int
	for {
		rep, err := readReply(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, rep.Code)
	}
	if len(codes) != 4 || codes[2] != 452 {
		t.Errorf("codes %v", codes)
	}
}

func TestTooManyRecipients(t *testing.T) {
	for _, tc := range []struct {
		r    reply
		want bool
	}{
		{reply{452, "4.5.3", "Maximum limit of 10 recipients reached"}, true},
		{reply{452, "", "Too many recipients"}, true},
		{reply{552, "5.5.3", "too many"}, true},
		{reply{452, "4.2.2", "mailbox full"}, false},
		{reply{552, "5.2.2", "mailbox full"}, false},
		{reply{450, "4.5.3", "too many recipients"}, false},
	} {
		if got := tooManyRecipients(tc.r); got != tc.want {
			t.Errorf("%v: %v", tc.r, got)
		}
	}
}

// FuzzReadReply: whatever a server sends, readReply returns a reply with
// a code 200..599 or an error, never panics, and never reports more text
// than it was given.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"250 ok\r\n",
		"250-mx hello\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
		"550-5.1.1 a\r\n550 5.1.1 b\r\n",
		"452 4.5.3 Too many recipients\n",
		"354\r\n",
		"250-\r\n250 \r\n",
		"999 x\r\n",
		"250-a\r\n251 b\r\n",
		"\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(strings.NewReader(string(in)))
		for range 8 {
			rep, err := readReply(r)
			if err != nil {
				return
			}
			if rep.Code < 200 || rep.Code > 599 {
				t.Fatalf("code %d from %q", rep.Code, in)
			}
			if len(rep.Text) > len(in) {
				t.Fatalf("text longer than input")
			}
			if rep.Enhanced != "" && (!validEnhanced(rep.Enhanced) || int(rep.Enhanced[0]-'0') != rep.Code/100) {
				t.Fatalf("enhanced %q with code %d", rep.Enhanced, rep.Code)
			}
		}
	})
}
