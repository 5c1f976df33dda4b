package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/admin"
)

// endlessQueue serves full pages forever and counts the requests.
type endlessQueue struct {
	admin.API
	limits []int
}

func (q *endlessQueue) ListQueue(_ context.Context, f admin.QueueFilter) (*admin.QueuePage, error) {
	q.limits = append(q.limits, f.Limit)
	if len(q.limits) > 50 {
		return nil, errors.New("too many pages: the listing did not stop")
	}
	p := &admin.QueuePage{}
	for i := range f.Limit {
		id := fmt.Sprintf("%s%06d", f.After, i)
		p.Messages = append(p.Messages, admin.QueueEntry{ID: id, Sender: "a@b.test", Arrived: time.Unix(0, 0),
			Recipients: []admin.RecipientEntry{{Address: "r@c.test", State: "deferred"}}})
		p.Next = id
	}
	return p, nil
}

// closedAfter is stdout piped into `head`: it fails once lines are read.
type closedAfter struct {
	lines int
	out   strings.Builder
}

var errPipe = errors.New("broken pipe")

func (w *closedAfter) Write(b []byte) (int, error) {
	if strings.Count(w.out.String(), "\n") >= w.lines {
		return 0, errPipe
	}
	return w.out.Write(b)
}

// `mtaq queue ls | head` on a huge queue: the first rows go out after one
// small page, and the broken pipe stops the listing at the next page.
func TestQueueLsStreamsFirstPage(t *testing.T) {
	q := &endlessQueue{}
	w := &closedAfter{lines: 10}
	err := listQueue(context.Background(), q, admin.QueueFilter{State: "deferred"}, 0, false, w)
	if !errors.Is(err, errPipe) {
		t.Fatalf("listQueue: %v, want the broken pipe", err)
	}
	if got := fmt.Sprint(q.limits); got != fmt.Sprint([]int{firstPage}) {
		t.Fatalf("page requests %s, want one of %d", got, firstPage)
	}
	if n := strings.Count(w.out.String(), "\n"); n < 10 {
		t.Fatalf("%d lines written before the pipe closed:\n%s", n, w.out.String())
	}
	// --limit still bounds the listing, across the small first page.
	q = &endlessQueue{}
	w = &closedAfter{lines: 1 << 30}
	if err := listQueue(context.Background(), q, admin.QueueFilter{}, 1500, false, w); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(q.limits); got != "[100 1000 400]" {
		t.Fatalf("page requests %s, want [100 1000 400]", got)
	}
	if n := strings.Count(w.out.String(), "\n"); n != 1+1500 {
		t.Fatalf("%d lines, want a header and 1500 rows", n)
	}
}
