package submission

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/mtaq/mtaq/internal/waitfor"
)

// stalledTransfers opens n DATA transfers from trusted 127.0.0.1, sends
// size bytes of body to each without the final dot, and returns once the
// server holds all of them (wait): the state of security issue 22,
// defect 7.
func stalledTransfers(t *testing.T, e *env, n, size int, wait func()) []*client {
	t.Helper()
	line := strings.Repeat("0123456789abcdef", 4) + "\r\n"
	body := []byte(strings.Repeat(line, size/len(line)))
	conns := make([]*client, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range conns {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(2 * time.Minute))
		cl := &client{t: t, c: c, r: bufio.NewReader(c)}
		cl.expectReply("220 ")
		cl.envelope("a@b.test", "x@example.test")
		cl.cmd("DATA", "354 ")
		conns[i] = cl
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Write(body); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	wait()
	return conns
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// rssMiB is this process's resident set (Linux), or -1.
func rssMiB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return kb >> 10
		}
	}
	return -1
}

// Many transfers stalled before the final dot hold their bodies on disk,
// not in memory: the live heap grows by far less than the bytes held.
// MTAQ_LONG=1 runs the figures (100 × 9 MiB, RSS under 500 MiB).
func TestStalledTransfersSpooled(t *testing.T) {
	n, size := 20, 2<<20
	long := os.Getenv("MTAQ_LONG") == "1"
	if long {
		n, size = 100, 9<<20
	}
	spool := t.TempDir()
	e := start(t, func(o *Options) {
		o.MaxMessageBytes = int64(size) + 1<<20
		o.MaxConnectionsPerIP = -1
		o.SpoolDir = spool
		o.MaxBytesInFlight = -1 // this test is about memory, not the budget
	})
	held := n * (size / 66 * 66)
	base, rss0 := heapInUse(), rssMiB()
	began := time.Now()
	conns := stalledTransfers(t, e, n, size, func() {
		// go-smtp's readers keep the last line or so of each: not a signal to wait for.
		waitInFlightNear(t, e, int64(held), int64(n)*64<<10)
	})
	grown, rss := int64(heapInUse())-int64(base), rssMiB()
	t.Logf("%d stalled transfers of %d MiB received in %v: live heap %+d MiB, RSS %d → %d MiB", n, size>>20,
		time.Since(began).Round(time.Millisecond), grown>>20, rss0, rss)
	if grown > int64(held)/4 {
		t.Fatalf("live heap grew by %d MiB holding %d MiB of bodies", grown>>20, held>>20)
	}
	if long && rss > 500 {
		t.Fatalf("RSS %d MiB, want under 500", rss)
	}
	files, err := os.ReadDir(spool)
	if err != nil || len(files) != n {
		t.Fatalf("%d spool files (%v), want %d", len(files), err, n)
	}
	for _, f := range files {
		if fi, err := f.Info(); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("spool file %s: %v %v", f.Name(), fi.Mode(), err)
		}
	}
	// Two finish and are committed whole; the rest give up.
	for _, c := range conns[:2] {
		c.write(".\r\n")
		c.expectReply("250 ")
	}
	for _, c := range conns[2:] {
		c.c.Close()
	}
	waitInFlight(t, e, 0)
	if files, _ := os.ReadDir(spool); len(files) != 0 {
		t.Fatalf("%d spool files left", len(files))
	}
	msgs, bodies := e.store.messages()
	if len(msgs) != 2 || len(bodies[0]) < size || !strings.HasSuffix(string(bodies[1]), "0123456789abcdef\r\n") {
		t.Fatalf("stored %d messages", len(msgs))
	}
}

// waitInFlight waits until the server holds exactly want body bytes.
func waitInFlight(t *testing.T, e *env, want int64) {
	t.Helper()
	waitInFlightNear(t, e, want, 0)
}

// waitInFlightNear waits until the server holds want body bytes, less at
// most slack still buffered on the way.
func waitInFlightNear(t *testing.T, e *env, want, slack int64) {
	t.Helper()
	waitfor.NoError(t, func() error {
		if got := e.srv.inFlight.used.Load(); got > want || got < want-slack {
			return fmt.Errorf("server holds %d body bytes, want %d (less at most %d)", got, want, slack)
		}
		return nil
	})
}

// Past MaxBytesInFlight a transfer is answered 452 4.3.1 and what it sent
// is given back; once the bytes held are committed, the same message is
// accepted.
func TestBytesInFlightBudget(t *testing.T) {
	spool := t.TempDir()
	e := start(t, func(o *Options) {
		o.MaxMessageBytes = 1 << 20
		o.SpoolDir, o.SpoolThreshold, o.MaxBytesInFlight = spool, 64<<10, 1<<20
	})
	line := strings.Repeat("x", 62) + "\r\n"
	first := e.dial(t)
	first.envelope("a@b.test", "x@example.test")
	first.cmd("DATA", "354 ")
	first.write(strings.Repeat(line, 12000)) // 750 KiB, held
	waitInFlightNear(t, e, 12000*64, 64<<10)
	second := e.dial(t)
	second.envelope("a@b.test", "x@example.test")
	if got := second.send(strings.Repeat(line, 6000) + ".\r\n"); got != "452 4.3.1 Too much mail in transit, try again later" {
		t.Fatalf("over the budget: %q", got)
	}
	waitInFlightNear(t, e, 12000*64, 64<<10) // the refused transfer gave its bytes back
	first.write(".\r\n")
	first.expectReply("250 ")
	second.cmd("MAIL FROM:<a@b.test>", "250 ")
	second.cmd("RCPT TO:<x@example.test>", "250 ")
	if got := second.send(strings.Repeat(line, 6000) + ".\r\n"); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("within the budget again: %q", got)
	}
	waitInFlight(t, e, 0)
	if files, _ := os.ReadDir(spool); len(files) != 0 {
		t.Fatalf("%d spool files left", len(files))
	}
}

// A body spooled to a file after a few bytes reads back exactly as one
// kept in memory, and the file is gone after discard.
func TestSpoolMatchesMemory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, in := range []string{"", "a", "a\r", "ab\r\ncd\nef\rgh", strings.Repeat("0123456789\n", 5000) + "tail"} {
		want, err := readBody(strings.NewReader(in), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		budget := &byteBudget{limit: 1 << 20}
		sp := newBodySpool(dir, 7, budget)
		if err := receiveBody(iotestHalf(in), sp, 1<<20); err != nil {
			t.Fatal(err)
		}
		got, err := sp.load(6)
		if err != nil || string(got) != "\x00\x00\x00\x00\x00\x00"+string(want) {
			t.Fatalf("%.20q: spooled %.40q (%v), want %.40q", in, got, err, want)
		}
		if err := sp.discard(); err != nil || budget.used.Load() != 0 {
			t.Fatalf("discard: %v, %d bytes still charged", err, budget.used.Load())
		}
		if files, _ := os.ReadDir(dir); len(files) != 0 {
			t.Fatalf("%d files left", len(files))
		}
	}
}

// iotestHalf reads s in small uneven pieces.
func iotestHalf(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) }
