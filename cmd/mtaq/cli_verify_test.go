package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/unprivtest"
	"github.com/mtaq/mtaq/internal/verify"
	"github.com/mtaq/mtaq/queue"
)

// verifyNet is a daemon whose fake Internet has ok.test (an MX that
// refuses gone@), gmial.com (a typo that takes mail), a null-MX domain and
// a SERVFAIL one.
func verifyNet(t *testing.T) *cliNet {
	n := newCLINet(t)
	n.mx("ok.test", "127.0.0.2", smtptest.WithRcpt(func(to string) error {
		if strings.HasPrefix(to, "gone@") {
			return smtptest.Reply(550, "5.1.1", "no such user")
		}
		return nil
	}))
	n.dns.MX("gmial.com", 10, "mx.ok.test")
	n.dns.MX("mailinator.com", 10, "mx.ok.test")
	n.dns.NullMX("nullmx.test")
	n.dns.ServFail("servfail.test")
	return n
}

func readCSV(t *testing.T, out string) [][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v\n%s", err, out)
	}
	return rows
}

// The verdicts as a user sees them, after real deliveries: one address
// delivered and one hard-bounced by the daemon itself.
func TestCLIVerify(t *testing.T) {
	n := verifyNet(t)
	n.wait(n.send("ann@ok.test"), queue.Delivered)
	n.wait(n.send("gone@ok.test"), queue.Bounced)
	if err := n.d.Store().Suppress(t.Context(), queue.Suppression{Address: "moved@ok.test", Reason: "complaint",
		Created: now(), LastSeen: now(), Count: 1}); err != nil {
		t.Fatal(err)
	}
	addrs := []string{"ann@ok.test", "gone@ok.test", "moved@ok.test", "user@gmial.com", "postmaster@ok.test",
		"a@nullmx.test", "a@servfail.test", "a@nxdomain.test", "not an address", "x@mailinator.com"}
	out, errs, code := n.run(nil, append([]string{"verify"}, addrs...)...)
	t.Logf("mtaq verify ...:\n%s", out)
	if code != exitNotValid || !strings.Contains(errs, "9 of 10 addresses are not valid") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
	rows := readCSV(t, out)
	if len(rows) != len(addrs)+1 || strings.Join(rows[0], ",") != "address,verdict,reasons,suggestion,detail" {
		t.Fatalf("%d rows, header %v", len(rows), rows[0])
	}
	want := []struct{ verdict, reason, suggestion string }{
		{"valid", "delivered", ""},
		{"invalid", "bounced", ""},
		{"risky", "suppressed(complaint)", ""},
		{"risky", "typo", "user@gmail.com"},
		{"risky", "role", ""},
		{"invalid", "null_mx", ""},
		{"unknown", "dns_temporary", ""},
		{"invalid", "nxdomain", ""},
		{"invalid", "syntax", ""},
		{"risky", "disposable", ""},
	}
	for i, w := range want {
		r := rows[i+1]
		if r[0] != addrs[i] || r[1] != w.verdict || !strings.Contains(r[2], w.reason) || r[3] != w.suggestion {
			t.Errorf("row %d: %q, want %s %s %q", i+1, r, w.verdict, w.reason, w.suggestion)
		}
	}
	if !strings.Contains(rows[2][2], "suppressed(hard_bounce)") {
		t.Errorf("the hard bounce also suppressed the address: %q", rows[2])
	}

	// One valid address: exit 0, JSON with every reason.
	out, errs, code = n.run(nil, "verify", "ann@ok.test", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res verify.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Verdict != verify.Valid || len(res.Reasons) != 2 ||
		res.Reasons[0].Code != "mail_domain" || res.Reasons[1].Code != "delivered" || res.Reasons[1].At == nil {
		t.Errorf("--json: %v %+v\n%s", err, res, out)
	}
}

// A list of 2,500 lines (three batches at the daemon) from stdin: a
// header, blank lines, extra CSV columns; results in input order as JSON
// lines, progress on stderr.
func TestCLIVerifyFile(t *testing.T) {
	n := verifyNet(t)
	var in strings.Builder
	in.WriteString("email,name\n")
	var want []string
	for i := range 2500 {
		a := fmt.Sprintf("u%d@ok.test", i)
		switch i % 5 {
		case 1:
			a = fmt.Sprintf("u%d@nxdomain.test", i)
		case 3:
			a = fmt.Sprintf("u%d@gmial.com", i)
		}
		want = append(want, a)
		fmt.Fprintf(&in, "%s,\"Name, %d\"\n", a, i)
		if i == 100 {
			in.WriteString("\n")
		}
	}
	out, errs, code := n.run(strings.NewReader(in.String()), "verify", "--file", "-", "--json")
	if code != exitNotValid {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "verified 2500 addresses") || !strings.Contains(errs, "1000 not valid") {
		t.Errorf("progress on stderr: %q", errs)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	i := 0
	for sc.Scan() {
		var r verify.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if i >= len(want) || r.Address != want[i] {
			t.Fatalf("line %d: %s, want %s", i+1, r.Address, want[min(i, len(want)-1)])
		}
		wantV := verify.Valid
		switch i % 5 {
		case 1:
			wantV = verify.Invalid
		case 3:
			wantV = verify.Risky
		}
		if r.Verdict != wantV {
			t.Errorf("%s: %s, want %s", r.Address, r.Verdict, wantV)
		}
		i++
	}
	if i != len(want) {
		t.Errorf("%d results, want %d", i, len(want))
	}
	// The same list from a file, CSV out.
	path := filepath.Join(t.TempDir(), "list.csv")
	if err := os.WriteFile(path, []byte(in.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, _ = n.run(nil, "verify", "-f", path)
	if rows := readCSV(t, out); len(rows) != 2501 || rows[2500][0] != want[2499] {
		t.Errorf("CSV out: %d rows", len(rows))
	}
}

func TestCLIVerifyUsageAndLists(t *testing.T) {
	n := verifyNet(t)
	for _, argv := range [][]string{{"verify"}, {"verify", "a@ok.test", "--file", "-"}} {
		if _, errs, code := n.run(nil, argv...); code != exitUsage || !strings.Contains(errs, "give addresses or --file") {
			t.Errorf("%v: exit %d %q", argv, code, errs)
		}
	}
	if _, errs, code := n.run(nil, "verify", "--file", "/nonexistent/list.csv"); code != exitNotFound ||
		!strings.Contains(errs, "/nonexistent/list.csv") {
		t.Errorf("missing file: exit %d %q", code, errs)
	}

	n.dns.MX("throw.test", 10, "mx.ok.test")
	if out, _, _ := n.run(nil, "verify", "x@throw.test"); !strings.Contains(out, "x@throw.test,valid") {
		t.Fatalf("before the update: %s", out)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("# list\nthrow.test\nnot a domain\n"), 0o600) //nolint:errcheck // read back below
	if _, errs, code := n.run(nil, "verify", "update-list", bad); code != exitUsage || !strings.Contains(errs, "line 3") {
		t.Errorf("bad list: exit %d %q", code, errs)
	}
	good := filepath.Join(dir, "good.txt")
	os.WriteFile(good, []byte("# list\nthrow.test\nmailinator.com\n"), 0o600) //nolint:errcheck // read back below
	if out := n.ok("verify", "update-list", good); !strings.HasPrefix(out, "disposable domains: 2 (was ") {
		t.Errorf("update-list: %q", out)
	}
	out, _, code := n.run(nil, "verify", "x@throw.test")
	if code != exitNotValid || !strings.Contains(out, "x@throw.test,risky,disposable;mail_domain") {
		t.Errorf("after the update: exit %d\n%s", code, out)
	}
}

// With [verify] smtp_probe on, the daemon asks the exchangers: a catch-all
// domain, a mailbox that exists, and a second probe to the same domain
// within the minute held back by probe_rate = 1. Nothing is ever sent.
func TestCLIVerifyProbe(t *testing.T) {
	n := newCLINetWith(t, "[verify]\nsmtp_probe = true\nprobe_rate = 1\nprobe_skip = []\n")
	any := n.mx("catchall.test", "127.0.0.2")
	checks := n.mx("checks.test", "127.0.0.3", smtptest.WithRcpt(func(to string) error {
		if strings.HasPrefix(to, "ann@") {
			return nil
		}
		return smtptest.Reply(550, "5.1.1", "no such user here")
	}))
	out, _, code := n.run(nil, "verify", "--json", "x@catchall.test", "ann@checks.test", "zed@checks.test")
	if code != exitNotValid {
		t.Fatalf("exit %d\n%s", code, out)
	}
	var got []verify.Result
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r verify.Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	want := []struct {
		verdict verify.Verdict
		code    string
	}{{verify.Risky, "catch_all"}, {verify.Valid, "mailbox_exists"}, {verify.Unknown, "probe_rate_limited"}}
	for i, w := range want {
		found := false
		for _, r := range got[i].Reasons {
			found = found || r.Code == w.code
		}
		if got[i].Verdict != w.verdict || !found {
			t.Errorf("%s: %+v, want %s with %s", got[i].Address, got[i], w.verdict, w.code)
		}
	}
	if len(any.Messages())+len(checks.Messages()) != 0 {
		t.Error("a probe delivered a message")
	}
}

// An app's signup check runs `mtaq verify` as its own unprivileged user,
// reading the address list on stdin. Without access to the admin socket
// it fails and says why; as a member of [admin] group it gets verdicts.
func TestVerifyAsUnprivilegedUser(t *testing.T) {
	u := unprivtest.Get(t)
	g, err := user.LookupGroupId(strconv.Itoa(int(u.GID)))
	if err != nil {
		t.Fatal(err)
	}
	n := newCLINetWith(t, fmt.Sprintf("[admin]\ngroup = %q\n", g.Name))
	n.dns.MX("ok.test", 10, "mx.ok.test")
	bin := buildMtaq(t)
	unprivtest.Traversable(t, bin)
	unprivtest.Traversable(t, n.cfg)
	if err := os.Chmod(n.cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	verifyAs := func() (int, string, string) {
		cmd := u.Command(t.Context(), bin, "verify", "--config", n.cfg, "--file", "-")
		cmd.Stdin = strings.NewReader("email\nann@ok.test\nuser@gmial.com\n")
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), out.String(), errb.String()
	}
	if code, _, errs := verifyAs(); code != exitNotFound || !strings.Contains(errs, "permission denied") {
		t.Fatalf("without access: exit %d: %s", code, errs)
	}
	if err := os.Chown(filepath.Join(filepath.Dir(n.cfg), "data"), 0, int(u.GID)); err != nil {
		t.Fatal(err)
	}
	code, out, errs := verifyAs()
	if code != exitNotValid || !strings.Contains(out, "ann@ok.test,valid,mail_domain") ||
		!strings.Contains(out, "user@gmial.com,invalid,typo;nxdomain,user@gmail.com,") ||
		!strings.Contains(errs, "verified 2 addresses") {
		t.Fatalf("as a member of [admin] group: exit %d\nstdout %q\nstderr %q", code, out, errs)
	}
}

// FuzzFirstColumn: any line gives a field no longer than the line, on one
// line, without surrounding spaces.
func FuzzFirstColumn(f *testing.F) {
	for _, s := range []string{"ann@ok.test", `"a,b",c`, `"unterminated`, `""`, "\ufeffx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if strings.ContainsAny(line, "\n") {
			return // the scanner splits lines first
		}
		got := firstColumn(line)
		if len(got) > len(line) || strings.ContainsAny(got, "\n") || got != strings.TrimSpace(got) {
			t.Fatalf("firstColumn(%q) = %q", line, got)
		}
	})
}
