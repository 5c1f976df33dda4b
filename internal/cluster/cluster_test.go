package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap/zaptest"

	"github.com/mtaq/mtaq/internal/pgtest"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

var bg = context.Background()

func openStore(t *testing.T) *queue.PebbleStore {
	t.Helper()
	s, err := queue.Open(t.TempDir(), queue.Options{SharedOutbox: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func startNode(t *testing.T, dsn, name string, s Local) *Node {
	t.Helper()
	n, err := Start(Options{DSN: dsn, Node: name, Version: "test", Store: s, Logger: zaptest.NewLogger(t),
		Heartbeat: time.Second, StartTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	return n
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(bg, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(bg) })
	return c
}

// waitSuppressed waits until s's local copy has addr active (want) or not.
func waitSuppressed(t *testing.T, s *queue.PebbleStore, addr string, want bool) *queue.Suppression {
	t.Helper()
	var got *queue.Suppression
	waitfor.NoError(t, func() error {
		var err error
		if got, err = s.Suppression(bg, addr, time.Now()); err != nil {
			return err
		}
		if (got != nil) != want {
			return fmt.Errorf("%s suppressed=%v, want %v", addr, got != nil, want)
		}
		return nil
	})
	return got
}

func TestNodesStartingTogetherMigrateOnce(t *testing.T) {
	dsn := pgtest.DSN(t, pgtest.Addr)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		s := openStore(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := Start(Options{DSN: dsn, Node: fmt.Sprintf("n%d", i), Store: s, Logger: zaptest.NewLogger(t)})
			if err == nil {
				t.Cleanup(n.Stop)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	var rows, top int
	if err := connect(t, dsn).QueryRow(bg, "SELECT count(*), max(version) FROM mtaq_schema_migrations").Scan(&rows, &top); err != nil {
		t.Fatal(err)
	}
	if rows != SchemaVersion() || top != SchemaVersion() {
		t.Fatalf("%d migration rows up to %d, want each of %d once", rows, top, SchemaVersion())
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	dsn := pgtest.DSN(t, pgtest.Addr)
	startNode(t, dsn, "n1", openStore(t))
	if _, err := connect(t, dsn).Exec(bg, "INSERT INTO mtaq_schema_migrations (version, name) VALUES ($1, 'future.sql')",
		SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	_, err := Start(Options{DSN: dsn, Node: "n2", Store: openStore(t)})
	if !errors.Is(err, ErrSchemaNewer) || !strings.Contains(err.Error(), fmt.Sprintf("version %d", SchemaVersion()+1)) {
		t.Fatalf("start against a newer schema: %v", err)
	}
}

// Two data directories starting at once under one new name: one wins.
func TestNodeNameRaceAtStart(t *testing.T) {
	dsn := pgtest.DSN(t, pgtest.Addr)
	startNode(t, dsn, "first", openStore(t)) // the schema exists: only registration races
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		s := openStore(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := Start(Options{DSN: dsn, Node: "same", Store: s, Logger: zaptest.NewLogger(t)})
			if err == nil {
				t.Cleanup(n.Stop)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrDuplicateNode):
			t.Fatal(err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of 2 started under one name: %v", ok, errs)
	}
}

func TestNodeNameUniquePerDataDirectory(t *testing.T) {
	dsn := pgtest.DSN(t, pgtest.Addr)
	s := openStore(t)
	n := startNode(t, dsn, "mx1", s)
	_, err := Start(Options{DSN: dsn, Node: "mx1", Store: openStore(t), Heartbeat: time.Second})
	if !errors.Is(err, ErrDuplicateNode) || !strings.Contains(err.Error(), `"mx1"`) {
		t.Fatalf("second data directory under one name: %v", err)
	}
	// The same data directory restarting is the same node.
	n.Stop()
	startNode(t, dsn, "mx1", s)
	var admin, version string
	if err := connect(t, dsn).QueryRow(bg, "SELECT admin, version FROM mtaq_nodes WHERE name = 'mx1'").Scan(&admin, &version); err != nil || version != "test" {
		t.Fatalf("node row %q %q, %v", admin, version, err)
	}
}

// A suppression made on one node reaches the other's local copy with its
// counts, expiry and reply; a removal on the other lifts it on both.
func TestSuppressionsPropagate(t *testing.T) {
	dsn := pgtest.DSN(t, pgtest.Addr)
	a, b := openStore(t), openStore(t)
	startNode(t, dsn, "a", a)
	startNode(t, dsn, "b", b)

	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	first := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	if err := a.Suppress(bg, queue.Suppression{Address: "X@Example.test", Reason: "soft_bounce_expired", Created: first,
		Expires: exp, Reply: &queue.Reply{Code: 452, Enhanced: "4.2.2", Text: "full"}}); err != nil {
		t.Fatal(err)
	}
	got := waitSuppressed(t, b, "x@example.test", true)
	if got.Reason != "soft_bounce_expired" || !got.Expires.Equal(exp) || got.Count != 1 || got.Reply == nil || got.Reply.Code != 452 ||
		!got.Created.Equal(first) {
		t.Fatalf("copied entry %+v", got)
	}
	// Sightings on both nodes add up in the shared row and come back to both.
	if err := b.Suppress(bg, queue.Suppression{Address: "x@example.test", Reason: "hard_bounce"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*queue.PebbleStore{a, b} {
		waitfor.NoError(t, func() error {
			got, err := s.Suppression(bg, "x@example.test", time.Now())
			if err != nil || got == nil || got.Count != 2 || got.Reason != "hard_bounce" || !got.Expires.IsZero() {
				return fmt.Errorf("merged entry %+v, %v", got, err)
			}
			return nil
		})
	}
	if err := b.Unsuppress(bg, "x@example.test"); err != nil {
		t.Fatal(err)
	}
	waitSuppressed(t, a, "x@example.test", false)
	var removed bool
	if err := connect(t, dsn).QueryRow(bg, "SELECT removed FROM mtaq_suppressions WHERE address = 'x@example.test'").Scan(&removed); err != nil || !removed {
		t.Fatalf("tombstone removed=%v, %v", removed, err)
	}
	waitfor.True(t, "outboxes drained", func() bool {
		pa, _ := a.SharedPending(bg, 0)
		pb, _ := b.SharedPending(bg, 0)
		return len(pa) == 0 && len(pb) == 0
	})
}

// A change pushed twice (the acknowledgement was lost) counts once.
func TestPushIsIdempotent(t *testing.T) {
	dsn := pgtest.DSN(t, pgtest.Addr)
	n := startNode(t, dsn, "a", openStore(t))
	c := queue.SharedChange{ID: "0123456789abcdef", At: time.Now(),
		Suppression: queue.Suppression{Address: "y@example.test", Reason: "manual", LastSeen: time.Now(), Count: 1}}
	for range 2 {
		err := pgx.BeginFunc(bg, n.pool, func(tx pgx.Tx) error { _, err := n.pushBatch(bg, tx, []queue.SharedChange{c}); return err })
		if err != nil {
			t.Fatal(err)
		}
	}
	var count int
	if err := connect(t, dsn).QueryRow(bg, "SELECT count FROM mtaq_suppressions WHERE address = 'y@example.test'").Scan(&count); err != nil || count != 1 {
		t.Fatalf("count %d after pushing one change twice, %v", count, err)
	}
}

// The database away: suppressions wait in the outbox, mail checks keep
// answering from the local copy, and after it returns every node has them.
func TestOutageOutboxDrains(t *testing.T) {
	// A proxy we cut stands in for the database going away, so the shared
	// server other tests use keeps running.
	proxy := pgtest.NewProxy(t)
	dsn := pgtest.DSN(t, proxy.Addr())
	a, b := openStore(t), openStore(t)
	na := startNode(t, dsn, "a", a)
	startNode(t, dsn, "b", b)
	if err := a.Suppress(bg, queue.Suppression{Address: "before@example.test", Reason: "manual"}); err != nil {
		t.Fatal(err)
	}
	waitSuppressed(t, b, "before@example.test", true)

	proxy.Cut()
	for i := range 20 {
		if err := a.Suppress(bg, queue.Suppression{Address: fmt.Sprintf("during%d@example.test", i), Reason: "hard_bounce"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Unsuppress(bg, "before@example.test"); err != nil {
		t.Fatal(err)
	}
	waitfor.True(t, "node a to notice the outage", func() bool { return na.Healthy() != nil })
	if p, _ := a.SharedPending(bg, 0); len(p) != 20 {
		t.Fatalf("%d entries waiting in a's outbox, want 20", len(p))
	}
	// Local checks still answer.
	if got, err := a.Suppression(bg, "during3@example.test", time.Now()); err != nil || got == nil {
		t.Fatalf("local copy during the outage: %+v, %v", got, err)
	}

	proxy.Restore()
	for i := range 20 {
		waitSuppressed(t, b, fmt.Sprintf("during%d@example.test", i), true)
	}
	waitSuppressed(t, a, "before@example.test", false)
	waitfor.True(t, "node a healthy again", func() bool { return na.Healthy() == nil })
}

func TestUnreachableDatabase(t *testing.T) {
	proxy := pgtest.NewProxy(t)
	dsn := pgtest.DSN(t, proxy.Addr())
	proxy.Cut()
	s := openStore(t)
	_, err := Start(Options{DSN: dsn, Node: "a", Store: s, StartTimeout: 2 * time.Second})
	if !errors.Is(err, ErrNeverSynced) {
		t.Fatalf("a node with no copy started without the database: %v", err)
	}
	proxy.Restore()
	n := startNode(t, dsn, "a", s)
	waitfor.True(t, "first sync", func() bool { _, synced, _ := s.SharedVersion(bg); return synced })
	n.Stop()
	// With a copy, it starts and runs on it while the database is away.
	proxy.Cut()
	n2 := startNode(t, dsn, "a", s)
	if n2.Healthy() == nil {
		t.Fatal("healthy without a database")
	}
	proxy.Restore()
	waitfor.True(t, "joined once the database is back", func() bool { return n2.Healthy() == nil && n2.isReady() })
}

// A node that ran alone joins with its list, and the fleet gets it.
func TestJoiningNodeSharesItsList(t *testing.T) {
	dsn := pgtest.DSN(t, pgtest.Addr)
	dir := t.TempDir()
	alone, err := queue.Open(dir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := alone.Suppress(bg, queue.Suppression{Address: "old@example.test", Reason: "hard_bounce"}); err != nil {
		t.Fatal(err)
	}
	alone.Close()
	joining, err := queue.Open(dir, queue.Options{SharedOutbox: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { joining.Close() })
	other := openStore(t)
	startNode(t, dsn, "other", other)
	startNode(t, dsn, "joining", joining)
	waitSuppressed(t, other, "old@example.test", true)
	waitSuppressed(t, joining, "old@example.test", true)
}

func TestStatus(t *testing.T) {
	proxy := pgtest.NewProxy(t)
	dsn := pgtest.DSN(t, proxy.Addr())
	a, b := openStore(t), openStore(t)
	start := func(name, admin string, s Local) *Node {
		n, err := Start(Options{DSN: dsn, Node: name, AdvertiseAdmin: admin, Version: "v-" + name, Store: s,
			Logger: zaptest.NewLogger(t), Heartbeat: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Stop)
		return n
	}
	na := start("a", "10.0.0.1:8025", a)
	nb := start("b", "", b)
	if err := a.Suppress(bg, queue.Suppression{Address: "s@example.test", Reason: "manual"}); err != nil {
		t.Fatal(err)
	}
	waitSuppressed(t, b, "s@example.test", true)
	var st *Status
	waitfor.NoError(t, func() error {
		var err error
		if st, err = na.Status(bg); err != nil {
			return err
		}
		if len(st.Nodes) != 2 || st.Nodes[1].Applied != st.SharedVersion || st.Nodes[0].Applied != st.SharedVersion {
			return fmt.Errorf("heartbeats not in yet: %+v", st)
		}
		return nil
	})
	if st.Database != "" || st.Schema != SchemaVersion() || st.SharedVersion < 1 || st.Node != "a" {
		t.Fatalf("status %+v", st)
	}
	n0 := st.Nodes[0]
	if n0.Name != "a" || n0.Admin != "10.0.0.1:8025" || n0.Version != "v-a" || !n0.Alive || n0.Lag != 0 || n0.Outbox != 0 {
		t.Fatalf("node a %+v", n0)
	}
	// A stopped node ages out of Alive.
	nb.Stop()
	waitfor.NoError(t, func() error {
		st, err := na.Status(bg)
		if err != nil {
			return err
		}
		if st.Nodes[1].Alive {
			return fmt.Errorf("stopped node b still alive, age %v", st.Nodes[1].Age)
		}
		return nil
	})
	// Pending recipients are counted.
	m := &queue.Message{Sender: "app@example.test", Arrived: time.Now(), Recipients: []queue.Recipient{{Address: "r@example.test"}}}
	if err := a.Enqueue(bg, m, []byte("Subject: x\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	if st, err := na.Status(bg); err != nil || st.Local.Queued != 1 {
		t.Fatalf("queued %+v, %v", st.Local, err)
	}
	// The database away: this node still reports itself.
	proxy.Cut()
	if err := a.Suppress(bg, queue.Suppression{Address: "t@example.test", Reason: "manual"}); err != nil {
		t.Fatal(err)
	}
	st, err := na.Status(bg)
	if err != nil || st.Database == "" || len(st.Nodes) != 0 || st.Local.Outbox != 1 || st.Local.Name != "a" {
		t.Fatalf("status during an outage %+v, %v", st, err)
	}
}

func TestPruneOldChangeIDs(t *testing.T) {
	dsn := pgtest.DSN(t, pgtest.Addr)
	n := startNode(t, dsn, "a", openStore(t))
	db := connect(t, dsn)
	if _, err := db.Exec(bg, `INSERT INTO mtaq_suppression_changes (id, node, applied)
		VALUES ('old', 'a', now() - interval '31 days'), ('recent', 'a', now() - interval '29 days')`); err != nil {
		t.Fatal(err)
	}
	if err := n.prune(bg); err != nil {
		t.Fatal(err)
	}
	var ids []string
	rows, err := db.Query(bg, "SELECT id FROM mtaq_suppression_changes ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if strings.Join(ids, ",") != "recent" {
		t.Fatalf("change IDs after pruning: %v", ids)
	}
}

// Several changes to one address in one push apply in order.
func TestPushBatchMergesInOrder(t *testing.T) {
	dsn := pgtest.DSN(t, pgtest.Addr)
	n := startNode(t, dsn, "a", openStore(t))
	at := time.Now().UTC().Truncate(time.Microsecond)
	add := func(id, addr, reason string, d time.Duration) queue.SharedChange {
		return queue.SharedChange{ID: id, At: at.Add(d), Suppression: queue.Suppression{Address: addr, Reason: reason,
			LastSeen: at.Add(d), Count: 1}}
	}
	rm := func(id, addr string) queue.SharedChange {
		return queue.SharedChange{ID: id, At: at, Removed: true, Suppression: queue.Suppression{Address: addr}}
	}
	changes := []queue.SharedChange{
		add("1", "x@example.test", "hard_bounce", 0), add("2", "x@example.test", "complaint", time.Second),
		rm("3", "x@example.test"), add("4", "x@example.test", "manual", 2*time.Second),
		add("5", "y@example.test", "hard_bounce", 0), add("6", "y@example.test", "", time.Second),
		rm("7", "z@example.test"),
	}
	err := pgx.BeginFunc(bg, n.pool, func(tx pgx.Tx) error { _, err := n.pushBatch(bg, tx, changes); return err })
	if err != nil {
		t.Fatal(err)
	}
	db := connect(t, dsn)
	for _, want := range []struct {
		addr, reason string
		count        int
		removed      bool
	}{{"x@example.test", "manual", 1, false}, {"y@example.test", "hard_bounce", 2, false}, {"z@example.test", "", 0, true}} {
		var reason string
		var count int
		var removed bool
		if err := db.QueryRow(bg, "SELECT reason, count, removed FROM mtaq_suppressions WHERE address = $1", want.addr).
			Scan(&reason, &count, &removed); err != nil {
			t.Fatal(err)
		}
		if reason != want.reason || count != want.count || removed != want.removed {
			t.Errorf("%s: reason %q count %d removed %v, want %+v", want.addr, reason, count, removed, want)
		}
	}
}

// A suppression made while the database was away survives the node's
// restart in its outbox and reaches the fleet afterwards.
func TestOutboxSurvivesRestart(t *testing.T) {
	proxy := pgtest.NewProxy(t)
	dsn := pgtest.DSN(t, proxy.Addr())
	dir := t.TempDir()
	a, err := queue.Open(dir, queue.Options{SharedOutbox: true})
	if err != nil {
		t.Fatal(err)
	}
	other := openStore(t)
	na := startNode(t, dsn, "a", a)
	startNode(t, dsn, "other", other)
	proxy.Cut()
	if err := a.Suppress(bg, queue.Suppression{Address: "kept@example.test", Reason: "complaint"}); err != nil {
		t.Fatal(err)
	}
	na.Stop()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a, err = queue.Open(dir, queue.Options{SharedOutbox: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	// Restarted with the database still away: it has joined before, so it
	// runs on its copy.
	na = startNode(t, dsn, "a", a)
	if na.Healthy() == nil {
		t.Fatal("healthy with the database away")
	}
	proxy.Restore()
	got := waitSuppressed(t, other, "kept@example.test", true)
	if got.Reason != "complaint" {
		t.Fatalf("entry %+v", got)
	}
}

// Rows written without a notification, or while the node's connection was
// cut, arrive anyway: catch-up reads by version after every reconnect and
// every Resync, never trusting notifications alone.
func TestCatchUpWithoutNotifications(t *testing.T) {
	proxy := pgtest.NewProxy(t)
	dsn := pgtest.DSN(t, proxy.Addr())
	s := openStore(t)
	n, err := Start(Options{DSN: dsn, Node: "a", Store: s, Logger: zaptest.NewLogger(t), Resync: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	// Straight to the server, not through the node's proxy, and no NOTIFY.
	direct := connect(t, strings.Replace(dsn, proxy.Addr(), pgtest.Addr, 1))
	insert := func(addr string) {
		t.Helper()
		if _, err := direct.Exec(bg, `INSERT INTO mtaq_suppressions (address, reason, first_seen, last_seen, count, version, node)
			VALUES ($1, 'manual', now(), now(), 1, nextval('mtaq_suppression_version'), 'elsewhere')`, addr); err != nil {
			t.Fatal(err)
		}
	}
	insert("quiet@example.test")
	waitSuppressed(t, s, "quiet@example.test", true) // the periodic catch-up

	proxy.Cut()
	waitfor.True(t, "the node to see the cut", func() bool { return n.Healthy() != nil })
	insert("while-cut@example.test")
	proxy.Restore()
	waitSuppressed(t, s, "while-cut@example.test", true) // the catch-up after reconnecting
}
