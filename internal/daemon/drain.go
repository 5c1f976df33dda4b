package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/queue"
	"github.com/mtaq/mtaq/scheduler"
)

// dueGate is the scheduler's view of the queue: while closed it shows
// nothing due, so no new delivery starts while messages are being handed
// to another node (a message is never delivered here and there).
type dueGate struct {
	queue.Store
	closed atomic.Bool
}

func (g *dueGate) Due(ctx context.Context, now time.Time, limit int) ([]queue.Due, error) {
	if g.closed.Load() {
		return nil, nil
	}
	return g.Store.Due(ctx, now, limit)
}

// Lease refuses while closed: a scan that read the due index just before
// the gate closed must not start its deliveries (the scheduler releases
// the recipients it took when its lease fails).
func (g *dueGate) Lease(ctx context.Context, leases []queue.Lease) error {
	if g.closed.Load() {
		return errTransferring
	}
	return g.Store.Lease(ctx, leases)
}

var errTransferring = errors.New("no new deliveries: messages are being transferred to another node")

func (g *dueGate) NextDue(ctx context.Context, before time.Time) (time.Time, bool, error) {
	if g.closed.Load() {
		return time.Time{}, false, nil
	}
	return g.Store.NextDue(ctx, before)
}

// drainer is mtaq drain inside the daemon (admin.Drainer).
type drainer struct {
	log   *zap.Logger
	clock clock.Clock
	node  string
	store *queue.PebbleStore
	gate  *dueGate
	sched *scheduler.Scheduler
	in    interface {
		SetDraining(bool)
		Draining() bool
	}
	fleet *fleet
	token string // this node's admin token: the fleet's nodes share one
	mu    sync.Mutex
}

// Transfer batches: at most this many messages or body bytes per request
// (one synced batch on the receiver, one on the sender).
const (
	transferBatch      = 100
	transferBatchBytes = 8 << 20
)

func (dr *drainer) Draining() bool { return dr.in.Draining() }

// Drain stops intake (new SMTP connections and MAIL get 421 4.3.2, the
// HTTP API 503, the maildrop waits, /readyz fails) and, with TransferTo,
// hands every open message to that node: each batch is committed there
// (synced) before it is removed here (T1).
func (dr *drainer) Drain(ctx context.Context, r admin.DrainRequest) (*admin.DrainResult, error) {
	dr.mu.Lock()
	defer dr.mu.Unlock()
	if r.Cancel {
		dr.in.SetDraining(false)
		dr.log.Info("drain cancelled: taking mail again")
		return dr.result(ctx, &admin.DrainResult{Node: dr.node})
	}
	if !dr.in.Draining() {
		dr.in.SetDraining(true)
		dr.log.Info("draining: refusing new mail, delivering what is queued")
	}
	res := &admin.DrainResult{Node: dr.node, Draining: true, TransferTo: r.TransferTo}
	if r.TransferTo == "" {
		return dr.result(ctx, res)
	}
	target, err := dr.target(ctx, r.TransferTo)
	if err != nil {
		return nil, err
	}
	res.Target = target
	err = dr.transfer(ctx, admin.NewTCPClient(target, dr.token), res)
	res, rerr := dr.result(ctx, res)
	if err != nil {
		return nil, fmt.Errorf("transfer to %s stopped after %d messages (%d still here, delivered from here until you run it again): %w",
			r.TransferTo, res.Transferred+res.Existing, res.Left, err)
	}
	if rerr != nil {
		return nil, rerr
	}
	dr.log.Info("transfer done", zap.String("to", r.TransferTo), zap.Int("messages", res.Transferred),
		zap.Int("existing", res.Existing))
	return res, nil
}

// target is the node's advertise_admin from the node registry.
func (dr *drainer) target(ctx context.Context, name string) (string, error) {
	if dr.fleet == nil {
		return "", invalidf("--transfer-to needs fleet mode ([cluster])")
	}
	if name == dr.node {
		return "", invalidf("%s is this node", name)
	}
	st, err := dr.fleet.status(ctx)
	if err != nil {
		return "", err
	}
	for _, n := range st.Nodes {
		if n.Name != name {
			continue
		}
		if n.Admin == "" {
			return "", invalidf("node %s has no advertise_admin", name)
		}
		if !n.Alive {
			return "", invalidf("node %s is down (no heartbeat for %.0f s)", name, n.HeartbeatAge)
		}
		return n.Admin, nil
	}
	return "", invalidf("no node %s in the fleet (mtaq cluster status lists them)", name)
}

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", admin.ErrInvalid, fmt.Sprintf(format, a...))
}

// transfer closes the gate, waits for deliveries under way, and moves
// every open message in batches. The gate opens again at the end, so what
// is left (a failure, a DSN written meanwhile) is delivered from here.
func (dr *drainer) transfer(ctx context.Context, to admin.Fleet, res *admin.DrainResult) error {
	dr.gate.closed.Store(true)
	defer func() {
		dr.gate.closed.Store(false)
		dr.sched.Wake()
	}()
	if err := dr.idle(ctx); err != nil {
		return err
	}
	var batch []*queue.Transfer
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		tr, err := to.Transfer(ctx, admin.TransferRequest{Messages: batch})
		if err != nil {
			return err
		}
		ids := make([]string, len(batch))
		for i, t := range batch {
			ids[i] = t.Message.ID
		}
		// Committed there: now it may go here (T1).
		if err := dr.store.RemoveTransferred(ctx, ids); err != nil {
			return err
		}
		res.Transferred += tr.Stored
		res.Existing += tr.Existing
		batch, size = batch[:0], 0
		return nil
	}
	after := ""
	for {
		page, err := dr.store.ListPage(ctx, queue.Filter{After: after, Limit: 500})
		if err != nil {
			return err
		}
		for _, m := range page.Messages {
			if !hasOpen(m) {
				continue // retained history: nothing to hand over
			}
			t, err := dr.store.ExportTransfer(ctx, m.ID)
			if errors.Is(err, queue.ErrNotOpen) || errors.Is(err, queue.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if len(batch) > 0 && (len(batch) == transferBatch || size+len(t.Body) > transferBatchBytes) {
				if err := flush(); err != nil {
					return err
				}
			}
			batch = append(batch, t)
			size += len(t.Body)
		}
		if page.Resume == "" {
			return flush()
		}
		after = page.Resume
	}
}

// idle waits until no recipient is leased to a delivery here.
func (dr *drainer) idle(ctx context.Context) error {
	for dr.sched.InFlight() > 0 {
		if !clock.Sleep(ctx, dr.clock, 50*time.Millisecond) {
			return fmt.Errorf("waiting for %d deliveries under way: %w", dr.sched.InFlight(), ctx.Err())
		}
	}
	return nil
}

// result fills Left: the open messages still here.
func (dr *drainer) result(ctx context.Context, res *admin.DrainResult) (*admin.DrainResult, error) {
	res.Draining = dr.in.Draining()
	res.Left = 0
	after := ""
	for {
		page, err := dr.store.ListPage(ctx, queue.Filter{After: after, Limit: 1000})
		if err != nil {
			return res, err
		}
		for _, m := range page.Messages {
			if hasOpen(m) {
				res.Left++
			}
		}
		if page.Resume == "" {
			return res, nil
		}
		after = page.Resume
	}
}

func hasOpen(m *queue.Message) bool {
	for _, r := range m.Recipients {
		if !r.State.Final() {
			return true
		}
	}
	return false
}
