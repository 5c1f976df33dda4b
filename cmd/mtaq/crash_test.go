package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mtaq/mtaq/internal/dnstest"
	"github.com/mtaq/mtaq/internal/smtptest"
)

// TestMain lets the test binary play the mtaq binary, so the crash test can
// SIGKILL a real daemon process without a separate build step.
func TestMain(m *testing.M) {
	if os.Getenv("MTAQ_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// daemonProc is one mtaq serve child process.
type daemonProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startDaemon(t *testing.T, cfg, listen, logPath string) *daemonProc {
	t.Helper()
	return startDaemonWithin(t, cfg, listen, logPath, 20*time.Second)
}

// startDaemonWithin is startDaemon with a bound on the wait for the
// listener (a restart after a kill under load replays the WAL first).
func startDaemonWithin(t *testing.T, cfg, listen, logPath string, bound time.Duration) *daemonProc {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "serve", "--config", cfg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with a killed go test
	cmd.Env = append(os.Environ(), "MTAQ_TEST_AS_MAIN=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &daemonProc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(p.done) }()
	t.Cleanup(func() { p.kill(syscall.SIGKILL) })
	deadline := time.Now().Add(bound)
	for {
		if c, err := net.DialTimeout("tcp", listen, time.Second); err == nil {
			c.Close()
			return p
		}
		select {
		case <-p.done:
			log, _ := os.ReadFile(logPath)
			t.Fatalf("mtaq serve exited at start:\n%s", tail(log, 4000))
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			t.Fatalf("mtaq serve did not listen within %v; log tail:\n%s", bound, tail(log, 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill signals the child by PID and waits for it to exit.
func (p *daemonProc) kill(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

var (
	seqHdr = regexp.MustCompile(`X-Seq: (\d+)`)
)

// submit sends messages seq from..to-1 to user<seq>@crash.test over one
// connection and returns the sequence numbers that got a 250.
func submit(addr string, from, to int) ([]int, error) {
	return submitSeq(addr, "crash.test", from, to)
}

// submitSeq is submit to user<seq>@domain; every 250 must name a queue ID.
func submitSeq(addr, domain string, from, to int) ([]int, error) {
	c, err := smtp.Dial(addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Hello("app.test"); err != nil {
		return nil, err
	}
	var acked []int
	for i := from; i < to; i++ {
		if err := c.Mail("app@sender.test", nil); err != nil {
			return acked, err
		}
		if err := c.Rcpt(fmt.Sprintf("user%d@%s", i, domain), nil); err != nil {
			return acked, err
		}
		w, err := c.Data()
		if err != nil {
			return acked, err
		}
		fmt.Fprintf(w, "Subject: crash %d\r\nX-Seq: %d\r\n\r\nbody %d\r\n", i, i, i)
		resp, err := w.CloseWithResponse()
		if err != nil {
			return acked, err
		}
		if !smtptest.QueuedAs.MatchString(resp.StatusText) {
			return acked, fmt.Errorf("reply %q names no queue ID", resp.StatusText)
		}
		acked = append(acked, i)
	}
	return acked, nil
}

// TestCrashLosesNothing: N messages acknowledged with 250, the daemon
// killed with SIGKILL at once, restarted with the destination up: every
// acknowledged message arrives (a duplicate is allowed, a loss is not).
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts daemon processes")
	}
	const n, conns = 200, 8
	pn := newProcNet(t, "crash.test", "127.0.0.10")
	dns, port, listen := pn.dns, pn.port, pn.listen
	dir := t.TempDir()
	cfg := writeConfig(t, filepath.Join(dir, "mtaq.toml"), filepath.Join(dir, "data"), listen, dns.Addr(), port, "1s", "2s", "")
	logPath := filepath.Join(dir, "mtaq.log")

	// Nobody listens at the MX yet: everything stays queued.
	p := startDaemon(t, cfg, listen, logPath)
	var mu sync.Mutex
	var acked []int
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			got, err := submit(listen, c*n/conns, (c+1)*n/conns)
			if err != nil {
				t.Errorf("connection %d: %v", c, err)
			}
			mu.Lock()
			acked = append(acked, got...)
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	p.kill(syscall.SIGKILL)
	t.Logf("%d messages acknowledged, daemon killed with SIGKILL", len(acked))

	sink := smtptest.New(t, fmt.Sprintf("127.0.0.10:%d", port))
	p = startDaemon(t, cfg, listen, logPath)
	defer p.kill(syscall.SIGTERM)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	seen := map[int]int{}
	for len(seen) < len(acked) && ctx.Err() == nil {
		seen = map[int]int{}
		for _, m := range sink.Messages() {
			if s := seqHdr.FindStringSubmatch(string(m.Data)); s != nil {
				var i int
				fmt.Sscan(s[1], &i)
				seen[i]++
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	dups := 0
	for _, c := range seen {
		dups += c - 1
	}
	var lost []string
	for _, i := range acked {
		if seen[i] == 0 {
			lost = append(lost, fmt.Sprint(i))
		}
	}
	t.Logf("acknowledged %d, delivered %d distinct, %d duplicates, %d lost", len(acked), len(seen), dups, len(lost))
	if len(acked) != n || len(lost) > 0 {
		log, _ := os.ReadFile(logPath)
		t.Fatalf("acknowledged %d of %d; lost: %s\nlog tail:\n%s", len(acked), n, strings.Join(lost, " "), tail(log, 3000))
	}
}

// writeConfig writes the mtaq.toml of a child daemon on the fake Internet:
// submission on listen, DNS at dnsAddr, destinations on port, the given
// retry first and max waits, then extra as is. It returns path.
func writeConfig(t *testing.T, path, dataDir, listen, dnsAddr string, port int, first, max, extra string) string {
	t.Helper()
	toml := fmt.Sprintf(`hostname = "mtaq.test"
data_dir = %q
[submission]
listen = [%q]
[delivery]
dns_servers = [%q]
port = %d
[retry]
first = %q
max = %q
expire = "1h"
`, dataDir, listen, dnsAddr, port, first, max) + extra
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// procNet is the fake Internet a daemon child process delivers into: a
// DNS server where domain's one exchanger is mx.<domain> at ip, a free
// port there for the exchangers, and a free loopback address for the
// daemon's submission listener.
type procNet struct {
	dns    *dnstest.Server
	port   int
	listen string
}

func newProcNet(t *testing.T, domain, ip string) procNet {
	t.Helper()
	n := procNet{dns: dnstest.New(t), port: smtptest.FreePort(t, ip)}
	n.dns.MX(domain, 10, "mx."+domain)
	n.dns.A("mx."+domain, ip)
	n.listen = fmt.Sprintf("127.0.0.1:%d", smtptest.FreePort(t, "127.0.0.1"))
	return n
}
