package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/mtaq/mtaq/queue"
)

// Fleet is what nodes of a fleet ask of each other and of themselves
// (mtaq drain): Service and Client implement it beside API.
type Fleet interface {
	// Drain stops this node's intake (or, with Cancel, starts it again)
	// and, with TransferTo, hands its open messages to that node.
	Drain(ctx context.Context, r DrainRequest) (*DrainResult, error)
	// Transfer commits messages another node hands over, synced, before
	// it answers; ErrInvalid (wrapped) for a malformed one.
	Transfer(ctx context.Context, r TransferRequest) (*TransferResult, error)
}

var (
	_ Fleet = (*Service)(nil)
	_ Fleet = (*Client)(nil)
)

// DrainRequest is mtaq drain's.
type DrainRequest struct {
	// TransferTo names the node (cluster.node) to hand the open messages
	// to; "" keeps them here to be delivered.
	TransferTo string `json:"transfer_to,omitempty"`
	// Cancel takes mail again (mtaq drain --cancel).
	Cancel bool `json:"cancel,omitempty"`
}

// DrainResult says where the node stands.
type DrainResult struct {
	Node     string `json:"node"`
	Draining bool   `json:"draining"`
	// TransferTo and Target: the node messages went to and its admin
	// address (its advertise_admin).
	TransferTo string `json:"transfer_to,omitempty"`
	Target     string `json:"target,omitempty"`
	// Transferred messages are now on the target only; Existing were
	// there already (a transfer repeated after a crash) and are gone here.
	Transferred int `json:"transferred"`
	Existing    int `json:"existing"`
	// Left is open messages still here: none after a complete transfer.
	Left int `json:"left"`
}

// TransferRequest carries messages with their state.
type TransferRequest struct {
	Messages []*queue.Transfer `json:"messages"`
}

// TransferResult counts what the receiving node did.
type TransferResult struct {
	Stored   int `json:"stored"`
	Existing int `json:"existing"` // already here: stored once
}

// Drainer is the daemon's side of Drain; Service.SetDrainer installs it.
type Drainer interface {
	Drain(ctx context.Context, r DrainRequest) (*DrainResult, error)
	// Draining is true while this node takes no mail, so it takes no
	// transfers either.
	Draining() bool
}

// SetDrainer installs the daemon's drain.
func (s *Service) SetDrainer(d Drainer) { s.drainer.Store(&d) }

// Drain implements Fleet.
func (s *Service) Drain(ctx context.Context, r DrainRequest) (*DrainResult, error) {
	d := s.drainer.Load()
	if d == nil {
		return nil, invalid("this daemon cannot drain")
	}
	if r.Cancel && r.TransferTo != "" {
		return nil, invalid("--cancel and --transfer-to exclude each other")
	}
	return (*d).Drain(ctx, r)
}

// Transfer implements Fleet: through intake (every way in does).
func (s *Service) Transfer(ctx context.Context, r TransferRequest) (*TransferResult, error) {
	if s.intake == nil {
		return nil, invalid("this daemon takes no transfers")
	}
	if d := s.drainer.Load(); d != nil && (*d).Draining() {
		return nil, invalid("this node is draining: it takes no messages")
	}
	existed, err := s.intake.Transferred(ctx, r.Messages)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, queue.ErrNoSpace) {
			return nil, err
		}
		return nil, invalid("transfer: %v", err)
	}
	res := &TransferResult{}
	for _, e := range existed {
		if e {
			res.Existing++
		} else {
			res.Stored++
		}
	}
	return res, nil
}

// maxTransferBody bounds one POST /v1/transfer: batches are cut at 8 MiB
// of bodies, but a single message may be max_message_bytes in base64.
const maxTransferBody = 128 << 20

func (h *handler) drain(w http.ResponseWriter, r *http.Request) {
	f, ok := h.api.(Fleet)
	if !ok {
		h.fail(w, r, invalid("no fleet operations here"))
		return
	}
	var req DrainRequest
	if err := decodeJSON(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	res, err := f.Drain(r.Context(), req)
	h.reply(w, r, res, err)
}

func (h *handler) transfer(w http.ResponseWriter, r *http.Request) {
	f, ok := h.api.(Fleet)
	if !ok {
		h.fail(w, r, invalid("no fleet operations here"))
		return
	}
	var req TransferRequest
	if err := decodeJSONUpTo(r, &req, maxTransferBody); err != nil {
		h.fail(w, r, err)
		return
	}
	res, err := f.Transfer(r.Context(), req)
	h.reply(w, r, res, err)
}

// Drain implements Fleet.
func (c *Client) Drain(ctx context.Context, r DrainRequest) (*DrainResult, error) {
	var res DrainResult
	if err := c.post(ctx, "/v1/drain", r, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Transfer implements Fleet.
func (c *Client) Transfer(ctx context.Context, r TransferRequest) (*TransferResult, error) {
	var res TransferResult
	if err := c.post(ctx, "/v1/transfer", r, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

func (c *Client) post(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, path, nil, bytes.NewReader(b), out)
}
