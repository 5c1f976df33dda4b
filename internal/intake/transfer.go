package intake

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/queue"
)

// TransferStore is the part of the queue that takes messages handed over
// by another fleet node (queue.PebbleStore has it).
type TransferStore interface {
	ImportTransfers(ctx context.Context, ts []*queue.Transfer) ([]bool, error)
}

// ErrNoTransfers: the store cannot take transferred messages.
var ErrNoTransfers = errors.New("this queue cannot take transferred messages")

// MaxTransferBatch bounds the messages of one Transferred call.
const MaxTransferBatch = 500

// Transferred takes messages another fleet node accepted and is handing
// over with their state (mtaq drain --transfer-to). They were checked,
// fixed up and signed where they came in (I1-I3), so their bytes are
// committed as they are: only the envelope's shape is checked here. Like
// Submit it returns only after the synced commit (I4), which is what lets
// the sending node delete its copy; existed[i] says message i was here
// already (a transfer repeated after a crash), and is not stored twice.
func (in *Intake) Transferred(ctx context.Context, ts []*queue.Transfer) (existed []bool, err error) {
	st, ok := in.o.Store.(TransferStore)
	if !ok {
		return nil, ErrNoTransfers
	}
	if len(ts) > MaxTransferBatch {
		return nil, fmt.Errorf("%d messages in one transfer, at most %d", len(ts), MaxTransferBatch)
	}
	for i, t := range ts {
		if err := in.checkTransfer(t); err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
	}
	existed, err = st.ImportTransfers(ctx, ts)
	if err != nil {
		return nil, err
	}
	for i, t := range ts {
		if !existed[i] {
			in.log.Info("transferred in", zap.String("queue_id", t.Message.ID), zap.Int("rcpts", len(t.Message.Recipients)))
		}
	}
	if in.o.OnQueued != nil && len(ts) > 0 {
		in.o.OnQueued(ts[len(ts)-1].Message.ID)
	}
	return existed, nil
}

// checkTransfer refuses what no node of ours would have sent: a message
// without an ID, an open recipient or a body, or with an address intake
// would not have taken.
func (in *Intake) checkTransfer(t *queue.Transfer) error {
	if t == nil || t.Message == nil || t.Message.ID == "" {
		return errors.New("no message or queue id")
	}
	m := t.Message
	if m.Arrived.IsZero() {
		return fmt.Errorf("%s: no arrival time", m.ID)
	}
	if len(t.Body) == 0 {
		return fmt.Errorf("%s: no body", m.ID)
	}
	if m.Sender != "" {
		if err := in.Sender(m.Sender, true); err != nil {
			return fmt.Errorf("%s: sender %q: %w", m.ID, m.Sender, err)
		}
	}
	open := 0
	for i, r := range m.Recipients {
		if !r.State.Final() {
			open++
		}
		if _, err := ParseAddress(r.Address, true); err != nil {
			return fmt.Errorf("%s: recipient %d %q: %w", m.ID, i, r.Address, err)
		}
	}
	if open == 0 {
		return fmt.Errorf("%s: no open recipient", m.ID)
	}
	return nil
}
