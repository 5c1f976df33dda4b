// Command scale measures mtaq with a large deferred queue: it fills a data
// directory with N deferred messages through the queue's own API, then runs
// a real `mtaq serve` on it and reports resident memory, the time from
// process start to the first delivery attempt, the wall time of
// `mtaq queue ls --state deferred | head`, and the cost of the scheduler's
// due scans. Everything stays on loopback: delivery goes to a relay on a
// loopback port that takes one connection (the first attempt) and then
// refuses; DNS points at a dead loopback port.
//
//	go run ./bench/scale -n 100000            # fill, measure, remove the dir
//	go run ./bench/scale -n 1000000 -idle 60s -keep -dir /var/tmp/mtaq-1m
//	go run ./bench/scale -n 5000000 -reuse -keep -dir /var/tmp/mtaq-1m   # fill on to 5M, measure
//
// bench/tenmillion.sh runs the steps 1M, 5M, 10M with the console pages.
//
// Output is one "name value unit" line per figure, for the report.
package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/mtaq/mtaq/queue"
)

type options struct {
	n     int
	batch int
	size  int
	idle  time.Duration
	dir   string
	keep  bool
	reuse bool
	mtaq  string
	prof  string
	only  bool
	total int
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 10_000, "deferred messages to fill")
	flag.IntVar(&o.batch, "batch", 1000, "messages per synced batch while filling")
	flag.IntVar(&o.size, "size", 2048, "body bytes per message")
	flag.DurationVar(&o.idle, "idle", time.Minute, "how long the daemon idles before the second RSS sample")
	flag.StringVar(&o.dir, "dir", "", "work directory (default: a new temporary one)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.BoolVar(&o.reuse, "reuse", false, "keep the queue already in dir and fill only up to -n (a re-measure when it has -n)")
	flag.StringVar(&o.mtaq, "mtaq", "", "mtaq binary (default: go build ./cmd/mtaq into the work dir)")
	flag.StringVar(&o.prof, "cpuprofile", "", "write a CPU profile of the fill and the scan timings here")
	flag.BoolVar(&o.only, "fill-only", false, "stop after the fill and the scan timings (no daemon)")
	flag.IntVar(&o.total, "total", 0, "place arrivals for this many messages (default -n), so later -reuse runs can fill on to it")
	flag.Parse()
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

func run(o options) error {
	if o.dir == "" {
		d, err := os.MkdirTemp("", "mtaq-scale-")
		if err != nil {
			return err
		}
		o.dir = d
	}
	if !o.keep {
		defer os.RemoveAll(o.dir)
	}
	data := filepath.Join(o.dir, "data")
	if o.mtaq == "" {
		o.mtaq = filepath.Join(o.dir, "mtaq")
		if out, err := exec.Command("go", "build", "-o", o.mtaq, "./cmd/mtaq").CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/mtaq: %v\n%s", err, out)
		}
	}
	report("messages", float64(o.n), "")
	if o.prof != "" {
		f, err := os.Create(o.prof)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer f.Close()
	}
	st, err := readState(o.dir)
	if ents, rerr := os.ReadDir(data); rerr != nil || len(ents) == 0 || !o.reuse || err != nil {
		if err := os.RemoveAll(data); err != nil {
			return err
		}
		st = fillState{base: time.Now().Add(-time.Duration(max(o.n, o.total)) * time.Millisecond)}
	}
	if st.count < o.n {
		if err := fill(data, o, &st); err != nil {
			return err
		}
	}
	size := dirSize(data)
	report("data_dir_size", float64(size)/(1<<20), "MiB")
	report("bytes_per_message", float64(size)/float64(o.n), "B")
	if err := measureScans(data); err != nil {
		return err
	}
	pprof.StopCPUProfile() // the daemon is another process
	if o.only {
		return nil
	}
	return measureDaemon(o, data)
}

// fillState is how far a work directory's queue was filled, kept in
// dir/scale.state so a -reuse run fills on from there (1M, measure, on to
// 5M, measure, ...) with arrivals continuing from the same base.
type fillState struct {
	count int
	base  time.Time
}

func readState(dir string) (fillState, error) {
	b, err := os.ReadFile(filepath.Join(dir, "scale.state"))
	if err != nil {
		return fillState{}, err
	}
	var st fillState
	var ns int64
	if _, err := fmt.Sscan(string(b), &st.count, &ns); err != nil {
		return fillState{}, fmt.Errorf("scale.state: %w", err)
	}
	st.base = time.Unix(0, ns)
	return st, nil
}

func writeState(dir string, st fillState) error {
	return os.WriteFile(filepath.Join(dir, "scale.state"), fmt.Appendf(nil, "%d %d\n", st.count, st.base.UnixNano()), 0o600)
}

// fill enqueues single-recipient deferred messages in synced batches, from
// st.count up to o.n. Arrivals are one millisecond apart from st.base
// (distinct IDs, arrival order), due times are spread uniformly over the
// next 24 hours, except every 1000th message, due already, so the daemon
// has work the moment it starts.
func fill(data string, o options, st *fillState) error {
	s, err := queue.Open(data, queue.Options{MinFreeBytes: -1})
	if err != nil {
		return err
	}
	defer s.Close()
	start := time.Now()
	arrived := st.base
	from := st.count
	rng := rand.New(rand.NewPCG(1, uint64(from)+2))
	ctx := context.Background()
	lastReport := start
	for i := from; i < o.n; i += o.batch {
		var ms []*queue.Message
		var bodies [][]byte
		for j := i; j < min(i+o.batch, o.n); j++ {
			at := arrived.Add(time.Duration(j) * time.Millisecond)
			due := start.Add(time.Duration(rng.Int64N(int64(24 * time.Hour))))
			if j%1000 == 0 {
				due = at // a few due at once: the first attempt after start
			}
			ms = append(ms, &queue.Message{
				Sender: "app@scale.test", Arrived: at, ClientAddr: "127.0.0.1:40000", Helo: "scale",
				Recipients: []queue.Recipient{{
					Address: fmt.Sprintf("user%d@d%d.scale.test", j, j%500), State: queue.Deferred,
					Attempts: 1, NextAttempt: due,
					LastReply: &queue.Reply{Code: 451, Enhanced: "4.7.1", Text: "greylisted, try later"},
				}},
			})
			bodies = append(bodies, makeBody(o.size, rng))
		}
		if err := s.EnqueueMany(ctx, ms, bodies); err != nil {
			return fmt.Errorf("fill at %d: %w", i, err)
		}
		st.count = min(i+o.batch, o.n)
		if time.Since(lastReport) > time.Minute {
			lastReport = time.Now()
			fmt.Fprintf(os.Stderr, "filled %d (%.0f msg/s)\n", st.count, float64(st.count-from)/time.Since(start).Seconds())
			if err := writeState(o.dir, *st); err != nil {
				return err
			}
		}
	}
	el := time.Since(start)
	report("filled_from", float64(from), "")
	report("fill_seconds", el.Seconds(), "s")
	report("fill_rate", float64(o.n-from)/el.Seconds(), "msg/s")
	return writeState(o.dir, *st)
}

// makeBody is a message of size bytes: a few headers, then lines of
// base64 of random bytes, like an attachment, different in every message
// so the store's block compression gets what it would from real mail and
// no more (a repeated text body compressed to half its size).
func makeBody(size int, rng *rand.Rand) []byte {
	b := []byte("From: app@scale.test\r\nTo: user@scale.test\r\nSubject: scale test\r\n\r\n")
	raw := make([]byte, 57)
	line := make([]byte, base64.StdEncoding.EncodedLen(len(raw)))
	for len(b) < size {
		for i := range raw {
			raw[i] = byte(rng.Uint32())
		}
		base64.StdEncoding.Encode(line, raw)
		b = append(append(b, line...), '\r', '\n')
	}
	return b[:size]
}

// measureScans reopens the queue (a fresh watermark, as after a restart)
// and times the scheduler's two scans: the first NextDue, then steady ones.
func measureScans(data string) error {
	t := time.Now()
	s, err := queue.Open(data, queue.Options{MinFreeBytes: -1})
	if err != nil {
		return err
	}
	defer s.Close()
	report("open", time.Since(t).Seconds(), "s")
	ctx := context.Background()
	t = time.Now()
	if _, _, err := s.NextDue(ctx, time.Time{}); err != nil {
		return err
	}
	report("nextdue_first", float64(time.Since(t).Microseconds()), "us")
	const rounds = 2000
	t = time.Now()
	for range rounds {
		if _, _, err := s.NextDue(ctx, time.Time{}); err != nil {
			return err
		}
	}
	report("nextdue", float64(time.Since(t).Nanoseconds())/rounds, "ns/op")
	now := time.Now()
	t = time.Now()
	for range rounds {
		if _, err := s.Due(ctx, now, 100); err != nil {
			return err
		}
	}
	report("due100", float64(time.Since(t).Nanoseconds())/rounds, "ns/op")
	return nil
}

func report(name string, v float64, unit string) {
	fmt.Printf("%-22s %12.1f %s\n", name, v, unit)
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error { //nolint:errcheck // best effort
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
