package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
)

// SIGHUP puts new DKIM keys in place without a restart (submit's mail is
// From app@sender.test, by the fix-up); a configuration
// that no longer loads leaves the running keys. The daemon is a real
// child process, signalled by PID.
func TestSIGHUPReloadsDKIMKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a daemon process")
	}
	pn := newProcNet(t, "crash.test", "127.0.0.12")
	dns, port, listen := pn.dns, pn.port, pn.listen
	sink := smtptest.New(t, fmt.Sprintf("127.0.0.12:%d", port))
	dir := t.TempDir()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyFile := filepath.Join(dir, "k.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	cfgPath := filepath.Join(dir, "mtaq.toml")
	config := func(extra string) {
		writeConfig(t, cfgPath, filepath.Join(dir, "data"), listen, dns.Addr(), port, "1s", "2s", extra)
	}
	config("")
	logPath := filepath.Join(dir, "mtaq.log")
	p := startDaemon(t, cfgPath, listen, logPath)
	defer p.kill(syscall.SIGTERM)

	signed := func(n int) bool {
		t.Helper()
		if _, err := submit(listen, n, n+1); err != nil {
			t.Fatal(err)
		}
		var data string
		waitfor.True(t, fmt.Sprintf("message %d at the sink", n), func() bool {
			for _, m := range sink.Messages() {
				if strings.Contains(string(m.Data), fmt.Sprintf("X-Seq: %d\r\n", n)) {
					data = string(m.Data)
					return true
				}
			}
			return false
		})
		return strings.Contains(data, "DKIM-Signature: ")
	}
	if signed(1) {
		t.Fatal("signed before any key was configured")
	}
	hup := func(wantLine string) {
		t.Helper()
		before, _ := os.ReadFile(logPath)
		p.cmd.Process.Signal(syscall.SIGHUP)
		waitfor.True(t, "the daemon to log "+wantLine, func() bool {
			now, _ := os.ReadFile(logPath)
			return strings.Contains(string(now[len(before):]), wantLine)
		})
	}
	config(fmt.Sprintf("[[dkim]]\ndomain = \"sender.test\"\nselector = \"s1\"\nkey_file = %q\n", keyFile))
	hup("configuration reloaded")
	if !signed(2) {
		t.Fatal("not signed after SIGHUP with a key")
	}
	config(fmt.Sprintf("[[dkim]]\ndomain = \"sender.test\"\nselector = \"s1\"\nkey_file = %q\n", keyFile+".missing"))
	hup("reload refused")
	if !signed(3) {
		t.Fatal("a refused reload dropped the running key")
	}
}
