package main

import (
	"fmt"
	"net/textproto"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/dnstest"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
)

// slowClient opens a transaction, sends the first half of its message and
// waits for half; then sends the rest when told, and returns the final
// reply's code and text (code 0 and the error when the connection failed).
func slowClient(addr string, seq int, half *sync.WaitGroup, rest <-chan struct{}) (int, string) {
	c, err := textproto.Dial("tcp", addr)
	if err != nil {
		half.Done()
		return 0, err.Error()
	}
	defer c.Close()
	step := func(expect int, format string, args ...any) error {
		if format != "" {
			if err := c.PrintfLine(format, args...); err != nil {
				return err
			}
		}
		_, _, err := c.ReadResponse(expect)
		return err
	}
	err = step(220, "")
	for _, cmd := range []struct {
		code int
		line string
	}{{250, "EHLO app.test"}, {250, "MAIL FROM:<app@sender.test>"},
		{250, fmt.Sprintf("RCPT TO:<user%d@term.test>", seq)}, {354, "DATA"}} {
		if err == nil {
			err = step(cmd.code, "%s", cmd.line)
		}
	}
	if err == nil {
		_, err = fmt.Fprintf(c.W, "Subject: term %d\r\nX-Seq: %d\r\n\r\nfirst half\r\n", seq, seq)
		if err == nil {
			err = c.W.Flush()
		}
	}
	half.Done()
	if err != nil {
		return 0, err.Error()
	}
	<-rest
	if _, err := fmt.Fprintf(c.W, "second half %d\r\n.\r\n", seq); err != nil {
		return 0, err.Error()
	}
	if err := c.W.Flush(); err != nil {
		return 0, err.Error()
	}
	code, msg, err := c.ReadResponse(0)
	if err != nil && code == 0 {
		return 0, err.Error()
	}
	_ = c.PrintfLine("QUIT")
	return code, msg
}

// TestSIGTERMWithTransfersInFlight: SIGTERM reaches mtaq serve while 12
// clients are inside DATA (4 send their final dot just before it, 8 a
// second after it) and 6 outbound deliveries are stuck in DATA at a slow
// MX. Every client ends with 250 (committed) or 421 4.3.2, none with
// anything else; the daemon exits within its 30 s shutdown deadline; after
// a restart every message that got a 250 is delivered, the interrupted
// outbound ones included (their lease brings them back).
func TestSIGTERMWithTransfersInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("starts daemon processes")
	}
	const clients, early, outbound = 12, 4, 6
	dns := dnstest.New(t)
	port := smtptest.FreePort(t, "127.0.0.12")
	dns.MX("term.test", 10, "mx.term.test")
	dns.A("mx.term.test", "127.0.0.12")
	var slow atomic.Bool
	slow.Store(true)
	release := make(chan struct{})
	var stuck atomic.Int32
	sink := smtptest.New(t, fmt.Sprintf("127.0.0.12:%d", port), smtptest.WithData(func(string, []string, []byte) error {
		if !slow.Load() {
			return nil
		}
		stuck.Add(1)
		select { // hold the transfer until after the daemon is gone
		case <-release:
		case <-time.After(45 * time.Second):
		}
		return smtptest.Reply(451, "4.3.0", "too slow")
	}))
	listen := fmt.Sprintf("127.0.0.1:%d", smtptest.FreePort(t, "127.0.0.1"))
	dir := t.TempDir()
	cfg := writeConfig(t, filepath.Join(dir, "mtaq.toml"), filepath.Join(dir, "data"), listen, dns.Addr(), port, "1s", "2s", "")
	logPath := filepath.Join(dir, "mtaq.log")
	p := startDaemon(t, cfg, listen, logPath)

	var acked []int // sequence numbers that got a 250
	for i := 0; i < outbound; i++ {
		smtptest.Submit(t, listen, "app@sender.test", fmt.Sprintf("user%d@term.test", 100+i))
		acked = append(acked, 100+i)
	}
	waitfor.True(t, fmt.Sprintf("all %d deliveries to reach the slow MX", outbound), func() bool {
		return stuck.Load() >= outbound
	})

	var half sync.WaitGroup
	half.Add(clients)
	earlyGo, lateGo := make(chan struct{}), make(chan struct{})
	type result struct {
		seq  int
		code int
		text string
	}
	results := make(chan result, clients)
	for i := 0; i < clients; i++ {
		rest := lateGo
		if i < early {
			rest = earlyGo
		}
		go func(i int) {
			code, text := slowClient(listen, i, &half, rest)
			results <- result{i, code, text}
		}(i)
	}
	half.Wait()
	close(earlyGo)
	time.Sleep(50 * time.Millisecond) // the early dots are on the wire
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	close(lateGo)

	var ok250, got421, other int
	for i := 0; i < clients; i++ {
		r := <-results
		switch {
		case r.code == 250 && smtptest.QueuedAs.MatchString(r.text):
			ok250++
			acked = append(acked, r.seq)
		case r.code == 421 && len(r.text) >= 5 && r.text[:5] == "4.3.2":
			got421++
		default:
			other++
			t.Errorf("client %d ended with %d %q", r.seq, r.code, r.text)
		}
	}
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		t.Fatal("mtaq serve still running 40 s after SIGTERM; its shutdown deadline is 30 s")
	}
	exited := time.Since(sent)
	code := p.cmd.ProcessState.ExitCode()
	close(release)
	slow.Store(false)
	t.Logf("SIGTERM with %d clients in DATA and %d deliveries in flight: %d got 250, %d got 421 4.3.2, %d other; exit status %d after %s",
		clients, outbound, ok250, got421, other, code, exited.Round(100*time.Millisecond))
	if other != 0 || code != 0 {
		log, _ := os.ReadFile(logPath)
		t.Fatalf("other endings %d, exit status %d\nlog tail:\n%s", other, code, tail(log, 3000))
	}

	p = startDaemon(t, cfg, listen, logPath)
	defer p.kill(syscall.SIGTERM)
	want := map[int]bool{}
	for _, s := range acked {
		want[s] = true
	}
	seen := map[int]bool{}
	for deadline := time.Now().Add(60 * time.Second); len(seen) < len(want) && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, m := range sink.Messages() {
			if s := seqOf(m.To[0]); want[s] {
				seen[s] = true
			}
		}
	}
	t.Logf("after restart: %d of %d acknowledged messages delivered", len(seen), len(want))
	if len(seen) != len(want) {
		log, _ := os.ReadFile(logPath)
		t.Fatalf("delivered %d of %d acknowledged messages after restart\nlog tail:\n%s", len(seen), len(want), tail(log, 3000))
	}
}

// seqOf reads n from "usern@term.test".
func seqOf(rcpt string) int {
	var n int
	if _, err := fmt.Sscanf(rcpt, "user%d@term.test", &n); err != nil {
		return -1
	}
	return n
}
