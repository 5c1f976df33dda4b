package events

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/queue"
)

// BenchmarkWebhook measures events per second to a receiver that takes
// 5 ms per request (an app doing a database write), by concurrency.
// Events go to 100 recipients in turn; the store is in memory, so the
// figure is the webhook's, not the disk's.
func BenchmarkWebhook(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		time.Sleep(5 * time.Millisecond)
	}))
	defer srv.Close()
	for _, conc := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			s, err := queue.Open("q", queue.Options{FS: vfs.NewMem(), MinFreeBytes: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const n = 400
			for i := range n {
				m := &queue.Message{Sender: "app@example.org", Arrived: time.Now(),
					Recipients: []queue.Recipient{{Address: fmt.Sprintf("r%d@x.test", i%100)}}}
				if err := s.Enqueue(context.Background(), m, []byte("Subject: x\r\n\r\nbody\r\n")); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				b.StopTimer()
				name := fmt.Sprintf("http://%s/%d", srv.Listener.Addr(), time.Now().UnixNano())
				w := NewWebhook(WebhookOptions{Name: "bench", URL: name, Secret: "k", Concurrency: conc, Store: s,
					Clock: clock.Real{}})
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				b.StartTimer()
				go func() { w.Run(ctx); close(done) }()
				for w.Status().Cursor < n {
					time.Sleep(time.Millisecond)
				}
				b.StopTimer()
				cancel()
				<-done
				b.StartTimer()
			}
			b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}
