package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/emersion/go-smtp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/dnstest"
	"github.com/mtaq/mtaq/internal/maildrop"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/submission"
	"github.com/mtaq/mtaq/internal/tmpfstest"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

// mountTmpfs mounts a tmpfs of size MiB on a new directory and unmounts it
// at cleanup (registered first, so it runs after the daemon stopped).
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		missingTool(t, "mounting a tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := tmpfstest.Mount(t, dir, fmt.Sprintf("%dm", size), "mode=0750"); err != nil {
		missingTool(t, err.Error())
	}
	return dir
}

func availBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// fill writes dir/name in 256 KiB chunks until at most leave bytes are
// free, as another program eating the disk would.
func fill(t *testing.T, dir, name string, leave int64) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 256<<10)
	for i := 0; availBytes(t, dir) > leave; i++ {
		if i > 4096 {
			t.Fatal("filler never filled the disk")
		}
		n := min(int64(len(chunk)), availBytes(t, dir)-leave)
		if n <= 0 {
			break
		}
		if _, err := f.Write(chunk[:n]); err != nil {
			t.Fatalf("filler: %v", err)
		}
	}
}

func countSST(t *testing.T, dir string) int {
	m, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// outcome is one submission: the queue ID of a 250, else the reply.
type outcome struct {
	id, subject string
	code        int
	enhanced    smtp.EnhancedCode
	err         error
}

// bodySize: large enough that a few dozen messages fill the disk.
const bodySize = 128 << 10

// submitBody sends one message of about bodySize bytes with a unique subject and
// returns what the server said at the final dot (or where it stopped).
func submitBody(addr, subject string) outcome {
	o := outcome{subject: subject}
	c, err := smtp.Dial(addr)
	if err != nil {
		o.err = err
		return o
	}
	defer c.Close()
	if o.err = c.Hello("app.test"); o.err != nil {
		return o
	}
	if o.err = c.Mail("app@sender.test", nil); o.err != nil {
		return o
	}
	if o.err = c.Rcpt("user@dest.test", nil); o.err != nil {
		return o
	}
	w, err := c.Data()
	if err != nil {
		o.err = err
		return o
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: app@sender.test\r\nTo: user@dest.test\r\nSubject: %s\r\n\r\n", subject)
	line := strings.Repeat(subject+" ", 76/(len(subject)+1)) + "\r\n"
	for b.Len() < bodySize {
		b.WriteString(line)
	}
	w.Write([]byte(b.String()))
	resp, err := w.CloseWithResponse()
	var se *smtp.SMTPError
	switch {
	case errors.As(err, &se):
		o.code, o.enhanced = se.Code, se.EnhancedCode
	case err != nil:
		o.err = err
	default:
		o.code = 250
		if m := smtptest.QueuedAs.FindStringSubmatch(resp.StatusText); m != nil {
			o.id = m[1]
		}
	}
	return o
}

// load runs workers clients sending until each has been refused twice (or
// the cap), checking every reply: 250 with a queue ID, or 452 4.3.1.
type load struct {
	t      *testing.T
	addr   string
	mu     sync.Mutex
	acked  map[string]string // subject → queue ID
	refuse int
	seq    int
}

func (l *load) record(o outcome) {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case o.err != nil:
		l.t.Errorf("%s: %v", o.subject, o.err)
	case o.code == 250 && o.id != "":
		l.acked[o.subject] = o.id
	case o.code == 452 && o.enhanced == (smtp.EnhancedCode{4, 3, 1}):
		l.refuse++
	default:
		l.t.Errorf("%s: reply %d %v, want 250 or 452 4.3.1", o.subject, o.code, o.enhanced)
	}
}

func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

func (l *load) next(phase string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	return fmt.Sprintf("%s-%05d", phase, l.seq)
}

// untilRefused sends from workers clients until each was refused twice;
// during, when set, runs beside them (the filler). It returns the counts.
func (l *load) untilRefused(phase string, workers, limit int, during func()) (ok, refused int) {
	l.t.Helper()
	l.mu.Lock()
	ok0, ref0 := len(l.acked), l.refuse
	l.mu.Unlock()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, seen := 0, 0; i < limit && seen < 2; i++ {
				o := submitBody(l.addr, l.next(phase))
				l.record(o)
				if o.code != 250 {
					seen++
				}
			}
		}()
	}
	if during != nil {
		during()
	}
	wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked) - ok0, l.refuse - ref0
}

// resumed polls with single messages until one gets a 250 (space came
// back and the daemon noticed by itself), bounded.
func (l *load) resumed(phase string) int {
	l.t.Helper()
	for i := 1; i <= 200; i++ {
		o := submitBody(l.addr, l.next(phase))
		l.record(o)
		if o.code == 250 {
			return i
		}
		time.Sleep(50 * time.Millisecond)
	}
	l.t.Fatalf("%s: acceptance never resumed", phase)
	return 0
}

// TestDiskFullDuringLoad puts data_dir (and the maildrop in it) on a
// 16 MiB tmpfs with a 2 MiB reserve (MTAQ_LONG=1: 160 and 16) and fills it twice: once with mail
// until the daemon refuses, once with a file another program writes while
// mail flows. Clients only ever see 250 or 452 4.3.1; mail sendmail drops
// while the queue is full waits in the maildrop; acceptance resumes by
// itself once the filler is deleted; every 250 reaches the MX intact, the
// queue checks clean, and the daemon logs one warning per change.
func TestDiskFullDuringLoad(t *testing.T) {
	// CI size: about 30 messages fill the room above the reserve (Pebble
	// preallocates WAL files, so the disk fills faster than the data
	// grows). Long: the default 64 MiB reserve and room for Pebble to
	// rotate and flush its 64 MiB memtable on the way.
	size, room, reserve, workers := 16, int64(6<<20), int64(2<<20), 4
	if os.Getenv("MTAQ_LONG") == "1" {
		size, room, reserve, workers = 480, 240<<20, 64<<20, 8
	}
	dataDir := mountTmpfs(t, size)
	fill(t, dataDir, ".filler-a", room)

	c, mx := destConfig(t, dataDir)
	c.Delivery.Workers = 8
	c.Queue.MinFreeBytes = reserve
	core, logs := observer.New(zap.WarnLevel)
	d := startDaemon(t, Options{Config: c, Logger: zap.New(core)})
	l := &load{t: t, addr: d.Addrs()[0].String(), acked: map[string]string{}}

	// 1: mail alone fills the disk down to the reserve.
	ok1, ref1 := l.untilRefused("load", workers, 1000, nil)
	if ok1 == 0 || ref1 < 8 {
		t.Fatalf("mail load: %d accepted, %d refused; want both", ok1, ref1)
	}
	free1 := availBytes(t, dataDir)
	if o := submitBody(l.addr, "still-full"); o.code != 452 {
		t.Fatalf("still full: %+v", o)
	}
	l.refuse++

	// 2: the operator frees space; acceptance resumes without a restart.
	if err := os.Remove(filepath.Join(dataDir, ".filler-a")); err != nil {
		t.Fatal(err)
	}
	t.Logf("phase 1: %d accepted, %d refused, %d KiB free, %d sstables", ok1, ref1, free1>>10, countSST(t, dataDir))
	tries := l.resumed("resume-a")
	ok2, ref2 := l.untilRefused("after-a", 2, 5, nil)

	// 3: another program fills the disk while mail flows.
	ok3, ref3 := l.untilRefused("filler", workers, 1000, func() {
		for i := 0; l.count() < ok1+ok2+tries+4; i++ { // mail is flowing
			if i > 1000 {
				t.Error("no mail accepted before the filler")
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		fill(t, dataDir, ".filler-b", reserve/2)
	})
	if ref3 < 8 {
		t.Fatalf("filler: %d accepted, %d refused; want refusals", ok3, ref3)
	}
	free3 := availBytes(t, dataDir)
	if st, err := os.Stat(filepath.Join(dataDir, ".filler-b")); err == nil {
		t.Logf("phase 3: %d accepted, %d refused, %d KiB free, filler %d KiB, %d sstables",
			ok3, ref3, free3>>10, st.Size()>>10, countSST(t, dataDir))
	}
	// Below the reserve, sendmail's file lands in the maildrop but cannot be
	// imported: it must wait there, not be moved to corrupt/ or lost.
	mdrop := c.MaildropPath()
	body := []byte("From: cron@mtaq.test\r\nTo: user@dest.test\r\nSubject: dropped-while-full\r\n\r\nwaits\r\n")
	if _, err := maildrop.Drop(mdrop, maildrop.Envelope{Sender: "cron@mtaq.test", Rcpts: []string{"user@dest.test"},
		Posted: time.Now(), UID: os.Getuid()}, body); err != nil {
		t.Fatalf("maildrop with %d bytes free: %v", availBytes(t, mdrop), err)
	}
	waitfor.True(t, "pickup to try the waiting file", func() bool {
		return logs.FilterMessageSnippet("scanning the maildrop").Len() > 0
	})
	if files, _, _ := maildrop.List(mdrop, time.Now(), time.Hour); len(files) != 1 {
		t.Fatalf("maildrop while the queue is full holds %d files, want the 1 waiting", len(files))
	}
	if err := os.Remove(filepath.Join(dataDir, ".filler-b")); err != nil {
		t.Fatal(err)
	}
	tries += l.resumed("resume-b")
	ok4, ref4 := l.untilRefused("after-b", 2, 5, nil)
	if ref2+ref4 != 0 {
		t.Fatalf("%d and %d refusals with space back", ref2, ref4)
	}

	// Every 250 arrives once, byte for byte what was sent after the trace
	// field; the maildrop message too.
	deadline := time.Now().Add(60 * time.Second)
	want := len(l.acked) + 1
	for len(mx.Messages()) < want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	got := map[string]int{}
	for _, m := range mx.Messages() {
		s := string(m.Data)
		i := strings.Index(s, "Subject: ")
		if i < 0 {
			t.Fatalf("delivered message without a subject:\n%.300s", s)
		}
		subj, _, _ := strings.Cut(s[i+len("Subject: "):], "\r\n")
		got[subj]++
		if id, ok := l.acked[subj]; ok && !strings.Contains(s, " id "+id) {
			t.Errorf("%s arrived without its queue ID %s in the trace field", subj, id)
		}
		if subj != "dropped-while-full" && len(s) < bodySize {
			t.Errorf("%s arrived with %d bytes, want the whole %d-byte body", subj, len(s), bodySize)
		}
	}
	for subj, id := range l.acked {
		if got[subj] != 1 {
			t.Errorf("acknowledged %s (%s) arrived %d times", subj, id, got[subj])
		}
	}
	if got["dropped-while-full"] != 1 || len(mx.Messages()) != want {
		t.Errorf("MX got %d messages (maildrop one %d times), want %d", len(mx.Messages()), got["dropped-while-full"], want)
	}
	for _, id := range l.acked {
		m, err := d.Store().Message(context.Background(), id)
		if err != nil || m.Recipients[0].State != queue.Delivered {
			t.Errorf("%s: %v %+v", id, err, m)
		}
	}
	if err := d.Store().Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	refusing := logs.FilterMessageSnippet("refusing new mail").Len()
	resumedLog := logs.FilterMessageSnippet("accepting new mail").Len()
	// Two full periods; a flush or WAL rotation freeing space while full may
	// add an honest extra period, but never a line per refused message.
	if refusing < 2 || resumedLog != refusing || refusing*4 > l.refuse {
		t.Errorf("%d refusing and %d resuming warnings for %d refusals, want 2 or a few more, paired",
			refusing, resumedLog, l.refuse)
	}
	if n := logs.FilterMessageSnippet("scanning the maildrop").Len(); n != 1 {
		t.Errorf("pickup logged %d maildrop scan errors for one full period, want 1", n)
	}
	if n := logs.FilterMessage("enqueue failed").Len(); n != 0 {
		t.Errorf("%d per-message enqueue errors logged for %d refusals", n, l.refuse)
	}
	t.Logf("accepted %d+%d+%d+%d (load, after A, with filler, after B), refused %d with 452 4.3.1, "+
		"%d probes until resumed; free at refusal %d KiB (mail) and %d KiB (filler); delivered %d; %d warning pairs; sstables %d",
		ok1, ok2, ok3, ok4, l.refuse, tries, free1>>10, free3>>10, len(mx.Messages()), refusing, countSST(t, dataDir))
}

// faultChildEnv carries "mode:dir" to TestSubmissionFaultChild.
const faultChildEnv = "MTAQ_DAEMON_FAULT_CHILD"

// TestInjectedIOFaultOverSMTP submits over a real submission listener in a
// child process whose queue filesystem fails on demand (SIGUSR1 arms it).
// A failed WAL write or fsync makes Pebble exit the process (Fatalf,
// status 1): the client in the middle of DATA sees the connection drop,
// never a 250. A failing free-space query is an error Enqueue returns:
// 451 4.3.0 and the process lives on. Either way a daemon started on the
// directory afterwards finds every message acknowledged before, delivers
// each once, and the queue checks clean.
func TestInjectedIOFaultOverSMTP(t *testing.T) {
	for _, mode := range []string{"write", "sync", "statfs"} {
		t.Run(mode, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			ch := startFaultChild(t, mode, dir)
			addr := ch.waitLine(t, "addr ")
			l := &load{t: t, addr: addr, acked: map[string]string{}}
			for i := range 5 {
				l.record(submitBody(addr, fmt.Sprintf("before-%d", i)))
			}
			if len(l.acked) != 5 {
				t.Fatalf("%d of 5 acknowledged before the fault", len(l.acked))
			}
			ch.cmd.Process.Signal(syscall.SIGUSR1)
			ch.waitLine(t, "armed")
			o := submitBody(addr, "under-fault")
			switch {
			case o.code == 250:
				t.Fatalf("250 for a message whose commit failed (%s fault)", mode)
			case mode == "statfs" && (o.code != 451 || o.enhanced != smtp.EnhancedCode{4, 3, 0}):
				t.Fatalf("statfs fault: %+v, want 451 4.3.0", o)
			case mode != "statfs" && o.err == nil:
				t.Fatalf("%s fault: reply %d %v, want the connection dropped by Pebble's exit", mode, o.code, o.enhanced)
			}
			exit := ch.stop(t, mode == "statfs")
			if mode != "statfs" && (exit != 1 || !strings.Contains(ch.output(), "fatal commit error")) {
				t.Fatalf("child exit %d, want 1 from Pebble's fatal commit error\n%s", exit, ch.output())
			}
			delivered := restartDelivers(t, dir, l.acked)
			t.Logf("%s fault: client saw %q (code %d %v), child exit %d; after restart %d of %d acknowledged delivered, Check clean",
				mode, fmt.Sprint(o.err), o.code, o.enhanced, exit, delivered, len(l.acked))
		})
	}
}

// faultChild is the running child and the lines it printed so far.
type faultChild struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	more  chan struct{}
	done  chan struct{}
}

func startFaultChild(t *testing.T, mode, dir string) *faultChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSubmissionFaultChild$")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with a killed go test
	cmd.Env = append(os.Environ(), faultChildEnv+"="+mode+":"+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := &faultChild{cmd: cmd, more: make(chan struct{}, 1), done: make(chan struct{})}
	t.Cleanup(func() { cmd.Process.Kill(); <-ch.done })
	go func() {
		defer close(ch.done)
		buf := make([]byte, 4096)
		var part string
		for {
			n, err := out.Read(buf)
			part += string(buf[:n])
			ls := strings.Split(part, "\n")
			part = ls[len(ls)-1]
			ch.mu.Lock()
			ch.lines = append(ch.lines, ls[:len(ls)-1]...)
			ch.mu.Unlock()
			select {
			case ch.more <- struct{}{}:
			default:
			}
			if err != nil {
				cmd.Wait()
				return
			}
		}
	}()
	return ch
}

func (ch *faultChild) output() string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return strings.Join(ch.lines, "\n")
}

// waitLine returns the rest of the first line starting with prefix.
func (ch *faultChild) waitLine(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		ch.mu.Lock()
		for _, l := range ch.lines {
			if rest, ok := strings.CutPrefix(l, prefix); ok {
				ch.mu.Unlock()
				return rest
			}
		}
		ch.mu.Unlock()
		select {
		case <-ch.more:
		case <-ch.done:
			t.Fatalf("child ended before printing %q:\n%s", prefix, ch.output())
		case <-deadline:
			t.Fatalf("child printed no %q in 30 s:\n%s", prefix, ch.output())
		}
	}
}

// stop waits for the child to end by itself (kill: end it first, by PID)
// and returns its exit code.
func (ch *faultChild) stop(t *testing.T, kill bool) int {
	t.Helper()
	if kill {
		ch.cmd.Process.Kill()
	}
	select {
	case <-ch.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("child still running 30 s after the fault:\n%s", ch.output())
	}
	return ch.cmd.ProcessState.ExitCode()
}

// restartDelivers starts a daemon on dir and waits until every acked
// message arrived at the MX exactly once; it returns how many arrived.
func restartDelivers(t *testing.T, dir string, acked map[string]string) int {
	t.Helper()
	c, mx := destConfig(t, dir)
	d, err := Start(Options{Config: c, ConnectTimeout: 2 * time.Second, CommandTimeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer stopDaemon(t, d) // before the next restart opens another data dir
	for _, id := range acked {
		waitfor.NoError(t, func() error {
			m, err := d.Store().Message(context.Background(), id)
			if err != nil {
				return fmt.Errorf("acknowledged %s after restart: %w", id, err)
			}
			if r := m.Recipients[0]; r.State != queue.Delivered {
				return fmt.Errorf("acknowledged %s not delivered after restart: %+v", id, r)
			}
			return nil
		})
	}
	if err := d.Store().Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, m := range mx.Messages() {
		for subj := range acked {
			if strings.Contains(string(m.Data), "Subject: "+subj+"\r\n") {
				got[subj]++
			}
		}
	}
	for subj := range acked {
		if got[subj] != 1 {
			t.Errorf("%s arrived %d times", subj, got[subj])
		}
	}
	return len(got)
}

// TestSubmissionFaultChild is the child of TestInjectedIOFaultOverSMTP: a
// queue on a fault-injecting filesystem behind a submission listener.
func TestSubmissionFaultChild(t *testing.T) {
	v := os.Getenv(faultChildEnv)
	if v == "" {
		t.Skip("child of TestInjectedIOFaultOverSMTP")
	}
	mode, dir, _ := strings.Cut(v, ":")
	fail := map[string]map[errorfs.OpKind]bool{
		"write":  {errorfs.OpFileWrite: true, errorfs.OpFileWriteAt: true},
		"sync":   {errorfs.OpFileSync: true, errorfs.OpFileSyncData: true, errorfs.OpFileSyncTo: true},
		"statfs": {errorfs.OpGetDiskUsage: true},
	}[mode]
	var armed atomic.Bool
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if armed.Load() && fail[op.Kind] {
			return errorfs.ErrInjected
		}
		return nil
	}))
	log := zap.NewExample() // to stdout, where the parent reads Pebble's fatal line
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	store, err := queue.Open(dir, queue.Options{FS: fs, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	c := conf.Defaults()
	srv, err := submission.New(submission.Options{Hostname: "mtaq.test", Listen: []string{"127.0.0.1:0"},
		Trusted: c.TrustedPrefixes(), MaxMessageBytes: c.Submission.MaxMessageBytes,
		MaxRecipients: c.Submission.MaxRecipients, Store: store, Logger: log, NewID: queue.NewID})
	if err == nil {
		err = srv.Start()
	}
	if err != nil {
		t.Fatal(err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	fmt.Printf("addr %s\n", srv.Addrs()[0])
	select {
	case <-sig:
		armed.Store(true)
		fmt.Println("armed")
	case <-time.After(60 * time.Second):
		t.Fatal("never armed")
	}
	time.Sleep(60 * time.Second) // Pebble exits us, or the parent kills us
}

// destConfig starts dest.test on the fake Internet (DNS, and its MX on
// 127.0.0.2) and returns a daemon config on dataDir that delivers there,
// with the MX.
func destConfig(t *testing.T, dataDir string) (conf.Config, *smtptest.Server) {
	t.Helper()
	dnsAddr, port, mx := destNet(t)
	return destNodeConfig("mtaq.test", dataDir, "127.0.0.1:0", dnsAddr, port), mx
}

// destNet starts dest.test on the fake Internet: a DNS server, and its MX
// on 127.0.0.2 with opts. It returns the DNS server's address and the MX's
// port, for destNodeConfig.
func destNet(t *testing.T, opts ...smtptest.Option) (dnsAddr string, port int, mx *smtptest.Server) {
	t.Helper()
	dns := dnstest.New(t)
	port = smtptest.FreePort(t, "127.0.0.2")
	dns.MX("dest.test", 10, "mx.dest.test")
	dns.A("mx.dest.test", "127.0.0.2")
	return dns.Addr(), port, smtptest.New(t, fmt.Sprintf("127.0.0.2:%d", port), opts...)
}

// destNodeConfig is a daemon config on dataDir, taking mail on listen and
// delivering to destNet's dest.test.
func destNodeConfig(hostname, dataDir, listen, dnsAddr string, port int) conf.Config {
	c := conf.Defaults()
	c.Hostname = hostname
	c.DataDir = dataDir
	c.Submission.Listen = []string{listen}
	c.Delivery.DNSServers = []string{dnsAddr}
	c.Delivery.Port = port
	return c
}
