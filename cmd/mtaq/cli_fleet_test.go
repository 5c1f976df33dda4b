package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/mtaq/mtaq/internal/pgtest"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/queue"
)

// Three nodes on one database; cli3 advertises an admin address nobody
// listens on. queue ls --cluster merges cli1's and cli2's deferred mail,
// names cli3 unreachable and exits 69; drain --transfer-to cli2 moves
// cli1's message, which the next listing shows on cli2.
func TestCLIFleetQueueAndDrain(t *testing.T) {
	dsn := pgtest.DSN(t, pgtest.Addr)
	const token = "fleet-admin-token-0123456789"
	node := func(name string, listen bool) string {
		addr := fmt.Sprintf("127.0.0.1:%d", smtptest.FreePort(t, "127.0.0.1"))
		s := fmt.Sprintf("[cluster]\npostgres = %q\nnode = %q\nadvertise_admin = %q\n", dsn, name, addr)
		if listen {
			s += fmt.Sprintf("[admin]\nlisten = %q\ntoken = %q\n", addr, token)
		}
		return s
	}
	n1 := newCLINetWith(t, node("cli1", true))
	n2 := newCLINetWith(t, node("cli2", true))
	newCLINetWith(t, node("cli3", false))
	var ids []string
	for i, n := range []*cliNet{n1, n2} {
		n.mx("grey.test", "127.0.0.2", smtptest.WithRcpt(func(string) error {
			return smtptest.Reply(451, "4.7.1", "greylisted")
		}))
		id := n.send(fmt.Sprintf("rcpt%d@grey.test", i+1))
		n.wait(id, queue.Deferred)
		ids = append(ids, id)
	}

	out, errs, code := n1.run(nil, "queue", "ls", "--cluster")
	t.Logf("mtaq queue ls --cluster:\n%s%s", errs, out)
	if code != 69 || !strings.Contains(errs, "UNREACHABLE cli3") || !strings.Contains(errs, "partial listing") {
		t.Fatalf("exit %d, stderr %q: want 69 naming cli3", code, errs)
	}
	for i, want := range []string{"cli1  " + ids[0], "cli2  " + ids[1]} {
		if !strings.Contains(out, want) || !strings.Contains(out, fmt.Sprintf("rcpt%d@grey.test", i+1)) {
			t.Errorf("listing lacks %q:\n%s", want, out)
		}
	}

	out = n1.ok("drain", "--transfer-to", "cli2")
	t.Logf("mtaq drain --transfer-to cli2:\n%s", out)
	if !strings.Contains(out, "Transferred 1 message to cli2") || !strings.Contains(out, "cli1 is draining") ||
		!strings.Contains(out, "0 messages open here") {
		t.Errorf("drain said:\n%s", out)
	}
	js, _, code := n2.run(nil, "queue", "ls", "--cluster", "--json")
	var q clusterQueue
	if err := json.Unmarshal([]byte(js), &q); err != nil || code != 69 || !q.Partial {
		t.Fatalf("--json: exit %d, %v:\n%s", code, err, js)
	}
	got := map[string]string{}
	for _, m := range q.Messages {
		got[m.ID] = m.Node
	}
	if len(got) != 2 || got[ids[0]] != "cli2" || got[ids[1]] != "cli2" {
		t.Errorf("after the transfer, messages by node: %v (want both on cli2)", got)
	}
	if m := q.Messages[0]; m.ID != ids[0] || m.Recipients[0].Attempts != 1 || m.Recipients[0].State != "deferred" {
		t.Errorf("the transferred message: %+v", m)
	}
	out = n1.ok("drain", "--cancel")
	if !strings.Contains(out, "cli1 takes mail again") {
		t.Errorf("drain --cancel said %q", out)
	}
}
