package admin

import (
	"fmt"
	"testing"

	"github.com/mtaq/mtaq/queue"
)

// BenchmarkListQueuePage reads one 1000-message page from the middle of a
// 5,000-message queue: what each page of `mtaq queue ls` costs the daemon.
func BenchmarkListQueuePage(b *testing.B) {
	f := newFixture(b)
	var mid string
	for i := range 5000 {
		m := &queue.Message{Sender: "app@sender.test", Arrived: t0, Recipients: []queue.Recipient{{Address: fmt.Sprintf("r%d@x.test", i)}}}
		if err := f.store.Enqueue(bg, m, []byte("Subject: x\r\n\r\nbody\r\n")); err != nil {
			b.Fatal(err)
		}
		if i == 2000 {
			mid = m.ID
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		p, err := f.svc.ListQueue(bg, QueueFilter{After: mid, Limit: 1000})
		if err != nil || len(p.Messages) != 1000 {
			b.Fatalf("page: %d, %v", len(p.Messages), err)
		}
	}
}
