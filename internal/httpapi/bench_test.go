package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/submission"
	"github.com/mtaq/mtaq/queue"
)

// benchClients is the load: 50 clients at once.
const benchClients = 50

// benchText is 4 KB of text in 64-octet lines.
var benchText = strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n", 64)

// benchIntake is the intake both benchmarks share the shape of: the real
// on-disk queue, one synced commit per message before the answer.
func benchIntake(b *testing.B) (*queue.PebbleStore, *intake.Intake) {
	store, err := queue.Open(b.TempDir(), queue.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	return store, intake.New(intake.Options{Hostname: "mx.test", Store: store, Clock: clock.Real{}, MaxMessageBytes: 1 << 20})
}

// clientsPer makes RunParallel start benchClients goroutines.
func clientsPer() int { return max(1, benchClients/max(1, testingProcs())) }

// BenchmarkSendHTTPJSON: POST /v1/messages with a 4 KB text body, 50
// clients on kept-alive connections; ns/op is per queued message.
func BenchmarkSendHTTPJSON(b *testing.B) {
	store, in := benchIntake(b)
	srv, err := New(Options{Listen: []string{"127.0.0.1:0"}, Keys: testKeys(), Intake: in, Store: store,
		Admin: admin.NewService(admin.Options{Store: store}), Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	srv.Start()
	defer srv.Shutdown(context.Background()) //nolint:errcheck // the benchmark is over
	url := "http://" + srv.Addrs()[0].String() + "/v1/messages"
	body, _ := json.Marshal(map[string]any{"from": "app@example.org", "to": []string{"rcpt@example.test"},
		"subject": "bench", "text": benchText})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchClients}}
	b.SetBytes(int64(len(benchText)))
	b.ReportAllocs()
	b.SetParallelism(clientsPer())
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+sendKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			var res SendResult
			err = json.NewDecoder(resp.Body).Decode(&res)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusAccepted {
				b.Errorf("%d %v", resp.StatusCode, err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkSendSMTP is the same load over SMTP submission into the same
// kind of intake: 50 sessions, each reusing its connection, a 4 KB body.
func BenchmarkSendSMTP(b *testing.B) {
	_, in := benchIntake(b)
	srv, err := submission.New(submission.Options{Hostname: "mx.test", Listen: []string{"127.0.0.1:0"},
		Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, MaxMessageBytes: 1 << 20, MaxRecipients: 100,
		Intake: in, Clock: clock.Real{}, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck // the benchmark is over
	}()
	addr := srv.Addrs()[0].String()
	msg := []byte("From: app@example.org\r\nTo: rcpt@example.test\r\nSubject: bench\r\n\r\n" + benchText)
	b.SetBytes(int64(len(benchText)))
	b.ReportAllocs()
	b.SetParallelism(clientsPer())
	b.ResetTimer()
	smtptest.SubmitParallel(b, addr, msg)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func testingProcs() int { return runtime.GOMAXPROCS(0) }
