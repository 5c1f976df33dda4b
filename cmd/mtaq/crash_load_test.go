package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/dnstest"
	"github.com/mtaq/mtaq/internal/maildrop"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/queue"
)

// crashWorld is a daemon child process on a fake Internet: a DNS server,
// destination MXs on 127.0.0.10+ sharing one port, and the config file.
type crashWorld struct {
	t       *testing.T
	dir     string // data_dir's parent; short, for the admin socket
	cfg     string
	listen  string
	logPath string
	dns     *dnstest.Server
	port    int
}

// newCrashWorld writes a config for a daemon on a free loopback port whose
// retry schedule is short (first retry after `first`), so a lease left by
// a killed daemon comes due within the test.
func newCrashWorld(t *testing.T, first string) *crashWorld {
	t.Helper()
	dir, err := os.MkdirTemp(crashBase(), "mtaqc") // short: unix socket paths are < 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	w := &crashWorld{t: t, dir: dir, dns: dnstest.New(t), logPath: filepath.Join(dir, "mtaq.log"),
		port: smtptest.FreePort(t, "127.0.0.10", "127.0.0.11")}
	w.listen = fmt.Sprintf("127.0.0.1:%d", smtptest.FreePort(t, "127.0.0.1"))
	w.cfg = filepath.Join(dir, "mtaq.toml")
	writeConfig(t, w.cfg, w.dataDir(), w.listen, w.dns.Addr(), w.port, first, "1h", "jitter = 0.0\n[dsn]\nenabled = false\n")
	return w
}

// crashBase is where the daemon's data lives: tmpfs when there is one. A
// SIGKILL leaves the page cache intact, so these tests prove the order
// "written, then acknowledged", not fsync (power loss is the queue
// package's crash-clone tests); on a disk shared with other jobs every
// fsync is slow and the load would not fit the CI budget.
func crashBase() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "probe"); err == nil {
			os.Remove(d)
			return "/dev/shm"
		}
	}
	return os.TempDir()
}

func (w *crashWorld) dataDir() string { return filepath.Join(w.dir, "data") }

// mx points domain at a destination server on ip.
func (w *crashWorld) mx(domain, ip string, opts ...smtptest.Option) *smtptest.Server {
	w.dns.MX(domain, 10, "mx."+domain)
	w.dns.A("mx."+domain, ip)
	return smtptest.New(w.t, fmt.Sprintf("%s:%d", ip, w.port), opts...)
}

// start starts the daemon and logs how long it took to listen.
func (w *crashWorld) start() *daemonProc {
	begin := time.Now()
	p := startDaemonWithin(w.t, w.cfg, w.listen, w.logPath, 2*time.Minute)
	w.t.Logf("daemon listening after %v", time.Since(begin).Round(time.Millisecond))
	return p
}

func (w *crashWorld) logTail() string {
	b, _ := os.ReadFile(w.logPath)
	return tail(b, 4000)
}

// pending asks the running daemon how many recipients are queued or
// deferred; -1 when it cannot be reached.
func (w *crashWorld) pending(ctx context.Context) int {
	ctx, cancel := context.WithTimeout(ctx, time.Minute) // a full scan of the queue
	defer cancel()
	st, err := admin.NewClient(filepath.Join(w.dataDir(), "admin.sock")).Stats(ctx)
	if err != nil {
		return -1
	}
	return st.States[string(queue.Queued)] + st.States[string(queue.Deferred)]
}

// checkStore opens the stopped daemon's queue and runs its invariant check;
// it returns the recipients by state.
func (w *crashWorld) checkStore() map[queue.State]int {
	w.t.Helper()
	s, err := queue.Open(w.dataDir(), queue.Options{MinFreeBytes: -1})
	if err != nil {
		w.t.Fatalf("reopening the queue after the last stop: %v", err)
	}
	defer s.Close()
	if err := s.Check(context.Background()); err != nil {
		w.t.Fatalf("queue check after the last stop: %v", err)
	}
	states := map[queue.State]int{}
	err = s.EachRecipient(context.Background(), func(_ string, r *queue.Recipient) error {
		states[r.State]++
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return states
}

// crashIDHdr carries each load message's unique id.
const crashIDHdr = "X-Crash-Id: "

// countIDs counts each X-Crash-Id among the messages the servers accepted.
func countIDs(servers ...*smtptest.Server) map[string]int {
	seen := map[string]int{}
	for _, s := range servers {
		for _, m := range s.Messages() {
			i := bytes.Index(m.Data, []byte(crashIDHdr))
			if i < 0 {
				continue
			}
			rest := m.Data[i+len(crashIDHdr):]
			if j := bytes.IndexByte(rest, '\r'); j >= 0 {
				seen[string(rest[:j])]++
			}
		}
	}
	return seen
}

// ledger is what the clients were told, per message id.
type ledger struct {
	mu      sync.Mutex
	sent    int               // final dot sent, or sendmail ran
	acked   []string          // 250 with a queue ID, or sendmail exit 0
	unknown []string          // connection error or no reply after the final dot
	refused map[string]string // a reply other than 250, or a sendmail exit code
	n       atomic.Int64      // len(acked), read by the killer
}

func (l *ledger) record(id string, out outcome, detail string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent++
	switch out {
	case outAcked:
		l.acked = append(l.acked, id)
		l.n.Add(1)
	case outUnknown:
		l.unknown = append(l.unknown, id)
	default:
		l.refused[id] = detail
	}
}

type outcome int

const (
	outNotSent outcome = iota // failed before the final dot: send again
	outAcked
	outRefused
	outUnknown
)

// smtpClient sends ids in order over as many connections as it takes: a
// connection that fails before the final dot is redialled and the message
// sent again; one that fails after it leaves the message unknown.
func smtpClient(ctx context.Context, addr, domain string, ids []string, l *ledger) {
	for i := 0; i < len(ids) && ctx.Err() == nil; {
		c, err := smtp.Dial(addr)
		if err != nil {
			time.Sleep(20 * time.Millisecond) // the daemon is restarting
			continue
		}
		if err := c.Hello("app.test"); err != nil {
			c.Close()
			continue
		}
		for i < len(ids) && ctx.Err() == nil {
			out, detail := sendOne(c, ids[i], domain)
			if out == outNotSent {
				break
			}
			l.record(ids[i], out, detail)
			i++
			if out == outUnknown {
				break
			}
		}
		c.Close()
	}
}

func sendOne(c *smtp.Client, id, domain string) (outcome, string) {
	if err := c.Mail("app@sender.test", nil); err != nil {
		return outNotSent, ""
	}
	if err := c.Rcpt(fmt.Sprintf("%s@%s", id, domain), nil); err != nil {
		return outNotSent, ""
	}
	wc, err := c.Data()
	if err != nil {
		return outNotSent, ""
	}
	fmt.Fprintf(wc, "Subject: load %s\r\n%s%s\r\n\r\nbody of %s\r\n", id, crashIDHdr, id, id)
	resp, err := wc.CloseWithResponse()
	var se *smtp.SMTPError
	switch {
	case errors.As(err, &se):
		return outRefused, se.Error()
	case err != nil:
		return outUnknown, err.Error()
	case !smtptest.QueuedAs.MatchString(resp.StatusText):
		return outRefused, resp.StatusText
	}
	return outAcked, ""
}

// sendmailClient pipes each message into `mtaq sendmail -i` (a child
// process, as an app would run it); exit 0 means the maildrop file is
// synced, whether or not the daemon is up.
func sendmailClient(ctx context.Context, bin, cfg, domain string, ids []string, l *ledger) {
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		cmd := exec.CommandContext(cctx, bin, "sendmail", "-i", "-f", "cron@sender.test", id+"@"+domain)
		cmd.Env = append(os.Environ(), "MTAQ_CONFIG="+cfg)
		cmd.Stdin = strings.NewReader(fmt.Sprintf("Subject: pipe %s\n%s%s\n\nbody of %s\n", id, crashIDHdr, id, id))
		out, err := cmd.CombinedOutput()
		cancel()
		switch {
		case err == nil:
			l.record(id, outAcked, "")
		case cmd.ProcessState != nil:
			l.record(id, outRefused, fmt.Sprintf("exit %d: %s", cmd.ProcessState.ExitCode(), out))
		default:
			l.record(id, outRefused, err.Error())
		}
	}
}

// buildMtaq builds the mtaq binary without the race detector for the
// sendmail clients: each run of the race-enabled test binary costs ~0.15 s
// of CPU, which for 200 (or 2000) pipes would crowd out the daemon.
func buildMtaq(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is not on PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "mtaq")
	out, err := exec.Command(gobin, "build", "-o", bin, "github.com/mtaq/mtaq/cmd/mtaq").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// crashLoad is the size of one TestCrashUnderLoad run.
type crashLoad struct {
	smtp, conns, pipe, pipers, kills int
	budget                           time.Duration // whole run, then the test fails
}

func crashLoadSize() crashLoad {
	if os.Getenv("MTAQ_LONG") == "1" {
		return crashLoad{smtp: 20000, conns: 50, pipe: 2000, pipers: 8, kills: 5, budget: 45 * time.Minute}
	}
	return crashLoad{smtp: 2000, conns: 50, pipe: 200, pipers: 8, kills: 2, budget: 3 * time.Minute}
}

// crashSeed is MTAQ_CRASH_SEED, or a fresh one; the test logs it.
func crashSeed(t *testing.T) uint64 {
	if s := os.Getenv("MTAQ_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("MTAQ_CRASH_SEED=%q: %v", s, err)
		}
		return v
	}
	return uint64(time.Now().UnixNano())
}

// TestCrashUnderLoad: SMTP clients on 50 connections and sendmail pipes
// submit while the daemon is killed with SIGKILL at random moments and
// restarted, with two destinations receiving throughout. Every message
// acknowledged (250 or exit 0) must arrive; duplicates are counted;
// messages whose client lost the connection after the final dot are
// "unknown" and may go either way. MTAQ_LONG=1 runs the full size,
// MTAQ_CRASH_SEED replays the kill moments.
func TestCrashUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts daemon processes")
	}
	size := crashLoadSize()
	seed := crashSeed(t)
	t.Logf("MTAQ_CRASH_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	begin := time.Now()

	bin := buildMtaq(t)
	w := newCrashWorld(t, "1s")
	domains := []string{"crash1.test", "crash2.test"}
	sinks := []*smtptest.Server{w.mx(domains[0], "127.0.0.10"), w.mx(domains[1], "127.0.0.11")}
	p := w.start()
	defer func() { p.kill(syscall.SIGTERM) }()

	ctx, cancel := context.WithTimeout(context.Background(), size.budget)
	defer cancel()
	l := &ledger{refused: map[string]string{}}
	var wg, smtpWG sync.WaitGroup
	for c := range size.conns {
		var ids []string
		for i := c; i < size.smtp; i += size.conns {
			ids = append(ids, fmt.Sprintf("s%d", i))
		}
		smtpWG.Go(func() { smtpClient(ctx, w.listen, domains[c%2], ids, l) })
	}
	for c := range size.pipers {
		var ids []string
		for i := c; i < size.pipe; i += size.pipers {
			ids = append(ids, fmt.Sprintf("m%d", i))
		}
		wg.Go(func() { sendmailClient(ctx, bin, w.cfg, domains[c%2], ids, l) })
	}
	loadDone := make(chan struct{})
	var smtpTime time.Duration
	go func() {
		smtpWG.Wait()
		smtpTime = time.Since(begin)
		wg.Wait()
		close(loadDone)
	}()

	kills := killDuringLoad(t, w, &p, rng, size, l, loadDone)
	select {
	case <-loadDone:
	case <-ctx.Done():
		t.Fatalf("the load did not finish within %v\nlog tail:\n%s", size.budget, w.logTail())
	}
	loadTime := time.Since(begin)
	t.Logf("load sent in %v (SMTP clients done after %v)", loadTime.Round(time.Millisecond), smtpTime.Round(time.Millisecond))
	seen := waitDelivered(ctx, t, w, l, sinks)
	p.kill(syscall.SIGTERM)
	states := w.checkStore()
	reportCrashLoad(t, w, l, seen, kills, size, states)
	t.Logf("wall time: load %v, total %v", loadTime.Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))
}

// killDuringLoad kills the daemon with SIGKILL when the acknowledged count
// reaches each of size.kills random points (between 10% and 85% of the
// load), a random 0-50 ms later, and restarts it at once.
func killDuringLoad(t *testing.T, w *crashWorld, p **daemonProc, rng *rand.Rand, size crashLoad, l *ledger, done <-chan struct{}) int {
	total := float64(size.smtp + size.pipe)
	var points []int64
	for range size.kills {
		points = append(points, int64(total*(0.10+0.75*rng.Float64())))
	}
	slices.Sort(points)
	kills := 0
	for _, at := range points {
		delay := time.Duration(rng.IntN(50)) * time.Millisecond
		for l.n.Load() < at {
			select {
			case <-done:
				t.Fatalf("the load ended at %d acknowledged, before the kill planned at %d", l.n.Load(), at)
			case <-time.After(5 * time.Millisecond):
			}
		}
		time.Sleep(delay)
		acked := l.n.Load()
		(*p).kill(syscall.SIGKILL)
		kills++
		t.Logf("kill %d: SIGKILL at %d acknowledged (+%v)", kills, acked, delay)
		*p = w.start()
	}
	return kills
}

// waitDelivered waits (bounded by ctx) until every acknowledged id has
// arrived, the maildrop is empty and the daemon has nothing pending, so the
// duplicate count is final. It returns the arrivals per id.
func waitDelivered(ctx context.Context, t *testing.T, w *crashWorld, l *ledger, sinks []*smtptest.Server) map[string]int {
	drop := filepath.Join(w.dataDir(), "maildrop")
	for polls := 0; ; {
		seen := countIDs(sinks...)
		missing := 0
		for _, id := range l.acked {
			if seen[id] == 0 {
				missing++
			}
		}
		if polls++; polls%10 == 0 {
			t.Logf("waiting: %d acknowledged not yet delivered", missing)
		}
		if missing == 0 {
			files, _, err := maildrop.List(drop, time.Now(), time.Hour)
			if err == nil && len(files) == 0 && w.pending(ctx) == 0 {
				return seen
			}
		}
		select {
		case <-ctx.Done():
			t.Logf("gave up waiting: %d acknowledged not delivered", missing)
			return countIDs(sinks...)
		case <-time.After(time.Second):
		}
	}
}

func reportCrashLoad(t *testing.T, w *crashWorld, l *ledger, seen map[string]int, kills int, size crashLoad, states map[queue.State]int) {
	dups, unknownArrived := 0, 0
	for _, c := range seen {
		dups += c - 1
	}
	for _, id := range l.unknown {
		if seen[id] > 0 {
			unknownArrived++
		}
	}
	var lost, refusedArrived []string
	for _, id := range l.acked {
		if seen[id] == 0 {
			lost = append(lost, id)
		}
	}
	for id := range l.refused {
		if seen[id] > 0 {
			refusedArrived = append(refusedArrived, id)
		}
	}
	t.Logf("summary: sent %d (smtp %d, sendmail %d), acknowledged %d, delivered distinct %d, duplicates %d, "+
		"lost %d, unknown %d (%d arrived), refused %d, kills %d; queue after stop: %v",
		l.sent, size.smtp, size.pipe, len(l.acked), len(seen), dups, len(lost),
		len(l.unknown), unknownArrived, len(l.refused), kills, states)
	if len(lost) > 0 {
		slices.Sort(lost)
		t.Errorf("lost %d acknowledged messages: %s\nlog tail:\n%s", len(lost), strings.Join(lost, " "), w.logTail())
	}
	if len(refusedArrived) > 0 {
		t.Errorf("refused but delivered: %v", refusedArrived)
	}
	for id, why := range l.refused {
		t.Logf("refused %s: %s", id, why)
	}
	if l.sent != size.smtp+size.pipe {
		t.Errorf("only %d of %d messages were sent", l.sent, size.smtp+size.pipe)
	}
	if p := states[queue.Queued] + states[queue.Deferred]; p != 0 {
		t.Errorf("%d recipients still pending after the queue drained", p)
	}
}
