package daemon

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/pgtest"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

// fleetNet is three mtaq nodes on 127.0.0.21-23 sharing one PostgreSQL
// database through a proxy the test can cut, and one destination,
// dest.test, whose exchanger refuses gone*@ with 550 5.1.1.
type fleetNet struct {
	t      *testing.T
	proxy  *pgtest.Proxy
	nodes  []*Daemon
	cfgs   []conf.Config
	mx     *smtptest.Server
	mu     sync.Mutex
	refusd map[string][]time.Time // address -> when the exchanger said 550
	signal chan string            // an address just refused
}

func newFleet(t *testing.T) *fleetNet {
	t.Helper()
	// A proxy we cut stands in for the database going away: stopping the
	// shared PostgreSQL server would break every other test using it.
	f := &fleetNet{t: t, proxy: pgtest.NewProxy(t), refusd: map[string][]time.Time{}, signal: make(chan string, 16)}
	dsn := pgtest.DSN(t, f.proxy.Addr())
	dnsAddr, port, mx := destNet(t, smtptest.WithRcpt(func(to string) error {
		if !strings.HasPrefix(to, "gone") {
			return nil
		}
		f.mu.Lock()
		f.refusd[to] = append(f.refusd[to], time.Now())
		f.mu.Unlock()
		f.signal <- to
		return smtptest.Reply(550, "5.1.1", "<"+to+">: Recipient address rejected: User unknown")
	}))
	f.mx = mx
	for i := range 3 {
		c := destNodeConfig(fmt.Sprintf("node%d.test", i+1), t.TempDir(), fmt.Sprintf("127.0.0.%d:0", 21+i), dnsAddr, port)
		c.Delivery.Workers = 4
		c.DSN.Enabled = false // bounce messages would go to sender.test, which this Internet lacks
		c.Cluster = &conf.Cluster{Postgres: dsn, Node: fmt.Sprintf("node%d", i+1)}
		// The wall clock: the cluster's retries and heartbeats wait on it.
		f.nodes = append(f.nodes, startDaemon(t, Options{Config: c}))
		f.cfgs = append(f.cfgs, c)
	}
	return f
}

func (f *fleetNet) send(node int, to string) string {
	f.t.Helper()
	return smtptest.Submit(f.t, f.nodes[node].Addrs()[0].String(), "app@sender.test", to)
}

// refused waits for the exchanger's 550 to addr and returns when it was.
func (f *fleetNet) refused(addr string) time.Time {
	f.t.Helper()
	select {
	case a := <-f.signal:
		if a != addr {
			f.t.Fatalf("550 to %s, expected one to %s", a, addr)
		}
	case <-time.After(waitfor.Timeout):
		f.t.Fatalf("no 550 to %s", addr)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refusd[addr][len(f.refusd[addr])-1]
}

func (f *fleetNet) refusals(addr string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.refusd[addr])
}

// suppressedOn returns nil once node's local copy has addr as want.
func (f *fleetNet) suppressedOn(node int, addr string, want bool) error {
	s, err := f.nodes[node].Store().Suppression(context.Background(), addr, time.Now())
	if err != nil {
		return err
	}
	if (s != nil) != want {
		return fmt.Errorf("node%d: %s suppressed=%v, want %v", node+1, addr, s != nil, want)
	}
	return nil
}

func (f *fleetNet) onAll(addr string, want bool) func() error {
	return func() error {
		for i := range f.nodes {
			if err := f.suppressedOn(i, addr, want); err != nil {
				return err
			}
		}
		return nil
	}
}

func (f *fleetNet) waitState(node int, id string, want queue.State) {
	f.t.Helper()
	waitfor.NoError(f.t, func() error {
		m, err := f.nodes[node].Store().Message(context.Background(), id)
		if err != nil {
			return err
		}
		if s := m.Recipients[0].State; s != want {
			return fmt.Errorf("node%d %s: %s, want %s", node+1, id, s, want)
		}
		return nil
	})
}

func (f *fleetNet) admin(node int) *admin.Client {
	return admin.NewClient(f.cfgs[node].AdminSocketPath())
}

// TestFleetSharesSuppressions is issue 18's first check: a 550 5.1.1 on
// node 1 makes node 2 record the next message to that address as
// rejected within 1 s, and `mtaq suppress rm` on node 3 lifts it on all
// within 1 s. The propagation times are logged.
func TestFleetSharesSuppressions(t *testing.T) {
	f := newFleet(t)
	ctx := context.Background()

	id := f.send(0, "gone@dest.test")
	at550 := f.refused("gone@dest.test")
	// The bound runs from the exchanger's answer on node 1.
	waitfor.Within(t, time.Second-time.Since(at550), func() error { return f.suppressedOn(1, "gone@dest.test", true) })
	t.Logf("550 on node1 -> suppressed in node2's local copy: %v", time.Since(at550).Round(time.Millisecond))
	f.waitState(0, id, queue.Bounced)

	id2 := f.send(1, "gone@dest.test")
	f.waitState(1, id2, queue.Rejected)
	if n := f.refusals("gone@dest.test"); n != 1 {
		t.Fatalf("the exchanger was asked %d times, want once: node2 sent to a suppressed address", n)
	}

	waitfor.NoError(t, f.onAll("gone@dest.test", true)) // node 3 has it too, or it has nothing to remove
	rm := time.Now()
	if err := f.admin(2).RemoveSuppression(ctx, "gone@dest.test"); err != nil { // what `mtaq suppress rm` calls
		t.Fatal(err)
	}
	waitfor.Within(t, time.Second, f.onAll("gone@dest.test", false))
	t.Logf("suppress rm on node3 -> lifted on all three: %v", time.Since(rm).Round(time.Millisecond))

	// Lifted for real: node 2 sends to it again.
	f.send(1, "gone@dest.test")
	f.refused("gone@dest.test")

	// mtaq cluster status on node 2 lists the three, none behind.
	waitfor.NoError(t, func() error {
		st, err := f.admin(1).ClusterStatus(ctx)
		if err != nil {
			return err
		}
		if st.Database != "ok" || len(st.Nodes) != 3 || !st.Nodes[1].Self {
			return fmt.Errorf("cluster status %+v", st)
		}
		for _, n := range st.Nodes {
			if !n.Alive || n.Lag != 0 || n.Outbox != 0 {
				return fmt.Errorf("node %+v", n)
			}
		}
		return nil
	})
}

// TestFleetDatabaseOutage is issue 18's item 4 for suppressions: with
// PostgreSQL unreachable every node keeps accepting and delivering, the
// suppressions made meanwhile wait in the outboxes, and once it returns
// every node has them. The outage lasts 2 s; with MTAQ_LONG=1 30 s (the
// issue's figure), mail flowing throughout.
func TestFleetDatabaseOutage(t *testing.T) {
	outage := 2 * time.Second // long enough for the retries to back off past 1 s
	if os.Getenv("MTAQ_LONG") == "1" {
		outage = 30 * time.Second
	}
	f := newFleet(t)
	ctx := context.Background()
	const perPhase = 15
	sent := 0
	load := func() {
		for range perPhase {
			f.send(sent%3, fmt.Sprintf("ok%d@dest.test", sent))
			sent++
		}
	}

	load()
	if _, err := f.admin(0).AddSuppression(ctx, admin.SuppressionAdd{Address: "lift@dest.test"}); err != nil {
		t.Fatal(err)
	}
	waitfor.NoError(t, f.onAll("lift@dest.test", true))
	cut := time.Now()
	f.proxy.Cut()
	waitfor.True(t, "every node to see the database gone", func() bool {
		for _, d := range f.nodes {
			if d.fleet.node.Healthy() == nil {
				return false
			}
		}
		return true
	})
	load()
	// Suppressions made during the outage: a 550 on node 3, an operator's
	// `mtaq suppress add` on node 1, a removal on node 2 of one made before.
	f.send(2, "gone-during@dest.test")
	f.refused("gone-during@dest.test")
	if _, err := f.admin(0).AddSuppression(ctx, admin.SuppressionAdd{Address: "manual@dest.test"}); err != nil {
		t.Fatal(err)
	}
	if err := f.admin(1).RemoveSuppression(ctx, "lift@dest.test"); err != nil {
		t.Fatal(err)
	}
	waitfor.NoError(t, func() error { return f.suppressedOn(2, "gone-during@dest.test", true) })
	// Nothing can travel while the proxy is cut: the other nodes do not
	// have it yet (this is what the outbox is for).
	if err := f.suppressedOn(0, "gone-during@dest.test", false); err != nil {
		t.Fatal(err)
	}
	if p, err := f.nodes[2].store.SharedPending(ctx, 0); err != nil || len(p) != 1 {
		t.Fatalf("node3's outbox during the outage: %+v, %v", p, err)
	}
	// What an operator's alert sees.
	if up, outbox := gauge(t, f.nodes[2], "mtaq_cluster_database_up"), gauge(t, f.nodes[2], "mtaq_cluster_outbox"); up != 0 || outbox != 1 {
		t.Fatalf("node3 during the outage: database_up %v, outbox %v", up, outbox)
	}
	load()
	// Pacing the load through a long outage (not waiting for a state).
	tick := time.NewTicker(200 * time.Millisecond)
	for time.Since(cut) < outage {
		<-tick.C
		load()
	}
	tick.Stop()
	restored := time.Now()
	t.Logf("database away for %v; %d messages accepted meanwhile", restored.Sub(cut).Round(time.Millisecond), sent-perPhase)
	f.proxy.Restore()
	load()

	waitfor.NoError(t, f.onAll("gone-during@dest.test", true))
	waitfor.NoError(t, f.onAll("manual@dest.test", true))
	waitfor.NoError(t, f.onAll("lift@dest.test", false))
	t.Logf("after the database returned, outage suppressions on all nodes in %v", time.Since(restored).Round(time.Millisecond))
	for i, d := range f.nodes {
		waitfor.NoError(t, func() error {
			p, err := d.store.SharedPending(ctx, 0)
			if err == nil && len(p) > 0 {
				err = fmt.Errorf("node%d: %d entries still in the outbox", i+1, len(p))
			}
			return err
		})
	}
	waitfor.True(t, "node3's gauges to show the database back", func() bool {
		return gauge(t, f.nodes[2], "mtaq_cluster_database_up") == 1 && gauge(t, f.nodes[2], "mtaq_cluster_outbox") == 0
	})
	// Every message accepted before, during and after the outage arrived.
	waitfor.NoError(t, func() error {
		got := map[string]bool{}
		for _, m := range f.mx.Messages() {
			for _, to := range m.To {
				got[to] = true
			}
		}
		for i := range sent {
			if a := fmt.Sprintf("ok%d@dest.test", i); !got[a] {
				return fmt.Errorf("%s not delivered (%d of %d arrived)", a, len(got), sent)
			}
		}
		return nil
	})
	// And the fleet acts on what was learnt during the outage: node 1 never
	// asks the exchanger about gone-during@ again.
	id := f.send(0, "gone-during@dest.test")
	f.waitState(0, id, queue.Rejected)
	if n := f.refusals("gone-during@dest.test"); n != 1 {
		t.Fatalf("exchanger asked %d times about gone-during@", n)
	}
	for _, d := range f.nodes {
		if err := d.store.Check(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// gauge reads one unlabelled gauge from d's metrics registry.
func gauge(t *testing.T, d *Daemon, name string) float64 {
	t.Helper()
	mfs, err := d.metrics.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}
