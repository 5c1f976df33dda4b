package delivery

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
)

// rawServer is a hand-written SMTP server for what go-smtp's server will
// not do. answer gets each command line (without CRLF) and returns the
// bytes to send back; DATA is handled here: 354, the body up to the dot,
// then "250 2.0.0 ok". It records the commands.
type rawServer struct {
	mu    sync.Mutex
	cmds  []string
	conns int
}

func newRawServer(t *testing.T, addr string, answer func(cmd string) string) *rawServer {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	rs := &rawServer{}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			rs.mu.Lock()
			rs.conns++
			rs.mu.Unlock()
			go rs.serve(c, answer)
		}
	}()
	return rs
}

func (rs *rawServer) serve(c net.Conn, answer func(string) string) {
	defer c.Close()
	r := bufio.NewReader(c)
	io.WriteString(c, "220 raw ESMTP\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimRight(line, "\r\n")
		rs.mu.Lock()
		rs.cmds = append(rs.cmds, cmd)
		rs.mu.Unlock()
		if strings.EqualFold(cmd, "DATA") {
			io.WriteString(c, "354 go on\r\n")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			io.WriteString(c, "250 2.0.0 ok\r\n")
			continue
		}
		io.WriteString(c, answer(cmd))
		if strings.EqualFold(cmd, "QUIT") {
			return
		}
	}
}

func (rs *rawServer) commands() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]string(nil), rs.cmds...)
}

// basicAnswers is a server offering STARTTLS and nothing else of note.
func basicAnswers(cmd string) string {
	switch {
	case strings.HasPrefix(cmd, "EHLO"):
		return "250-raw\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
	case cmd == "QUIT":
		return "221 bye\r\n"
	}
	return "250 ok\r\n"
}

// TestSTARTTLSInjectionRefused: a "reply" to STARTTLS that carries more
// bytes than the 220 (commands or replies injected in plain text,
// CVE-2011-0411) is not trusted: no handshake on that connection.
func TestSTARTTLSInjectionRefused(t *testing.T) {
	e := newEnv(t)
	e.dns.MX("x.test", 10, "mx.x.test")
	e.dns.A("mx.x.test", "127.0.0.2")
	srv := newRawServer(t, fmt.Sprintf("127.0.0.2:%d", e.port), func(cmd string) string {
		if cmd == "STARTTLS" {
			return "220 go ahead\r\n250 injected\r\n"
		}
		return basicAnswers(cmd)
	})
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "a@x.test"))
	// The plain-text retry on a new connection delivers (opportunistic).
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	srv.mu.Lock()
	conns := srv.conns
	srv.mu.Unlock()
	if !rs[0].TLSFallback || conns != 2 {
		t.Errorf("fallback %v after %d connections; want a plain-text retry", rs[0].TLSFallback, conns)
	}
	if n := e.logs.FilterField(zapString("enhanced", "4.7.5")).Len(); n != 1 {
		t.Errorf("%d attempt lines with 4.7.5, want 1", n)
	}
}

// TestLockStepCommands: without PIPELINING the commands go one by one in
// the order RFC 5321 gives, with the ESMTP parameters offered.
func TestLockStepCommands(t *testing.T) {
	e := newEnv(t)
	e.dns.MX("x.test", 10, "mx.x.test")
	e.dns.A("mx.x.test", "127.0.0.2")
	srv := newRawServer(t, fmt.Sprintf("127.0.0.2:%d", e.port), func(cmd string) string {
		if strings.HasPrefix(cmd, "EHLO") {
			return "250-raw\r\n250-SIZE 1000000\r\n250 8BITMIME\r\n"
		}
		return basicAnswers(cmd)
	})
	d := e.deliverer()
	rs := d.Deliver(ctxT(t), job("x.test", "a@x.test", "b@x.test"))
	wantAll(t, rs, 2, 250, "2.0.0", StageData)
	d.Close()
	want := []string{"EHLO out.mtaq.test", "MAIL FROM:<app@sender.test> SIZE=22", "RCPT TO:<a@x.test>",
		"RCPT TO:<b@x.test>", "DATA", "QUIT"}
	if got := srv.commands(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("commands\n%q\nwant\n%q", got, want)
	}
}
