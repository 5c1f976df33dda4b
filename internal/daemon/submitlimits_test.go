package daemon

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/waitfor"
)

// A body over submission.spool_threshold is spooled in data_dir/spool
// (mode 0700, emptied after the commit) and reaches the destination
// intact; a body file a crash left there is removed at start.
func TestSpooledBodyEndToEnd(t *testing.T) {
	dataDir := t.TempDir()
	spool := filepath.Join(dataDir, "spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spool, "body-left-by-a-crash"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, mx := destConfig(t, dataDir)
	c.Submission.SpoolThreshold = 4096
	d := startDaemon(t, Options{Config: c})
	if entries, _ := os.ReadDir(spool); len(entries) != 0 {
		t.Fatalf("spool at start: %v", entries)
	}
	o := submitBody(d.Addrs()[0].String(), "spooled")
	if o.code != 250 {
		t.Fatalf("submission: %+v", o)
	}
	if fi, err := os.Stat(spool); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("spool dir: %v %v", fi.Mode(), err)
	}
	if entries, _ := os.ReadDir(spool); len(entries) != 0 {
		t.Fatalf("spool after the commit: %v", entries)
	}
	waitfor.True(t, "the spooled message at the MX", func() bool { return len(mx.Messages()) > 0 })
	got := string(mx.Messages()[0].Data)
	if len(got) < bodySize || !strings.Contains(got, "Subject: spooled\r\n") || !strings.HasSuffix(got, "spooled \r\n") {
		t.Fatalf("delivered %d bytes, ending %q", len(got), got[max(0, len(got)-40):])
	}
}

// The untrusted share and the session lifetime come from the config: an
// outsider (127.0.0.9, with only 127.0.0.1 trusted) gets one connection,
// and a trusted session ends after max_session_duration.
func TestUntrustedShareAndLifetimeFromConfig(t *testing.T) {
	n := newInternet(t, func(c *conf.Config) {
		c.Submission.TrustedNetworks = []string{"127.0.0.1/32"}
		c.Submission.MaxConnectionsUntrustedPerIP = 1
		c.Submission.MaxSessionDuration = conf.Duration{Duration: time.Second}
	})
	addr := n.d.Addrs()[0].String()
	from := func() string {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.9")}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.TrimRight(line, "\r\n")
	}
	if g := from(); !strings.HasPrefix(g, "220 ") {
		t.Fatalf("first outsider connection: %q", g)
	}
	if g := from(); g != "421 4.7.0 mtaq.test Too many connections from your address, try again later" {
		t.Fatalf("second outsider connection: %q", g)
	}
	s, g := dialRaw(t, addr)
	if !strings.HasPrefix(g, "220 ") {
		t.Fatalf("trusted: %q", g)
	}
	began := time.Now()
	if g := s.reply(); !strings.HasPrefix(g, "421 4.4.2 ") { // no command sent: the lifetime ends it
		t.Fatalf("after max_session_duration: %q", g)
	}
	t.Logf("trusted session ended after %v (max_session_duration 1s)", time.Since(began).Round(time.Millisecond))
}
