package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/pgtest"
	"github.com/mtaq/mtaq/internal/waitfor"
)

// events collects what a node's Destination hook hears.
func events(n *Node) chan DestinationEvent {
	c := make(chan DestinationEvent, 16)
	n.SetHooks(Hooks{Destination: func(e DestinationEvent) { c <- e }})
	return c
}

func nodesIs(n *Node, want int) func() error {
	return func() error {
		if got := n.Nodes(); got != want {
			return fmt.Errorf("%s counts %d nodes, want %d", n.o.Node, got, want)
		}
		return nil
	}
}

// TestNodeCount: a node joining is counted by the others at once (its
// registration notifies), a node stopping cleanly is uncounted at once.
func TestNodeCount(t *testing.T) {
	dsn := pgtest.DSN(t, pgtest.Addr)
	a := startNode(t, dsn, "a", openStore(t))
	if a.Nodes() != 1 {
		t.Fatalf("alone: %d nodes", a.Nodes())
	}
	startNode(t, dsn, "b", openStore(t))
	c := startNode(t, dsn, "c", openStore(t))
	waitfor.Within(t, time.Second, nodesIs(a, 3))
	waitfor.Within(t, time.Second, nodesIs(c, 3))
	c.Stop()
	waitfor.Within(t, time.Second, nodesIs(a, 2))
}

// TestDestinationEventsShared: a park published on one node reaches the
// other's hook through NOTIFY (not its own), with what is left of its wait;
// a node starting later reads it from the table.
func TestDestinationEventsShared(t *testing.T) {
	dsn := pgtest.DSN(t, pgtest.Addr)
	a := startNode(t, dsn, "a", openStore(t))
	b := startNode(t, dsn, "b", openStore(t))
	onA, onB := events(a), events(b)
	sent := time.Now()
	a.PublishDestination(DestinationEvent{Domain: "dead.test", Kind: "parked", Wait: time.Minute, Reply: "connection refused"})
	select {
	case e := <-onB:
		if e.Domain != "dead.test" || e.Kind != "parked" || e.Node != "a" || e.Wait != time.Minute ||
			e.Left <= 0 || e.Left > time.Minute || e.Reply != "connection refused" {
			t.Fatalf("node b heard %+v", e)
		}
		t.Logf("published on a, heard on b %v later", time.Since(sent).Round(time.Millisecond))
	case <-time.After(waitfor.Timeout):
		t.Fatal("node b heard nothing")
	}
	c := startNode(t, dsn, "c", openStore(t))
	onC := events(c)
	select {
	case e := <-onC:
		if e.Domain != "dead.test" || e.Kind != "parked" || e.Left <= 0 || e.Left > time.Minute {
			t.Fatalf("node c read %+v", e)
		}
	case <-time.After(waitfor.Timeout):
		t.Fatal("node c, started later, did not read the park in effect")
	}
	select {
	case e := <-onA:
		t.Fatalf("node a heard its own change: %+v", e)
	default:
	}
}

// TestNodeCountSurvivesRestart: a node restarted while the database is
// away divides the limits by the count it last saw, not by 1.
func TestNodeCountSurvivesRestart(t *testing.T) {
	proxy := pgtest.NewProxy(t)
	dsn := pgtest.DSN(t, proxy.Addr())
	startNode(t, dsn, "a", openStore(t))
	bStore := openStore(t)
	b := startNode(t, dsn, "b", bStore)
	waitfor.Within(t, time.Second, nodesIs(b, 2))
	b.Stop()
	proxy.Cut()
	b = startNode(t, dsn, "b", bStore)
	if b.Healthy() == nil {
		t.Fatal("node b reached the database through the cut proxy")
	}
	if got := b.Nodes(); got != 2 {
		t.Fatalf("restarted with the database away: %d nodes, want the last count, 2", got)
	}
}
