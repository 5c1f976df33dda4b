package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/pgtest"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

const drainToken = "fleet-admin-token-0123456789"

// drainPair is two fleet nodes sharing a database; node 2 advertises its
// admin TCP address. dest.test greylists (451) until accept is set.
type drainPair struct {
	n1, n2 *Daemon
	mx     *smtptest.Server
	accept chan struct{}
}

func newDrainPair(t *testing.T) *drainPair {
	t.Helper()
	dsn := pgtest.DSN(t, pgtest.Addr)
	p := &drainPair{accept: make(chan struct{})}
	dnsAddr, port, mx := destNet(t, smtptest.WithRcpt(func(string) error {
		select {
		case <-p.accept:
			return nil
		default:
			return smtptest.Reply(451, "4.7.1", "greylisted, try again later")
		}
	}))
	p.mx = mx
	var nodes []*Daemon
	for i := range 2 {
		c := destNodeConfig(fmt.Sprintf("node%d.test", i+1), t.TempDir(), fmt.Sprintf("127.0.0.%d:0", 31+i), dnsAddr, port)
		c.Delivery.Workers = 8
		c.DSN.Enabled = false
		c.Metrics.Listen = "127.0.0.1:0"
		adminAddr := fmt.Sprintf("127.0.0.1:%d", smtptest.FreePort(t, "127.0.0.1"))
		c.Admin.Listen, c.Admin.Token = adminAddr, drainToken // the fleet shares one token
		c.Cluster = &conf.Cluster{Postgres: dsn, Node: fmt.Sprintf("node%d", i+1), AdvertiseAdmin: adminAddr}
		nodes = append(nodes, startDaemon(t, Options{Config: c}))
	}
	p.n1, p.n2 = nodes[0], nodes[1]
	return p
}

// TestDrainTransfersDeferredMessages: node 1 holds 1,000 deferred
// messages (20 deferred for real by a 451, the rest planted with
// attempts, arrivals and next attempts spread over three days). mtaq drain
// --transfer-to node2 leaves node 1 empty and refusing mail, and node 2
// holds every message with its envelope, arrival time, attempt counts,
// next attempts, last replies and timelines as they were; flushed, node 2
// delivers each once.
func TestDrainTransfersDeferredMessages(t *testing.T) {
	p := newDrainPair(t)
	ctx := context.Background()
	var real []string
	for i := range 20 {
		real = append(real, smtptest.Submit(t, p.n1.Addrs()[0].String(), "app@sender.test", fmt.Sprintf("r%d@dest.test", i)))
	}
	waitfor.NoError(t, func() error {
		for _, id := range real {
			m, err := p.n1.Store().Message(ctx, id)
			if err != nil {
				return err
			}
			if r := m.Recipients[0]; r.State != queue.Deferred || r.Attempts != 1 {
				return fmt.Errorf("%s: %s after %d attempts, want deferred after 1", id, r.State, r.Attempts)
			}
		}
		return nil
	})
	now := time.Now()
	var planted []*queue.Message
	var bodies [][]byte
	for i := range 980 {
		arrived := now.Add(-time.Duration(i%72) * time.Hour).Add(-time.Duration(i) * time.Millisecond)
		m := &queue.Message{ID: queue.NewID(arrived), Sender: "app@sender.test", Arrived: arrived, ClientAddr: "127.0.0.31",
			Helo: "app", Tag: "t" + fmt.Sprint(i%7), Recipients: []queue.Recipient{
				{Address: fmt.Sprintf("p%d@dest.test", i), State: queue.Deferred, Attempts: 1 + i%9,
					NextAttempt: now.Add(time.Hour + time.Duration(i)*time.Second), Updated: arrived,
					LastReply: &queue.Reply{Code: 451, Enhanced: "4.7.1", Text: "greylisted"}},
				{Address: fmt.Sprintf("q%d@dest.test", i), State: queue.Delivered, Attempts: 1, Updated: arrived},
			}}
		planted = append(planted, m)
		bodies = append(bodies, fmt.Appendf(nil, "Subject: planted %d\r\n\r\nbody %d\r\n", i, i))
	}
	if err := p.n1.store.EnqueueMany(ctx, planted, bodies); err != nil {
		t.Fatal(err)
	}
	before := map[string]*queue.Message{}
	timelines := map[string][]queue.Attempt{}
	for _, m := range listAll(t, p.n1.Store()) {
		before[m.ID] = m
		tl, _ := p.n1.Store().Timeline(ctx, m.ID, 0)
		timelines[m.ID] = tl
	}
	if len(before) != 1000 {
		t.Fatalf("node 1 holds %d messages, want 1000", len(before))
	}

	began := time.Now()
	res, err := admin.NewClient(p.n1.cfg.AdminSocketPath()).Drain(ctx, admin.DrainRequest{TransferTo: "node2"})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	t.Logf("drain --transfer-to node2: %+v in %v (%.0f messages/s)", *res, took.Round(time.Millisecond), 1000/took.Seconds())
	if res.Transferred != 1000 || res.Left != 0 || !res.Draining || res.Target != p.n2.cfg.Cluster.AdvertiseAdmin {
		t.Fatalf("result %+v, want 1000 transferred, none left, draining, target %s", *res, p.n2.cfg.Cluster.AdvertiseAdmin)
	}
	if left := listAll(t, p.n1.Store()); len(left) != 0 {
		t.Fatalf("node 1 still holds %d messages", len(left))
	}
	after := listAll(t, p.n2.Store())
	if len(after) != 1000 {
		t.Fatalf("node 2 holds %d messages, want 1000", len(after))
	}
	for _, m := range after {
		want := before[m.ID]
		if want == nil {
			t.Fatalf("node 2 holds %s, which node 1 did not", m.ID)
		}
		if !m.Arrived.Equal(want.Arrived) || !reflect.DeepEqual(m.Recipients, want.Recipients) ||
			m.Sender != want.Sender || m.Tag != want.Tag || m.ClientAddr != want.ClientAddr {
			t.Fatalf("%s on node 2:\n%+v\nwas on node 1:\n%+v", m.ID, m, want)
		}
		tl, err := p.n2.Store().Timeline(ctx, m.ID, 0)
		if err != nil || !reflect.DeepEqual(tl, timelines[m.ID]) {
			t.Fatalf("%s timeline on node 2 %+v (%v), was %+v", m.ID, tl, err, timelines[m.ID])
		}
	}
	if err := p.n2.Store().Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.n1.Store().Check(ctx); err != nil {
		t.Fatal(err)
	}

	// Node 1 refuses new mail so clients go elsewhere, and says so to the
	// load balancer.
	c, err := net.DialTimeout("tcp", p.n1.Addrs()[0].String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	greet, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if !strings.HasPrefix(greet, "421 4.3.2 ") {
		t.Errorf("a new connection to the draining node: %q, want 421 4.3.2", greet)
	}
	resp, err := http.Get("http://" + p.n1.MetricsAddr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "intake: draining") {
		t.Errorf("/readyz on the draining node: %d %q, want 503 naming the drain", resp.StatusCode, body)
	}

	// The messages are node 2's now: flushed, each is delivered once.
	close(p.accept)
	if _, err := admin.NewClient(p.n2.cfg.AdminSocketPath()).Flush(ctx); err != nil {
		t.Fatal(err)
	}
	flushed := time.Now()
	waitfor.NoError(t, func() error {
		if n := len(p.mx.Messages()); n < 1000 {
			return fmt.Errorf("%d of 1000 messages at the destination", n)
		}
		return nil
	})
	t.Logf("node 2 delivered the 1000 in %v after the flush", time.Since(flushed).Round(time.Millisecond))
	seen := map[string]int{}
	for _, m := range p.mx.Messages() {
		seen[m.To[0]]++
	}
	if len(seen) != 1000 {
		t.Errorf("%d distinct recipients delivered, want 1000", len(seen))
	}
	for rcpt, n := range seen {
		if n != 1 {
			t.Errorf("%s delivered %d times", rcpt, n)
		}
	}
}

// listAll is every message in the store.
func listAll(t *testing.T, s queue.Store) []*queue.Message {
	t.Helper()
	ms, err := s.List(context.Background(), queue.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// failAfterCommit is node 2's admin API that, on its second call, commits
// the batch and then fails, like a connection lost before the answer.
type failAfterCommit struct {
	admin.Fleet
	calls int
}

func (f *failAfterCommit) Transfer(ctx context.Context, r admin.TransferRequest) (*admin.TransferResult, error) {
	f.calls++
	res, err := f.Fleet.Transfer(ctx, r)
	if f.calls == 2 && err == nil {
		return nil, errors.New("connection reset after the commit")
	}
	return res, err
}

// A transfer cut after node 2 committed a batch but before node 1 heard
// so: that batch is on both nodes (a duplicate, never a loss); run again,
// node 2 recognises it by queue ID, and in the end every message is on
// node 2 once and none on node 1.
func TestDrainTransferInterrupted(t *testing.T) {
	p := newDrainPair(t)
	ctx := context.Background()
	now := time.Now()
	var ms []*queue.Message
	var bodies [][]byte
	for i := range 250 {
		ms = append(ms, &queue.Message{ID: queue.NewID(now.Add(-time.Duration(i) * time.Second)), Sender: "app@sender.test",
			Arrived: now.Add(-time.Duration(i) * time.Second), Recipients: []queue.Recipient{{Address: fmt.Sprintf("x%d@dest.test", i),
				State: queue.Deferred, Attempts: 2, NextAttempt: now.Add(time.Hour)}}})
		bodies = append(bodies, []byte("Subject: x\r\n\r\nx\r\n"))
	}
	if err := p.n1.store.EnqueueMany(ctx, ms, bodies); err != nil {
		t.Fatal(err)
	}
	target := &failAfterCommit{Fleet: admin.NewTCPClient(p.n2.cfg.Cluster.AdvertiseAdmin, drainToken)}
	res := &admin.DrainResult{}
	err := p.n1.drain.transfer(ctx, target, res)
	if err == nil || res.Transferred != 100 {
		t.Fatalf("interrupted transfer: %v, %+v; want an error after 100", err, *res)
	}
	on1, on2 := len(listAll(t, p.n1.Store())), len(listAll(t, p.n2.Store()))
	t.Logf("after the cut: %d on node 1, %d on node 2", on1, on2)
	if on1 != 150 || on2 != 200 {
		t.Fatalf("after the cut: %d on node 1 (want 150), %d on node 2 (want 200: the cut batch on both)", on1, on2)
	}
	again, err := admin.NewClient(p.n1.cfg.AdminSocketPath()).Drain(ctx, admin.DrainRequest{TransferTo: "node2"})
	if err != nil {
		t.Fatal(err)
	}
	if again.Existing != 100 || again.Transferred != 50 || again.Left != 0 {
		t.Fatalf("run again: %+v, want 100 existing, 50 transferred, none left", *again)
	}
	seen := map[string]bool{}
	for _, m := range listAll(t, p.n2.Store()) {
		if seen[m.ID] {
			t.Fatalf("%s twice on node 2", m.ID)
		}
		seen[m.ID] = true
	}
	if len(seen) != 250 || len(listAll(t, p.n1.Store())) != 0 {
		t.Fatalf("in the end %d on node 2, %d on node 1", len(seen), len(listAll(t, p.n1.Store())))
	}
	for _, s := range []queue.Store{p.n1.Store(), p.n2.Store()} {
		if err := s.Check(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// A single node drains too (no [cluster]): the HTTP API answers 503 with
// Retry-After and the intake's reply; --cancel takes mail again.
func TestDrainHTTP(t *testing.T) {
	n, url := newHTTPInternet(t)
	n.mx("example.net", 10, "mx.example.net", "127.0.0.2")
	ctx := context.Background()
	cl := admin.NewClient(n.d.cfg.AdminSocketPath())
	res, err := cl.Drain(ctx, admin.DrainRequest{})
	if err != nil || !res.Draining || res.Node != "mtaq.test" {
		t.Fatalf("drain: %+v %v", res, err)
	}
	post := func() (*http.Response, string) {
		req, _ := http.NewRequest("POST", url+"/v1/messages",
			strings.NewReader(`{"from": "a@shop.example", "to": ["b@example.net"], "text": "x"}`))
		req.Header.Set("Authorization", "Bearer "+httpTestKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := post()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(body, "421 4.3.2") {
		t.Fatalf("POST while draining: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if _, err := cl.Drain(ctx, admin.DrainRequest{TransferTo: "elsewhere"}); err == nil ||
		!strings.Contains(err.Error(), "fleet mode") {
		t.Errorf("--transfer-to without [cluster]: %v", err)
	}
	if res, err := cl.Drain(ctx, admin.DrainRequest{Cancel: true}); err != nil || res.Draining {
		t.Fatalf("cancel: %+v %v", res, err)
	}
	if resp, body := post(); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST after the drain: %d %s", resp.StatusCode, body)
	}
}
