package daemon

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

// Addresses of the PROXY protocol test: HAProxy connects to the nodes from
// balancerIP (the only proxy_networks entry); the trusted client and the
// outsider dial HAProxy from their own loopback addresses.
const (
	balancerIP = "127.0.0.50"
	trustedIP  = "127.0.0.20"
	outsideIP  = "127.0.0.21"
)

// TestHAProxyInFront puts Debian's HAProxy in front of two nodes: SMTP
// with send-proxy-v2 round-robin over both, SMTP with send-proxy (v1) and
// HTTP with send-proxy-v2 to node 1. Through it the outsider is refused
// relay, the trusted client is accepted, and the Received field at the
// destination names the real client, not HAProxy.
func TestHAProxyInFront(t *testing.T) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		missingTool(t, "haproxy is not installed (apt-get install haproxy; .ci/run installs it)")
	}
	proxied := func(c *conf.Config) {
		c.Submission.TrustedNetworks = []string{trustedIP + "/32"} // not HAProxy's address
		c.Submission.Proxy = conf.Proxy{ProxyProtocol: true, ProxyNetworks: []string{balancerIP}}
		c.HTTP.Proxy = conf.Proxy{ProxyProtocol: true, ProxyNetworks: []string{balancerIP}}
	}
	n, _ := newHTTPInternet(t, func(c *conf.Config) { c.Hostname = "node1.test"; proxied(c) })
	sink := n.mx("example.net", 10, "mx.example.net", "127.0.0.2")
	o2 := n.opts
	o2.Config.Hostname, o2.Config.DataDir, o2.Config.HTTP.Listen = "node2.test", t.TempDir(), nil
	node2 := startDaemon(t, o2)

	hp, hpSock := startHAProxy(t, map[string]string{
		"smtp_v2": backend(smtpCheck, "send-proxy-v2", n.d.Addrs()[0], node2.Addrs()[0]),
		"smtp_v1": backend(smtpCheck, "send-proxy", n.d.Addrs()[0]),
		"http_v2": backend(httpCheck, "send-proxy-v2", n.d.HTTPAddrs()[0]),
	})
	nodes := map[string]*Daemon{"node1.test": n.d, "node2.test": node2}

	byNode := map[string]int{}
	for _, fe := range []string{"smtp_v2", "smtp_v1"} {
		// The outsider: refused at RCPT with the relay reply.
		err := submitFrom(t, outsideIP, hp[fe], "app@shop.example", "erin@example.net", "")
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 554 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) {
			t.Fatalf("%s: the outsider's RCPT: %v, want 554 5.7.1 Relay access denied", fe, err)
		}
		// The trusted client: accepted, delivered, and named; round robin
		// over the v2 backend takes it to both nodes.
		for i := range 4 {
			subject := fmt.Sprintf("%s-%d", fe, i)
			if err := submitFrom(t, trustedIP, hp[fe], "app@shop.example", "erin@example.net", subject); err != nil {
				t.Fatalf("%s: the trusted client: %v", fe, err)
			}
			recv := firstReceived(waitSubject(t, sink, subject).Data)
			if !strings.HasPrefix(recv, "Received: from client.test (["+trustedIP+"])") {
				t.Fatalf("%s: Received field %q, want the client %s", fe, recv, trustedIP)
			}
			for name := range nodes {
				if fe == "smtp_v2" && strings.Contains(recv, "by "+name+" ") {
					byNode[name]++
				}
			}
		}
	}
	t.Logf("through HAProxy's send-proxy-v2 backend, messages accepted by node: %v", byNode)
	if byNode["node1.test"] == 0 || byNode["node2.test"] == 0 {
		t.Errorf("round robin reached %v; want both nodes", byNode)
	}

	// HTTP through HAProxy: the Received field names the client too.
	id := postFrom(t, outsideIP, "http://"+hp["http_v2"]+"/v1/messages",
		`{"from": "app@shop.example", "to": ["erin@example.net"], "subject": "http-v2", "text": "hi"}`)
	n.wait(id, 0, queue.Delivered)
	if recv := firstReceived(waitSubject(t, sink, "http-v2").Data); !strings.HasPrefix(recv, "Received: from shop (["+outsideIP+"])") {
		t.Errorf("HTTP: Received field %q, want the client %s", recv, outsideIP)
	}

	// A client reaching a node directly, outside proxy_networks, is itself
	// (trusted here); a PROXY header it sends is a bad command, never an
	// address.
	if err := submitFrom(t, trustedIP, n.d.Addrs()[0].String(), "app@shop.example", "erin@example.net", "direct"); err != nil {
		t.Fatalf("direct, trusted: %v", err)
	}
	if recv := firstReceived(waitSubject(t, sink, "direct").Data); !strings.Contains(recv, "(["+trustedIP+"])") {
		t.Errorf("direct: Received %q", recv)
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(outsideIP)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", n.d.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	s := &rawSMTP{t: t, c: c, r: bufio.NewReader(c)}
	if greet := s.reply(); !strings.HasPrefix(greet, "220 ") {
		t.Fatalf("direct outsider greeting %q", greet)
	}
	s.cmd("PROXY TCP4 "+trustedIP+" 127.0.0.1 4000 25", "50") // an unknown command
	s.cmd("EHLO client.test", "250 ")
	s.cmd("MAIL FROM:<app@shop.example>", "250 ")
	s.cmd("RCPT TO:<erin@example.net>", "554 5.7.1 ") // its PROXY line gave it nothing

	// HAProxy's health checks (SMTP EHLO, HTTP GET, each behind its own
	// PROXY header) pass on every server.
	waitfor.NoError(t, func() error { return checksPass(hpSock) })
}

// Health checks as docs/CLUSTER.md's example has them: they send the
// PROXY header too (check-send-proxy), and a node they fail is DOWN in
// HAProxy's log.
const (
	smtpCheck = "  option smtpchk EHLO lb.test\n"
	httpCheck = "  option httpchk GET /v1/openapi.json\n"
)

// backend is an HAProxy backend sending the PROXY header (send-proxy or
// send-proxy-v2) from balancerIP to each address, round-robin, checked.
func backend(check, send string, addrs ...net.Addr) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  balance roundrobin\n  source %s\n%s", balancerIP, check)
	for i, a := range addrs {
		fmt.Fprintf(&b, "  server s%d %s %s check check-send-proxy inter 200ms\n", i, a, send)
	}
	return b.String()
}

// startHAProxy runs haproxy in the foreground with one frontend on a free
// loopback port per backend, waits until every frontend accepts, and kills
// it by PID when the test ends. It returns each frontend's address.
func startHAProxy(t *testing.T, backends map[string]string) (map[string]string, string) {
	t.Helper()
	dir := t.TempDir()
	var cfg strings.Builder
	sock := filepath.Join(dir, "haproxy.sock")
	fmt.Fprintf(&cfg, "global\n  maxconn 200\n  stats socket %s\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n", sock)
	addrs := map[string]string{}
	for name, be := range backends {
		addrs[name] = fmt.Sprintf("127.0.0.1:%d", smtptest.FreePort(t, "127.0.0.1"))
		fmt.Fprintf(&cfg, "frontend fe_%s\n  bind %s\n  default_backend be_%s\nbackend be_%s\n%s", name, addrs[name], name, name, be)
	}
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("haproxy", "-c", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, cfg.String())
	}
	cmd := exec.Command("haproxy", "-db", "-f", path)
	logf, err := os.Create(filepath.Join(dir, "haproxy.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }() //nolint:errcheck // killed on purpose
	t.Cleanup(func() {
		cmd.Process.Kill() // by PID
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("haproxy (pid %d) still running 10 s after SIGKILL", cmd.Process.Pid)
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("haproxy.cfg:\n%s\nhaproxy log:\n%s", cfg.String(), b)
		}
	})
	for _, a := range addrs {
		waitfor.NoError(t, func() error {
			select {
			case <-exited:
				t.Fatal("haproxy exited")
			default:
			}
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
	}
	return addrs, sock
}

// checksPass asks HAProxy's stats socket for every server's last health
// check: nil once each has one and it passed (L7OK).
func checksPass(sock string) error {
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("show stat\n")); err != nil {
		return err
	}
	rows, err := csv.NewReader(c).ReadAll()
	if err != nil && len(rows) == 0 {
		return err
	}
	col := slices.Index(rows[0], "check_status")
	servers := 0
	for _, r := range rows[1:] {
		if len(r) <= col || r[1] == "FRONTEND" || r[1] == "BACKEND" {
			continue
		}
		servers++
		if r[col] != "L7OK" {
			return fmt.Errorf("%s/%s: last check %q", r[0], r[1], r[col])
		}
	}
	if servers == 0 {
		return errors.New("no servers in HAProxy's stats")
	}
	return nil
}

// submitFrom sends one message from the loopback address ip to addr; the
// first SMTP error is returned (a refused RCPT ends the transaction).
func submitFrom(t *testing.T, ip, addr, from, to, subject string) error {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return err
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nthrough the balancer\r\n", from, to, subject)
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// postFrom POSTs body from the loopback address ip and returns the queue ID.
func postFrom(t *testing.T, ip, url, body string) string {
	t.Helper()
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}).DialContext}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+httpTestKey)
	req.Header.Set("Content-Type", "application/json")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := (&http.Client{Transport: tr}).Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	fmt.Fprint(&b, resp.Status)
	buf := make([]byte, 4096)
	k, _ := resp.Body.Read(buf)
	i := strings.Index(string(buf[:k]), `"id":"`)
	if resp.StatusCode != 202 || i < 0 {
		t.Fatalf("POST: %s %s", b.String(), buf[:k])
	}
	return string(buf[i+6 : i+6+16])
}

// waitSubject waits until the sink holds a message with subject.
func waitSubject(t *testing.T, sink *smtptest.Server, subject string) smtptest.Received {
	t.Helper()
	var got smtptest.Received
	waitfor.True(t, "a message with Subject "+subject+" at the destination", func() bool {
		for _, m := range sink.Messages() {
			if strings.Contains(string(m.Data), "\r\nSubject: "+subject+"\r\n") {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// firstReceived is the message's topmost Received field, unfolded.
func firstReceived(data []byte) string {
	s := string(data)
	i := strings.Index(s, "Received: ")
	if i < 0 {
		return ""
	}
	end := i
	for {
		j := strings.Index(s[end:], "\r\n")
		if j < 0 {
			return s[i:]
		}
		end += j + 2
		if end >= len(s) || (s[end] != ' ' && s[end] != '\t') {
			return strings.ReplaceAll(s[i:end-2], "\r\n", "")
		}
	}
}
