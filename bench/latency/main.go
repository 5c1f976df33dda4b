// Command latency measures acceptance latency: the time from the final dot
// of DATA to the server's reply, at a fixed offered rate (open loop), so two
// MTAs can be compared at the same load. smtp-source gives only a total
// time; this gives the percentiles.
//
//	go run ./bench/latency -addr 127.0.0.1:2530 -n 10000 -rate 500 -sessions 50
//
// Only loopback targets are allowed. It prints one summary line:
//
//	sent=N ok=N errors=N offered=R/s achieved=R/s p50=Xms p90=Xms p99=Xms p99.9=Xms max=Xms
package main

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:2530", "SMTP server (loopback only)")
	n := flag.Int("n", 10000, "messages to send")
	rate := flag.Float64("rate", 0, "offered messages/s (0: as fast as the sessions go)")
	sessions := flag.Int("sessions", 50, "parallel sessions")
	size := flag.Int("size", 3000, "body bytes")
	rcpts := flag.Int("rcpts", 1, "recipients per message")
	reuse := flag.Bool("reuse", false, "send many messages per connection (default: one, like smtp-source)")
	from := flag.String("from", "bench@sender.bench.example", "envelope sender")
	to := flag.String("to", "dest.bench.example", "recipient domain")
	timeout := flag.Duration("timeout", 15*time.Minute, "give up after this long")
	flag.Parse()
	if err := loopbackOnly(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "latency:", err)
		os.Exit(2)
	}

	body := makeBody(*size)
	tokens := make(chan time.Time, *n)
	go func() {
		defer close(tokens)
		start := time.Now()
		for i := 0; i < *n; i++ {
			if *rate > 0 {
				at := start.Add(time.Duration(float64(i) / *rate * float64(time.Second)))
				time.Sleep(time.Until(at))
			}
			tokens <- time.Now()
		}
	}()

	var mu sync.Mutex
	var lat []time.Duration
	errs := map[string]int{}
	fail := func(err error) {
		mu.Lock()
		k := err.Error()
		if len(k) > 80 {
			k = k[:80]
		}
		errs[k]++
		mu.Unlock()
	}
	deadline := time.Now().Add(*timeout)
	start := time.Now()
	var wg sync.WaitGroup
	for s := 0; s < *sessions; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			var c *smtp.Client
			seq := 0
			for range tokens {
				if time.Now().After(deadline) {
					fail(fmt.Errorf("timeout"))
					continue
				}
				if c == nil {
					var err error
					if c, err = dial(*addr); err != nil {
						fail(err)
						continue
					}
				}
				seq++
				d, err := send(c, *from, *to, *rcpts, s, seq, body)
				if err != nil {
					fail(err)
					c.Close()
					c = nil
					continue
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
				if !*reuse {
					c.Quit()
					c = nil
				}
			}
			if c != nil {
				c.Quit()
			}
		}(s)
	}
	wg.Wait()
	elapsed := time.Since(start)

	slices.Sort(lat)
	nerr := 0
	for k, v := range errs {
		nerr += v
		fmt.Fprintf(os.Stderr, "error x%d: %s\n", v, k)
	}
	fmt.Printf("sent=%d ok=%d errors=%d offered=%.0f/s achieved=%.1f/s p50=%s p90=%s p99=%s p99.9=%s max=%s\n",
		*n, len(lat), nerr, *rate, float64(len(lat))/elapsed.Seconds(),
		ms(pct(lat, 50)), ms(pct(lat, 90)), ms(pct(lat, 99)), ms(pct(lat, 99.9)), ms(pct(lat, 100)))
	if nerr > 0 {
		os.Exit(1)
	}
}

func dial(addr string) (*smtp.Client, error) {
	c, err := smtp.Dial(addr)
	if err != nil {
		return nil, err
	}
	if err := c.Hello("load.bench.example"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// send runs one transaction and returns the final-dot-to-reply latency.
func send(c *smtp.Client, from, domain string, rcpts, s, seq int, body []byte) (time.Duration, error) {
	if err := c.Mail(from, nil); err != nil {
		return 0, err
	}
	for r := 0; r < rcpts; r++ {
		if err := c.Rcpt(fmt.Sprintf("r%d-%d-%d@%s", s, seq, r, domain), nil); err != nil {
			return 0, err
		}
	}
	w, err := c.Data()
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(w, "From: <%s>\r\nSubject: latency %d/%d\r\nMessage-ID: <%d.%d.%d@load.bench.example>\r\n\r\n", from, s, seq, s, seq, time.Now().UnixNano())
	if _, err := w.Write(body); err != nil {
		return 0, err
	}
	t0 := time.Now()
	if err := w.Close(); err != nil { // writes the final dot, reads the reply
		return 0, err
	}
	return time.Since(t0), nil
}

func makeBody(size int) []byte {
	var b bytes.Buffer
	line := strings.Repeat("abcdefghij", 7) + "\r\n" // 72 octets
	for b.Len()+len(line) <= size {
		b.WriteString(line)
	}
	b.WriteString(strings.Repeat("x", max(0, size-b.Len()-2)) + "\r\n")
	return b.Bytes()
}

// pct is the p-th percentile (nearest rank): the smallest value at or
// above which p % of d lies. d is sorted.
func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(math.Ceil(float64(len(d)) * p / 100))
	return d[min(max(i-1, 0), len(d)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }

func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing non-loopback target %q", addr)
	}
	return nil
}
