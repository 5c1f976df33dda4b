package daemon

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/mtaq/mtaq/conf"
	mdkim "github.com/mtaq/mtaq/internal/dkim"
	"github.com/mtaq/mtaq/internal/sendmail"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
)

// pyVerify is python3-dkim (Debian's, an implementation independent of
// go-msgauth) verifying every DKIM-Signature of the message on stdin, with
// the TXT records from the JSON file instead of the system's DNS.
const pyVerify = `
import sys, json, dkim
records = json.load(open(sys.argv[1]))
def dnsfunc(name, timeout=5):
    n = name.decode() if isinstance(name, bytes) else name
    v = records.get(n.rstrip("."))
    return v.encode() if v else None
msg = sys.stdin.buffer.read()
d = dkim.DKIM(msg)
n = sum(1 for k, v in d.headers if k.lower() == b"dkim-signature")
print(json.dumps([bool(d.verify(idx=i, dnsfunc=dnsfunc)) for i in range(n)]))
`

// dkimWorld is the fake Internet with RSA and Ed25519 keys for
// sender.test (the apps' From domain) and an RSA key for mtaq.test
// (hostname: mtaq's own DSNs), their records published in its DNS.
type dkimWorld struct {
	*internet
	cfg     conf.Config
	records map[string]string
	ok      *smtptest.Server
}

func writeKey(t *testing.T, dir, name string, key crypto.Signer) string {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newDKIMWorld(t *testing.T) *dkimWorld {
	dir := t.TempDir()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	w := &dkimWorld{records: map[string]string{}}
	keys := []struct {
		domain, selector string
		key              crypto.Signer
	}{{"sender.test", "r2026", rsaKey}, {"sender.test", "e2026", edKey}, {"mtaq.test", "h2026", rsaKey}}
	w.internet = newInternet(t, func(c *conf.Config) {
		for _, k := range keys {
			c.DKIM = append(c.DKIM, conf.DKIMKey{Domain: k.domain, Selector: k.selector,
				KeyFile: writeKey(t, dir, k.domain+"."+k.selector+".pem", k.key)})
		}
		w.cfg = *c
	})
	for _, k := range keys {
		rec, err := mdkim.Record(k.key.Public())
		if err != nil {
			t.Fatal(err)
		}
		name := mdkim.RecordName(k.selector, k.domain)
		w.records[name] = rec
		var quoted []string
		for _, s := range mdkim.SplitTXT(rec) {
			quoted = append(quoted, `"`+s+`"`)
		}
		w.dns.Add(name + ". 300 IN TXT " + strings.Join(quoted, " "))
	}
	w.ok = w.mx("ok.test", 10, "mx.ok.test", "127.0.0.2")
	w.mx("bad.test", 10, "mx.bad.test", "127.0.0.3", smtptest.WithRcpt(func(string) error {
		return smtptest.Reply(550, "5.1.1", "User unknown")
	}))
	return w
}

// send submits data over SMTP from app@sender.test.
func (w *dkimWorld) send(t *testing.T, data string, to ...string) {
	t.Helper()
	smtptest.SubmitMessage(t, w.d.Addrs()[0].String(), "app@sender.test", nil, data, to...)
}

// received waits for the message whose text has marker at srv.
func received(t *testing.T, srv *smtptest.Server, marker string) []byte {
	t.Helper()
	var got []byte
	waitfor.True(t, "a message with "+marker, func() bool {
		for _, m := range srv.Messages() {
			if bytes.Contains(m.Data, []byte(marker)) {
				got = m.Data
				return true
			}
		}
		return false
	})
	return got
}

// verifyGo is go-msgauth's verifier with the world's records.
func (w *dkimWorld) verifyGo(msg []byte) []bool {
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if v, ok := w.records[strings.TrimSuffix(name, ".")]; ok {
				return []string{v}, nil
			}
			return nil, fmt.Errorf("no TXT record %s", name)
		}})
	if err != nil {
		return nil
	}
	out := make([]bool, len(vs))
	for i, v := range vs {
		out[i] = v.Err == nil
	}
	return out
}

// verifyPython is python3-dkim's verdict per signature.
func (w *dkimWorld) verifyPython(t *testing.T, msg []byte) []bool {
	t.Helper()
	py := "/usr/bin/python3" // Debian's, which has python3-dkim
	if out, err := exec.Command(py, "-c", "import dkim, nacl").CombinedOutput(); err != nil {
		missingTool(t, "python3-dkim and python3-nacl are not installed (apt-get install python3-dkim python3-nacl; .ci/run does): "+string(out))
	}
	recs := filepath.Join(t.TempDir(), "records.json")
	b, _ := json.Marshal(w.records)
	os.WriteFile(recs, b, 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-c", pyVerify, recs)
	cmd.Stdin = bytes.NewReader(msg)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3-dkim: %v", err)
	}
	var res []bool
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("python3-dkim said %q", out)
	}
	return res
}

func allTrue(bs []bool, n int) bool {
	if len(bs) != n {
		return false
	}
	for _, b := range bs {
		if !b {
			return false
		}
	}
	return true
}

// TestDKIMVerification delivers the cases through the fake
// Internet and verifies what each destination received with go-msgauth
// and with python3-dkim: every message from sender.test carries an RSA
// and an Ed25519 signature, mtaq's DSN the key of its hostname's domain,
// and a field added after signing breaks them (over-signing).
func TestDKIMVerification(t *testing.T) {
	w := newDKIMWorld(t)
	head := func(marker string) string {
		return "From: App <app@sender.test>\r\nTo: user@ok.test\r\nSubject: " + marker + "\r\n"
	}
	var two00 []string
	for i := range 200 {
		two00 = append(two00, fmt.Sprintf("u%d@ok.test", i))
	}
	type row struct {
		name string
		got  []byte
		sigs int
	}
	var rows []row
	add := func(name string, got []byte, sigs int) { rows = append(rows, row{name, got, sigs}) }

	w.send(t, head("plain-ascii")+"\r\nHello, world.\r\n", "a@ok.test")
	add("plain ASCII", received(t, w.ok, "plain-ascii"), 2)

	w.send(t, head("utf8-body")+"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln — ½ € ✓\r\n", "b@ok.test")
	add("8-bit UTF-8 body", received(t, w.ok, "utf8-body"), 2)

	w.send(t, head("two-hundred")+"\r\nto many\r\n", two00...)
	add("200 recipients", received(t, w.ok, "two-hundred"), 2)

	var errOut bytes.Buffer
	env := sendmail.Env{Prog: "sendmail", Stdin: strings.NewReader("From: app@sender.test\nTo: c@ok.test\nSubject: sendmail-bare-lf\n\nline one\nline two\n"),
		Stdout: &bytes.Buffer{}, Stderr: &errOut, Config: w.cfg, Now: w.clk.Now, User: func() (string, int) { return "app", 0 }}
	if code := sendmail.Run(env, []string{"-t", "-i", "-f", "app@sender.test"}); code != 0 {
		t.Fatalf("sendmail: %d %s", code, errOut.String())
	}
	waitfor.True(t, "pickup", func() bool {
		w.clk.Advance(time.Second)
		return len(w.ok.Messages()) >= 4
	})
	add("sendmail -t, bare LF", received(t, w.ok, "sendmail-bare-lf"), 2)

	w.send(t, head("long-line")+"\r\n"+strings.Repeat("x", 2000)+"\r\n", "d@ok.test")
	add("2,000-octet line", received(t, w.ok, "long-line"), 2)

	w.send(t, head("list-unsub")+"List-Unsubscribe: <https://sender.test/u/42>, <mailto:u-42@sender.test>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\nnews\r\n", "e@ok.test")
	unsub := received(t, w.ok, "list-unsub")
	add("List-Unsubscribe + Post", unsub, 2)

	w.send(t, head("bounce-me")+"\r\nx\r\n", "gone@bad.test")
	add("DSN (mtaq.test key)", received(t, w.senders, "bounce-me"), 1)

	for _, r := range rows {
		gov, pyv := w.verifyGo(r.got), w.verifyPython(t, r.got)
		t.Logf("%-26s go-msgauth %v  python3-dkim %v", r.name, gov, pyv)
		if !allTrue(gov, r.sigs) || !allTrue(pyv, r.sigs) {
			t.Errorf("%s: want %d passing signatures from each verifier\n%.600s", r.name, r.sigs, r.got)
		}
	}
	if h, _, _ := strings.Cut(string(unsub), "\r\n\r\n"); !strings.Contains(strings.ToLower(h), "list-unsubscribe:list-unsubscribe:list-unsubscribe-post:list-unsubscribe-post") {
		t.Errorf("List-Unsubscribe and -Post not over-signed:\n%s", h)
	}

	// A second From or Subject added after signing, where a reader would
	// see it, breaks every signature: they are over-signed.
	plain := rows[0].got
	for _, extra := range []string{"From: ceo@sender.test\r\n", "Subject: urgent wire transfer\r\n", "List-Unsubscribe: <https://evil.test/>\r\n"} {
		forged := []byte(extra + string(plain))
		gov, pyv := w.verifyGo(forged), w.verifyPython(t, forged)
		t.Logf("added %-30q go-msgauth %v  python3-dkim %v", strings.TrimSpace(extra), gov, pyv)
		for _, v := range append(gov, pyv...) {
			if v {
				t.Errorf("a signature still verifies after adding %q", extra)
			}
		}
	}
}
