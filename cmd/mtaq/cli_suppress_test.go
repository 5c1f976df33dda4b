package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCLISuppress(t *testing.T) {
	n := newCLINet(t)
	n.ok("suppress", "add", "Complainer@Example.com", "--reason", "complaint")
	n.ok("suppress", "add", "tmp@example.com", "--ttl", "24h")
	if _, errs, code := n.run(nil, "suppress", "add", "x@y.test", "--reason", "angry"); code != 2 || !strings.Contains(errs, `unknown reason "angry"`) {
		t.Errorf("bad reason: exit %d %q", code, errs)
	}

	ls := n.ok("suppress", "ls")
	t.Logf("mtaq suppress ls:\n%s", ls)
	if !strings.Contains(ls, "complainer@example.com  complaint") || !strings.Contains(ls, "never") || !strings.Contains(ls, "(in 24h)") {
		t.Errorf("suppress ls:\n%s", ls)
	}
	js := n.ok("suppress", "ls", "--json")
	t.Logf("mtaq suppress ls --json:\n%s", js)
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(js), &entries); err != nil || len(entries) != 2 {
		t.Fatalf("ls --json: %v %d", err, len(entries))
	}
	for _, k := range []string{"address", "reason", "created", "expires"} {
		if _, ok := entries[0][k]; !ok {
			t.Errorf("entry lacks %q", k)
		}
	}
	if string(entries[0]["expires"]) != "null" || string(entries[1]["expires"]) == "null" {
		t.Errorf("expires: %s / %s", entries[0]["expires"], entries[1]["expires"])
	}
	if out := n.ok("suppress", "ls", "--reason", "complaint"); strings.Contains(out, "tmp@") {
		t.Errorf("--reason complaint:\n%s", out)
	}
	if out := n.ok("suppress", "show", "COMPLAINER@example.com"); !strings.Contains(out, "Reason     complaint") {
		t.Errorf("show:\n%s", out)
	}
	n.ok("suppress", "rm", "complainer@example.com")
	_, errs, code := n.run(nil, "suppress", "show", "complainer@example.com")
	if code != 1 || errs != "mtaq: complainer@example.com is not suppressed\n" {
		t.Errorf("show after rm: exit %d %q", code, errs)
	}
}

// TestCLISuppressImportExport imports 100k lines with a few bad ones,
// shows progress on stderr, then exports and re-imports the result.
func TestCLISuppressImportExport(t *testing.T) {
	n := newCLINet(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	var b strings.Builder
	b.WriteString("address,reason,expires\n")
	bad := map[int]string{500: "not an address", 42000: "x@y.test,angry", 99999: "z@y.test,manual,yesterday"}
	for i := range 100_000 {
		if l, ok := bad[i]; ok {
			b.WriteString(l + "\n")
			continue
		}
		fmt.Fprintf(&b, "user%d@example.com,unsubscribe\n", i)
	}
	if err := os.WriteFile(in, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errs, code := n.run(nil, "suppress", "import", in)
	t.Logf("mtaq suppress import: stdout %q\nstderr:\n%s", out, errs)
	if code != 0 || out != in+": 99997 added, 3 skipped\n" {
		t.Fatalf("import: exit %d, %q", code, out)
	}
	for _, want := range []string{"importing: 100000 lines\n", in + ": line 502: bad address", in + `: line 42002: unknown reason "angry"`,
		in + `: line 100001: bad expires "yesterday"`} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}

	exported := n.ok("suppress", "export")
	if lines := strings.Count(exported, "\n"); lines != 99998 {
		t.Fatalf("export: %d lines", lines)
	}
	// Stdin import of the export: the same entries, merged (count 2).
	out, errs, code = n.run(strings.NewReader(exported), "suppress", "import", "-", "--json")
	var res map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res["added"] != float64(99997) || res["skipped"] != float64(0) {
		t.Fatalf("re-import: exit %d %q %s", code, out, errs)
	}
	if show := n.ok("suppress", "show", "user7@example.com"); !strings.Contains(show, "Count      2") || !strings.Contains(show, "never") {
		t.Errorf("after re-import:\n%s", show)
	}
	if _, errs, code := n.run(nil, "suppress", "import", filepath.Join(dir, "missing.csv")); code != 1 || !strings.Contains(errs, "missing.csv") {
		t.Errorf("missing file: exit %d %q", code, errs)
	}
}
