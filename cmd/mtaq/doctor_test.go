package main

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtaq/mtaq/internal/dkim"
	"github.com/mtaq/mtaq/internal/dnstest"
)

// doctorEnv is a config file naming a fake DNS server, hostname
// mta.example.test and two Ed25519 [[dkim]] keys for example.test.
type doctorEnv struct {
	dns  *dnstest.Server
	cfg  string
	recs map[string]string // selector -> its TXT value
}

func newDoctorEnv(t *testing.T) *doctorEnv {
	t.Helper()
	dir := t.TempDir()
	e := &doctorEnv{dns: dnstest.New(t), cfg: filepath.Join(dir, "mtaq.toml"), recs: map[string]string{}}
	var keys strings.Builder
	for i, sel := range []string{"s1", "s2"} {
		seed := make([]byte, ed25519.SeedSize)
		seed[0] = byte(i + 1)
		priv := ed25519.NewKeyFromSeed(seed)
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, sel+".pem")
		if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		if e.recs[sel], err = dkim.Record(priv.Public()); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&keys, "[[dkim]]\ndomain = \"example.test\"\nselector = %q\nkey_file = %q\n", sel, file)
	}
	toml := fmt.Sprintf("hostname = \"mta.example.test\"\ndata_dir = %q\n[delivery]\ndns_servers = [%q]\n%s",
		filepath.Join(dir, "data"), e.dns.Addr(), keys.String())
	if err := os.WriteFile(e.cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *doctorEnv) txt(name, value string) {
	var q []string
	for _, s := range dkim.SplitTXT(value) {
		q = append(q, `"`+s+`"`)
	}
	e.dns.Add(name + ". 300 IN TXT " + strings.Join(q, " "))
}

func (e *doctorEnv) doctor(t *testing.T, extra ...string) (string, int) {
	t.Helper()
	args := append([]string{"doctor", "--config", e.cfg, "--ip", "192.0.2.10", "--ip", "192.0.2.11",
		"--return-path-domain", "bounces.example.test", "example.test"}, extra...)
	out, stderr, code := runCLI(nil, args...)
	t.Logf("$ mtaq doctor --ip 192.0.2.10 --ip 192.0.2.11 --return-path-domain bounces.example.test example.test %s (exit %d)\n%s%s",
		strings.Join(extra, " "), code, out, stderr)
	return out, code
}

// TestDoctorCLI: example.test with one FAIL of each kind, then the same
// after publishing the records the FAIL lines name.
func TestDoctorCLI(t *testing.T) {
	e := newDoctorEnv(t)
	e.dns.Add("bounces.example.test. 300 IN A 198.51.100.1",
		"11.2.0.192.in-addr.arpa. 300 IN PTR old.example.test.")
	e.txt("bounces.example.test", "v=spf1 ip4:192.0.2.11 a a a a a a a a a a a -all")
	e.txt("s1._domainkey.example.test", e.recs["s2"]) // the other key
	e.txt("_dmarc.example.test", "v=DMARC1; p=monitor; aspf=s")
	e.txt("_mta-sts.example.test", "v=STSv1; id=2026-01-01")
	e.txt("_smtp._tls.example.test", "v=TLSRPTv1; rua=tls@example.test")
	out, code := e.doctor(t)
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	for _, want := range []string{"FAIL  spf-lookups", "FAIL  spf 192.0.2.10", "FAIL  dkim s1._domainkey.example.test",
		"FAIL  dkim s2._domainkey.example.test", "FAIL  dmarc", "FAIL  alignment", "FAIL  ptr 192.0.2.10",
		"FAIL  ptr 192.0.2.11", "FAIL  ehlo", "FAIL  mta-sts", "FAIL  tls-rpt",
		`→ publish s2._domainkey.example.test. TXT "` + e.recs["s2"] + `"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if _, _, code := runCLI(nil, "dkim", "check", "--config", e.cfg, "--domain", "example.test", "--selector", "s1"); code != exitFailure {
		t.Errorf("dkim check of a wrong key: exit %d", code)
	}
	// The SPF record's own FAIL hides the other SPF lines, so it has a run
	// of its own: example.test as MAIL FROM domain has no SPF record.
	out, _, code = runCLI(nil, "doctor", "--config", e.cfg, "--ip", "192.0.2.10", "example.test")
	spf, _, _ := strings.Cut(out, "\n")
	t.Logf("$ mtaq doctor --ip 192.0.2.10 example.test (exit %d; first line)\n%s", code, spf)
	if want := `FAIL  spf                              no v=spf1 record at example.test  → publish example.test. TXT "v=spf1 ip4:192.0.2.10 -all"`; spf != want || code != exitFailure {
		t.Errorf("no SPF record: exit %d\n got %s\nwant %s", code, spf, want)
	}

	for _, n := range []string{"bounces.example.test", "s1._domainkey.example.test", "_dmarc.example.test",
		"11.2.0.192.in-addr.arpa", "_mta-sts.example.test", "_smtp._tls.example.test"} {
		e.dns.Reset(n)
	}
	e.txt("bounces.example.test", "v=spf1 ip4:192.0.2.10 ip4:192.0.2.11 -all")
	e.txt("s1._domainkey.example.test", e.recs["s1"])
	e.txt("s2._domainkey.example.test", e.recs["s2"])
	e.txt("_dmarc.example.test", "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@example.test")
	e.dns.Add("10.2.0.192.in-addr.arpa. 300 IN PTR mta.example.test.",
		"11.2.0.192.in-addr.arpa. 300 IN PTR mta.example.test.",
		"mta.example.test. 300 IN A 192.0.2.10", "mta.example.test. 300 IN A 192.0.2.11",
		"bounces.example.test. 300 IN MX 10 mta.example.test.")
	e.txt("_mta-sts.example.test", "v=STSv1; id=20260101")
	e.txt("_smtp._tls.example.test", "v=TLSRPTv1; rua=mailto:tls-reports@example.test")
	// Every record is fixed; the MTA-STS policy itself cannot be served
	// here (https on port 443 of mta-sts.example.test, which has no
	// address in this DNS), so its fetch is the one FAIL, and it was
	// looked up through the configured DNS server, not the system's.
	// DANE is off and the DNS server does not validate: INFO.
	out, code = e.doctor(t)
	if code != exitFailure {
		t.Errorf("exit %d after the fixes, want %d for the policy fetch", code, exitFailure)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case strings.HasPrefix(l, "PASS "):
		case strings.HasPrefix(l, "FAIL  mta-sts-policy") && strings.Contains(l, "dns AAAA mta-sts.example.test: domain does not exist"):
		case strings.HasPrefix(l, "INFO  dane-resolver") && strings.Contains(l, "DANE not attempted: resolver does not validate"):
		default:
			t.Errorf("not PASS: %s", l)
		}
	}
	if n := strings.Count(out, "\n"); n != 16 {
		t.Errorf("%d lines, want 16", n)
	}

	out, code = e.doctor(t, "--json")
	var rs []struct{ Check, Status, Detail, Fix string }
	if err := json.Unmarshal([]byte(out), &rs); err != nil || code != exitFailure || len(rs) != 16 || rs[0].Check != "spf" || rs[0].Status != "PASS" {
		t.Errorf("--json: exit %d, %v, %+v", code, err, rs)
	}

	out, stderr, code := runCLI(nil, "dkim", "check", "--config", e.cfg, "--domain", "example.test", "--selector", "s1")
	t.Logf("$ mtaq dkim check --domain example.test --selector s1 (exit %d)\n%s%s", code, out, stderr)
	if code != 0 || !strings.HasPrefix(out, "PASS  dkim s1._domainkey.example.test  published, k=ed25519, matches the configured key") {
		t.Errorf("dkim check: exit %d %q", code, out)
	}
	if _, _, code := runCLI(nil, "dkim", "check", "--config", e.cfg, "--domain", "example.test", "--selector", "s9"); code != exitFailure {
		t.Errorf("dkim check of an unconfigured selector: exit %d", code)
	}
	if _, _, code := runCLI(nil, "doctor", "--config", e.cfg, "--ip", "nope", "example.test"); code != exitUsage {
		t.Errorf("bad --ip: exit %d", code)
	}
}
