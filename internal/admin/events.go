package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/mtaq/mtaq/queue"
)

// EventPage is one page of the event outbox, oldest first. Last is the seq
// of the last event on the page (the after= of the next request), or the
// request's after when the page is empty.
type EventPage struct {
	Events []queue.Event `json:"events"`
	Last   uint64        `json:"last"`
}

// Events implements API: outbox events with Seq > after. The store must
// also be a queue.Outbox (the daemon's PebbleStore is).
func (s *Service) Events(ctx context.Context, after uint64, limit int) (*EventPage, error) {
	ob, ok := s.store.(queue.Outbox)
	if !ok {
		return nil, errors.New("this queue keeps no events")
	}
	evs, err := ob.Events(ctx, after, min(max(limit, 0), maxLimit))
	if err != nil {
		return nil, fmt.Errorf("reading events: %w", err)
	}
	page := &EventPage{Events: evs, Last: after}
	if evs == nil {
		page.Events = []queue.Event{}
	}
	if len(evs) > 0 {
		page.Last = evs[len(evs)-1].Seq
	}
	return page, nil
}

func (h *handler) listEvents(w http.ResponseWriter, r *http.Request) {
	n, after, err := querySeqPage(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	page, err := h.api.Events(r.Context(), after, limit(n))
	h.reply(w, r, page, err)
}

// Events implements API.
func (c *Client) Events(ctx context.Context, after uint64, limit int) (*EventPage, error) {
	q := url.Values{}
	q.Set("after", strconv.FormatUint(after, 10))
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var p EventPage
	if err := c.do(ctx, http.MethodGet, "/v1/events", q, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}
