package submission

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// untilEOF returns every line the server still sends before it closes.
func (c *client) untilEOF() []string {
	c.t.Helper()
	var out []string
	for {
		line, err := c.r.ReadString('\n')
		if line != "" {
			out = append(out, strings.TrimRight(line, "\r\n"))
		}
		if isTimeout(err) {
			c.t.Fatalf("the server did not close the connection; read %q", out)
		}
		if err != nil {
			return out
		}
	}
}

const smuggled = "MAIL FROM:<evil@x.test>\r\nRCPT TO:<v@y.test>\r\nDATA\r\nevil\r\n"

// Every end-of-data look-alike, followed by a smuggled transaction, inside
// one DATA: the server answers once, the session stays in step (the next
// reply is NOOP's), and one message is stored holding the smuggled text as
// data, CRLF-normalised. want is what go-smtp's dot-unstuffing plus the
// normaliser make of the look-alike; "refuse" means the transaction is
// refused as a whole.
func TestSmugglingMatrixDATA(t *testing.T) {
	for _, tt := range []struct{ name, raw, want string }{
		{"LF.LF", "hello\n.\n", "hello\r\n.\r\n"},
		{"LF.CRLF", "hello\n.\r\n", "hello\r\n.\r\n"},
		{"CRLF.LF", "hello\r\n.\n", "hello\r\n\r\n"}, // the dot after CRLF is unstuffed
		{"CR.CRLF", "hello\r.\r\n", "hello\r\n.\r\n"},
		{"CRLF.CR", "hello\r\n.\r", "hello\r\n"}, // go-smtp drops ".\r" not followed by LF
		{"CR.LF", "hello\r.\n", "hello\r\n.\r\n"},
		{"LF.CR", "hello\n.\r", "hello\r\n.\r\n"},
		{"CRLF.CRCRLF", "hello\r\n.\r\r\n", "hello\r\n\r\n"},
		{"dotLF at body start", ".\n", ""}, // "\r\n": an empty header, whose empty line ends the added fields
		{"dotCR at body start", ".\r", ""},
		{"CRLF.NUL", "hello\r\n.\x00\r\n", "refuse"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t, nil)
			c := e.dial(t)
			c.envelope("a@b.test", "x@example.test")
			got := c.send(tt.raw + smuggled + ".\r\n")
			c.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
			msgs, bodies := e.store.messages()
			if tt.want == "refuse" {
				if !strings.HasPrefix(got, "554 5.6.0") || len(msgs) != 0 {
					t.Fatalf("reply %q, %d stored; want a 554 5.6.0 refusal", got, len(msgs))
				}
				return
			}
			if !strings.HasPrefix(got, "250 2.0.0 Ok: queued as ") || len(msgs) != 1 {
				t.Fatalf("reply %q, %d stored", got, len(msgs))
			}
			if r := msgs[0].Recipients; len(r) != 1 || r[0].Address != "x@example.test" || msgs[0].Sender != "a@b.test" {
				t.Fatalf("envelope %+v", msgs[0])
			}
			if body := afterReceived(t, bodies[0]); body != tt.want+smuggled {
				t.Fatalf("body %q\nwant %q", body, tt.want+smuggled)
			}
		})
	}
}

// BDAT counts octets and has no end-of-data line: every look-alike is data,
// normalised like any bare CR or LF.
func TestSmugglingMatrixBDAT(t *testing.T) {
	e := start(t, nil)
	c := e.dial(t)
	looks := []string{"\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r\n", "\r\n.\r", "\r.\n", "\n.\r", "\r\n.\r\n"}
	for i, v := range looks {
		c.envelope("a@b.test", "x@example.test")
		chunk := "hello" + v + smuggled + ".\r\n" + smuggled
		c.write("BDAT " + strconv.Itoa(len(chunk)) + " LAST\r\n" + chunk)
		c.expectReply("250 2.0.0 Ok: queued as ")
		c.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
		msgs, bodies := e.store.messages()
		if len(msgs) != i+1 || len(msgs[i].Recipients) != 1 || msgs[i].Recipients[0].Address != "x@example.test" {
			t.Fatalf("%q: %d messages, last %+v", v, len(msgs), msgs[len(msgs)-1])
		}
		if got, want := afterReceived(t, bodies[i]), reference(chunk); got != want {
			t.Fatalf("%q: body %q\nwant %q", v, got, want)
		}
	}
	c.envelope("a@b.test", "x@example.test")
	c.write("BDAT 8 LAST\r\nhi\x00\r\n.\r\n")
	c.expectReply("554 5.6.0")
	c.cmd("NOOP", "250 ")
	if msgs, _ := e.store.messages(); len(msgs) != len(looks) {
		t.Fatalf("NUL chunk stored: %d messages", len(msgs))
	}
}

// Commands pipelined after STARTTLS in the same packet were sent in clear:
// a man in the middle could have added them. They are dropped; the TLS
// session starts clean, so its RCPT finds no MAIL.
func TestStartTLSInjectionDiscarded(t *testing.T) {
	e := startAuth(t, func(o *Options) { o.Trusted = append(o.Trusted, netip.MustParsePrefix("127.0.0.0/8")) })
	c := e.dialKind(t, StartTLS)
	c.cmd("EHLO client.test", "250 ")
	c.write("STARTTLS\r\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<evil@y.test>\r\n")
	c.expectReply("220 ")
	tc := tls.Client(c.c, e.clientTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.c, c.r = tc, bufio.NewReader(tc)
	c.cmd("EHLO client.test", "250 ")               // the first reply under TLS is EHLO's
	c.cmd("RCPT TO:<x@example.test>", "502 5.5.1 ") // no MAIL survived the upgrade
	c.cmd("MAIL FROM:<app@sender.test>", "250 ")
	c.cmd("RCPT TO:<x@example.test>", "250 ")
	if got := c.send("hi\r\n.\r\n"); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("data %q", got)
	}
	msgs, _ := e.store.messages()
	if len(msgs) != 1 || msgs[0].Sender != "app@sender.test" || len(msgs[0].Recipients) != 1 ||
		msgs[0].Recipients[0].Address != "x@example.test" {
		t.Fatalf("stored %+v", msgs)
	}
}

// Injected bytes that arrive after the 220, before the client's handshake,
// break the handshake: the server says so and hangs up, acting on none.
func TestStartTLSInjectionLate(t *testing.T) {
	e := startAuth(t, func(o *Options) { o.Trusted = append(o.Trusted, netip.MustParsePrefix("127.0.0.0/8")) })
	c := e.dialKind(t, StartTLS)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("STARTTLS", "220 ")
	c.write("MAIL FROM:<evil@x.test>\r\nRCPT TO:<evil@y.test>\r\nDATA\r\nevil\r\n.\r\n")
	if lines := c.untilEOF(); len(lines) != 1 || lines[0] != "550 5.0.0 Handshake error" {
		t.Fatalf("after the broken handshake: %q", lines)
	}
	if msgs, _ := e.store.messages(); len(msgs) != 0 {
		t.Fatalf("stored %d", len(msgs))
	}
}

func TestOverlongLines(t *testing.T) {
	e := start(t, func(o *Options) { o.MaxMessageBytes = 64 << 10 })
	c := e.dial(t)
	// A command line over 8192 octets ends the connection; what follows it
	// in the same packet is never run.
	c.write("NOOP " + strings.Repeat("x", 9000) + "\r\nMAIL FROM:<a@b.test>\r\n")
	if got := c.untilEOF(); len(got) != 1 || got[0] != "500 5.4.0 Too long line, closing connection" {
		t.Fatalf("long command: %q", got)
	}
	for _, where := range []string{"Subject: " + strings.Repeat("h", 9000) + "\r\n\r\nbody\r\n", "Subject: x\r\n\r\n" + strings.Repeat("b", 9000) + "\r\n"} {
		c = e.dial(t)
		c.envelope("a@b.test", "x@example.test")
		c.cmd("DATA", "354 ")
		c.write(where + ".\r\n")
		if got := c.untilEOF(); len(got) != 2 || got[0] != "500 5.5.2 Line too long" ||
			got[1] != "500 5.4.0 Too long line, closing connection" {
			t.Fatalf("long data line: %q", got)
		}
	}
	// 8000 octets is under the SMTP limit. The stored bytes are the bytes
	// sent, so intake makes every line fit 998 octets: a header line is
	// folded at white space (refused when it has none), a body line is
	// broken with CRLF SPACE.
	c = e.dial(t)
	c.envelope("a@b.test", "x@example.test")
	c.expectReplyTo(c.send("X-Long: "+strings.Repeat("v", 8000)+"\r\n\r\nx\r\n.\r\n"), "554 5.6.0 ")
	c = e.dial(t)
	c.envelope("a@b.test", "x@example.test")
	words := strings.Repeat("v ", 4000)
	c.expectReplyTo(c.send("X-Long: "+words+"\r\n\r\n"+strings.Repeat("w", 8000)+"\r\n.\r\n"), "250 ")
	msgs, bodies := e.store.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d stored", len(msgs))
	}
	got := afterReceived(t, bodies[0])
	for _, l := range strings.Split(got, "\r\n") {
		if len(l) > 998 {
			t.Fatalf("stored a line of %d octets", len(l))
		}
	}
	head, body, _ := strings.Cut(got, "\r\n\r\n")
	if strings.ReplaceAll(head, "\r\n ", " ") != "X-Long: "+words || strings.ReplaceAll(body, "\r\n ", "") != strings.Repeat("w", 8000)+"\r\n" {
		t.Fatalf("folded or broken wrongly: %.200q", got)
	}
}

func (c *client) expectReplyTo(got, prefix string) {
	c.t.Helper()
	if !strings.HasPrefix(got, prefix) {
		c.t.Fatalf("got %q, want prefix %q", got, prefix)
	}
}

func TestNULInCommands(t *testing.T) {
	e := start(t, nil)
	c := e.dial(t)
	c.cmd("EHLO cli\x00ent.test", "501 5.5.2 Bad HELO/EHLO argument")
	c.cmd("EHLO cli\rent.test", "501 5.5.2 Bad HELO/EHLO argument")
	c.cmd("MAIL FROM:<ab@b.test>", "502 5.5.1 ") // no session without a good EHLO
	c.cmd("EHLO cli\xc3\xa9nt.test", "250 ")     // 8-bit is not a control character
	c.cmd("MAIL FROM:<a\x00b@b.test>", "501 5.1.7 ")
	c.cmd("MAIL FROM:<ab@b.test>", "250 ")
	c.cmd("RCPT TO:<x\x00@example.test>", "501 5.1.3 ")
	c.cmd("RCPT TO:<x@exa\x00mple.test>", "501 5.1.3 ")
	c.cmd("NO\x00P", "500 5.5.2 ")
	c.cmd("RCPT TO:<x@example.test>", "250 ")
	c.expectReplyTo(c.send("hi\r\n.\r\n"), "250 ")
	_, bodies := e.store.messages()
	if strings.ContainsRune(string(bodies[0]), 0) || !strings.HasPrefix(string(bodies[0]), "Received: from cli?nt.test ") {
		t.Fatalf("body %q", bodies[0])
	}
	// go-smtp resets and echoes a later EHLO without asking the session:
	// only the first one can be refused.
	c.cmd("EHLO a\x01b", "250 ")
}

// RFC 5321 §4.5.3.1 limits at their edges, and quoted local parts that
// would inject parameters or break the envelope when relayed: all 501
// 5.1.3 (mtaq relays only dot-atom local parts, so a refusal is the one
// safe answer; "plain" in quotes is the same mailbox as plain).
func TestHostileAddresses(t *testing.T) {
	e := start(t, nil)
	c := e.dial(t)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("MAIL FROM:<a@b.test>", "250 ")
	label := strings.Repeat("d", 63)
	dom := func(n int) string { // a domain of n octets
		s := ""
		for len(s)+len(label)+1 < n {
			s += label + "."
		}
		return s + strings.Repeat("e", n-len(s))
	}
	for _, tt := range []struct{ to, want string }{
		{strings.Repeat("l", 64) + "@x.test", "250 "},
		{strings.Repeat("l", 65) + "@x.test", "501 5.1.3 "},
		{"a@" + dom(252), "250 "},        // path 256 with brackets
		{"ab@" + dom(252), "501 5.1.3 "}, // path 257
		{"a@" + dom(256), "501 5.1.3 "},  // domain over 255
		{`"a> NOTIFY=SUCCESS"@x.test`, "501 5.1.3 "},
		{"\"a\rRCPT TO:<x@y.test>\"@x.test", "501 5.1.3 "},
		{`"a b"@x.test`, "501 5.1.3 "},
		{`"a\>b"@x.test`, "501 5.1.3 "},
		{"\"a\x01b\"@x.test", "501 5.1.3 "},
		{`"a@other.test"@x.test`, "501 5.1.3 "},
		{`"plain"@x.test`, "250 "},
	} {
		c.cmd("RCPT TO:<"+tt.to+">", tt.want)
	}
	// A CRLF cannot be inside a command: the line ends there, and neither
	// half is a recipient.
	c.write("RCPT TO:<\"a\r\nRCPT TO:<x@y.test>\"@x.test>\r\n")
	c.expectReply("501 5.5.2 ") // go-smtp: the quoted string never closes
	c.expectReply("500 5.5.4 ") // `"@x.test>` read as an unknown parameter
	c.expectReplyTo(c.send("hi\r\n.\r\n"), "250 ")
	msgs, _ := e.store.messages()
	var got []string
	for _, r := range msgs[0].Recipients {
		got = append(got, r.Address)
	}
	want := []string{strings.Repeat("l", 64) + "@x.test", "a@" + dom(252), "plain@x.test"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("recipients %q\nwant %q", got, want)
	}
}

// Ten times the size limit streamed in DATA, and declared in one BDAT:
// 552 5.3.4, and the bytes allocated meanwhile (an upper bound on heap
// growth) stay well below what was streamed.
func TestOversizeStreamedMemoryFlat(t *testing.T) {
	const limit = 1 << 20
	e := start(t, func(o *Options) { o.MaxMessageBytes = limit })
	c := e.dial(t)
	c.c.SetDeadline(time.Now().Add(2 * time.Minute))
	c.envelope("a@b.test", "x@example.test")
	c.cmd("DATA", "354 ")
	line := []byte(strings.Repeat("0123456789abcdef", 4) + "\r\n")
	chunk := []byte(strings.Repeat(string(line), 1024)) // 66 KiB
	streamed := 10 * limit
	if os.Getenv("MTAQ_LONG") == "1" {
		streamed = 200 * limit
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for sent := 0; sent < streamed; sent += len(chunk) {
		if _, err := c.c.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	c.write(".\r\n")
	c.expectReply("552 5.3.4 ")
	c.cmd("MAIL FROM:<a@b.test>", "250 ")
	c.cmd("RCPT TO:<x@example.test>", "250 ")
	c.write("BDAT " + strconv.Itoa(streamed) + " LAST\r\n")
	for sent := 0; sent < streamed; sent += len(chunk) {
		n := min(len(chunk), streamed-sent)
		if _, err := c.c.Write(chunk[:n]); err != nil {
			t.Fatal(err)
		}
	}
	c.expectReply("552 5.3.4 ")
	c.cmd("NOOP", "250 ")
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("streamed 2 × %d MiB; allocated %.1f MiB", streamed>>20, float64(alloc)/(1<<20))
	if alloc > uint64(streamed)/2 {
		t.Fatalf("allocated %d bytes while %d were streamed twice", alloc, streamed)
	}
	if msgs, _ := e.store.messages(); len(msgs) != 0 {
		t.Fatalf("stored %d", len(msgs))
	}
}

// Idle at the greeting, or stalled halfway through a command: 421 4.4.2
// and the connection closes.
func TestSlowClientsIdle(t *testing.T) {
	e := start(t, func(o *Options) { o.ReadTimeout = time.Second })
	c := e.dial(t)
	if got := c.untilEOF(); len(got) != 1 || !strings.HasPrefix(got[0], "421 4.4.2 ") {
		t.Fatalf("idle at greeting: %q", got)
	}
	c = e.dial(t)
	c.cmd("EHLO client.test", "250 ")
	// textproto hands over the partial line when the read fails, so
	// go-smtp answers the truncated command before the 421.
	c.write("MAIL FROM:<a@b")
	if got := c.untilEOF(); len(got) != 2 || !strings.HasPrefix(got[0], "501 5.5.2 ") || !strings.HasPrefix(got[1], "421 4.4.2 ") {
		t.Fatalf("stalled in a command: %q", got)
	}
	c = e.dial(t)
	c.envelope("a@b.test", "x@example.test")
	c.cmd("DATA", "354 ")
	c.write("Subject: x\r\n\r\npart")
	if got := c.untilEOF(); len(got) != 2 || !strings.HasPrefix(got[0], "451 4.4.2 ") || !strings.HasPrefix(got[1], "421 4.4.2 ") {
		t.Fatalf("stalled in DATA: %q", got)
	}
	c = e.dial(t)
	c.envelope("a@b.test", "x@example.test")
	// Mid-chunk the session ends the connection itself (readError), so
	// the 421 may or may not get out first.
	c.write("BDAT 100 LAST\r\nSubject: x\r\n")
	if got := c.untilEOF(); len(got) < 1 || len(got) > 2 || got[0] != "451 4.4.2 Timeout reading message data, closing connection" ||
		len(got) == 2 && !strings.HasPrefix(got[1], "421 4.4.2 ") {
		t.Fatalf("stalled in BDAT: %q", got)
	}
	if msgs, _ := e.store.messages(); len(msgs) != 0 {
		t.Fatalf("stored %d", len(msgs))
	}
}

// A client sending one byte at a time is not cut off while each command
// line, and each byte of a body, comes within the idle timeout, though the
// session lasts longer than the timeout. (Only progress renews the timer
// between commands: see TestNoopDoesNotResetIdle.)
func TestSlowClientByteAtATime(t *testing.T) {
	const idle = 500 * time.Millisecond
	e := start(t, func(o *Options) { o.ReadTimeout = idle })
	c := e.dial(t)
	commands := "EHLO slow.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@example.test>\r\nDATA\r\n"
	body := "Subject: slow\r\n\r\n" + strings.Repeat("body ", 12) + "\r\n"
	began := time.Now()
	for i := range len(commands) {
		c.write(commands[i : i+1])
		time.Sleep(5 * time.Millisecond)
	}
	for i := range len(body) {
		c.write(body[i : i+1])
		time.Sleep(15 * time.Millisecond)
	}
	c.write(".\r\nQUIT\r\n")
	if time.Since(began) < 2*idle {
		t.Fatalf("the session took less than twice the idle timeout: the test proves nothing")
	}
	var finals []string
	for _, l := range c.untilEOF() {
		if len(l) > 3 && l[3] == ' ' {
			finals = append(finals, l[:3])
		}
	}
	if strings.Join(finals, " ") != "250 250 250 354 250 221" {
		t.Fatalf("replies %q", finals)
	}
	_, bodies := e.store.messages()
	if len(bodies) != 1 || afterReceived(t, bodies[0]) != body {
		t.Fatalf("bodies %q", bodies)
	}
}

// A BDAT chunk cut short by the client's FIN is not a message: go-smtp's
// chunk copy ends quietly at EOF, so the session must notice.
func TestBDATTruncatedByEOF(t *testing.T) {
	e := start(t, nil)
	c := e.dial(t)
	c.envelope("a@b.test", "x@example.test")
	c.write("BDAT 100 LAST\r\nSubject: cut\r\n\r\nonly part")
	c.c.(*net.TCPConn).CloseWrite()
	got := c.untilEOF()
	if msgs, _ := e.store.messages(); len(msgs) != 0 {
		t.Fatalf("stored a truncated message; replies %q", got)
	}
	if len(got) != 1 || got[0] != "451 4.3.0 Error reading message data" {
		t.Fatalf("replies %q", got)
	} // A complete chunk followed at once by the FIN is a message.
	c = e.dial(t)
	c.envelope("a@b.test", "x@example.test")
	c.write("BDAT 16 LAST\r\nSubject: whole\r\n")
	c.c.(*net.TCPConn).CloseWrite()
	if got := c.untilEOF(); len(got) != 1 || !strings.HasPrefix(got[0], "250 2.0.0 Ok: queued as ") {
		t.Fatalf("complete chunk then EOF: %q", got)
	}
	if msgs, _ := e.store.messages(); len(msgs) != 1 {
		t.Fatalf("stored %d", len(msgs))
	}
}
