package events

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/queue"
)

// RetryResult says what Retry did.
type RetryResult struct {
	Enabled bool // the webhook was disabled (410) and is enabled again
	// Dead letters sent again (Retry with dead): delivered ones leave the
	// list, the others stay with their new status.
	Resent, Delivered, Failed int
}

// Retry enables the webhook if a 410 disabled it and ends its backoff, so
// its events are sent now; with dead it also sends every dead letter once
// more, in order per recipient, and waits for the answers. Run must be
// running.
func (w *Webhook) Retry(ctx context.Context, dead bool) (*RetryResult, error) {
	res := &RetryResult{}
	wasHeld, err := w.o.Store.ConsumerHold(ctx, w.name)
	if err != nil {
		return nil, err
	}
	if err := w.o.Store.ReleaseConsumer(ctx, w.name); err != nil {
		return nil, err
	}
	done := make(chan bool, 1)
	f := func(r *run) {
		was := r.disabled
		r.disabled, r.failures, r.backoff = false, 0, time.Time{}
		for _, e := range r.ready {
			e.next = time.Time{}
		}
		w.update(func(st *WebhookStatus) {
			st.Disabled, st.DisabledReason, st.DisabledAt = false, "", time.Time{}
			st.Failures, st.NextRetry = 0, time.Time{}
		})
		done <- was
	}
	select {
	case w.ctl <- f:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	res.Enabled = <-done || wasHeld != nil
	if res.Enabled {
		w.o.Logger.Info("webhook: enabled again by an operator")
	}
	if !dead {
		return res, nil
	}
	err = w.resendDead(ctx, res)
	w.o.Logger.Info("webhook: dead letters sent again", zap.Int("resent", res.Resent),
		zap.Int("delivered", res.Delivered), zap.Int("failed", res.Failed), zap.Error(err))
	return res, err
}

// resendDead sends every dead letter once, a page at a time (bounded
// memory): within a page keys in parallel within the concurrency bound,
// each key's letters in order; pages go in seq order, so each key's
// letters do too.
func (w *Webhook) resendDead(ctx context.Context, res *RetryResult) error {
	var after uint64
	for {
		page, err := w.o.Store.DeadLetters(ctx, w.name, after, 0)
		if err != nil || len(page) == 0 {
			return err
		}
		if err := w.resendPage(ctx, page, res); err != nil {
			return err
		}
		after = page[len(page)-1].Event.Seq
	}
}

func (w *Webhook) resendPage(ctx context.Context, page []queue.DeadLetter, res *RetryResult) error {
	var byKey [][]queue.DeadLetter
	index := map[string]int{}
	for _, d := range page {
		k := orderKey(d.Event)
		i, ok := index[k]
		if !ok {
			i = len(byKey)
			index[k] = i
			byKey = append(byKey, nil)
		}
		byKey[i] = append(byKey[i], d)
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	next := make(chan []queue.DeadLetter)
	for range min(w.o.Concurrency, len(byKey)) {
		wg.Go(func() {
			for letters := range next {
				for _, d := range letters {
					ok, err := w.resendOne(ctx, d)
					mu.Lock()
					res.Resent++
					if ok {
						res.Delivered++
					} else {
						res.Failed++
					}
					if err != nil {
						errs = append(errs, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, letters := range byKey {
		select {
		case next <- letters:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	return errors.Join(append(errs, ctx.Err())...)
}

// resendOne sends one dead letter in a request slot; delivered ones are
// removed from the list, the others updated.
func (w *Webhook) resendOne(ctx context.Context, d queue.DeadLetter) (bool, error) {
	select {
	case w.sem <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	rep := w.send(ctx, d.Event, "evt_"+fmt.Sprint(d.Event.Seq))
	<-w.sem
	select {
	case w.kick <- struct{}{}: // Run may use the slot
	default:
	}
	if w.o.OnRequest != nil {
		w.o.OnRequest(rep.status, rep.took)
	}
	if classify(rep.status) == delivered {
		err := w.o.Store.DeleteDeadLetter(ctx, w.name, d.Event.Seq)
		if err == nil {
			w.dead.Add(-1)
		} else if errors.Is(err, queue.ErrNotFound) {
			err = nil // another retry delivered it too
		}
		return true, err
	}
	d.Attempts++
	d.Status, d.Error, d.At = rep.status, rep.err.Error(), w.o.Clock.Now()
	w.update(func(st *WebhookStatus) { st.LastStatus, st.LastError, st.LastErrorAt = d.Status, d.Error, d.At })
	err := w.o.Store.UpdateDeadLetter(ctx, w.name, d)
	if errors.Is(err, queue.ErrNotFound) {
		err = nil
	}
	return false, err
}

// TestResult is the receiver's answer to a test event.
type TestResult struct {
	Status int // 0 when there was no answer
	Error  string
	Took   time.Duration
}

// Test sends a signed event of kind "test" (not from the outbox; it
// changes nothing) and returns the receiver's answer. It works while the
// webhook is disabled, to check an endpoint before Retry.
func (w *Webhook) Test(ctx context.Context) (*TestResult, error) {
	select {
	case w.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	now := w.o.Clock.Now()
	ev := queue.Event{Kind: TestEvent, At: now}
	rep := w.send(ctx, ev, fmt.Sprintf("test_%d", now.UnixNano()))
	<-w.sem
	select {
	case w.kick <- struct{}{}:
	default:
	}
	if w.o.OnRequest != nil {
		w.o.OnRequest(rep.status, rep.took)
	}
	t := &TestResult{Status: rep.status, Took: rep.took}
	if rep.err != nil {
		t.Error = rep.err.Error()
	}
	return t, nil
}

// RecountDeadLetters reads the dead-letter count from the store again,
// after something else removed some (the retention purge).
func (w *Webhook) RecountDeadLetters(ctx context.Context) error {
	n, err := w.o.Store.CountDeadLetters(ctx, w.name)
	if err == nil {
		w.dead.Store(int64(n))
	}
	return err
}

// DeadLetters returns up to limit of the webhook's dead letters after seq
// after, oldest first.
func (w *Webhook) DeadLetters(ctx context.Context, after uint64, limit int) ([]queue.DeadLetter, error) {
	return w.o.Store.DeadLetters(ctx, w.name, after, limit)
}
