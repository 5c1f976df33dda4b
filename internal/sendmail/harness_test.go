package sendmail_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/daemon"
	"github.com/mtaq/mtaq/internal/dnstest"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
)

// The mtaq binary, built once for the package's end-to-end tests, with
// sendmail and mailq symlinks beside it as an install would have them.
var build struct {
	once sync.Once
	dir  string
	err  error
}

func binDir(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the mtaq binary")
	}
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "mtaq-e2e-bin")
		if build.err != nil {
			return
		}
		gobin, err := exec.LookPath("go")
		if err != nil {
			build.err = err
			return
		}
		cmd := exec.Command(gobin, "build", "-o", filepath.Join(build.dir, "mtaq"), "github.com/mtaq/mtaq/cmd/mtaq")
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		for _, name := range []string{"sendmail", "mailq"} {
			if err := os.Symlink("mtaq", filepath.Join(build.dir, name)); err != nil {
				build.err = err
			}
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// world is a fake Internet (DNS plus one MX for dest.test) and an mtaq
// configuration file that MTAQ_CONFIG points the sendmail processes at.
type world struct {
	t    *testing.T
	bin  string
	dir  string
	cfg  string
	conf conf.Config
	mx   *smtptest.Server
	d    *daemon.Daemon
}

func newWorld(t *testing.T, opts ...smtptest.Option) *world {
	w := &world{t: t, bin: binDir(t), dir: t.TempDir()}
	dns := dnstest.New(t)
	port := smtptest.FreePort(t, "127.0.0.2")
	dns.MX("dest.test", 10, "mx.dest.test")
	dns.A("mx.dest.test", "127.0.0.2")
	w.mx = smtptest.New(t, fmt.Sprintf("127.0.0.2:%d", port), opts...)
	w.cfg = filepath.Join(w.dir, "mtaq.toml")
	toml := fmt.Sprintf("hostname = \"mtaq.test\"\ndata_dir = %q\n[submission]\nlisten = [\"127.0.0.1:0\"]\n"+
		"[delivery]\ndns_servers = [%q]\nport = %d\n", filepath.Join(w.dir, "data"), dns.Addr(), port)
	if err := os.WriteFile(w.cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(w.dir, "data"), 0o750)
	var err error
	if w.conf, err = conf.Load(w.cfg); err != nil {
		t.Fatal(err)
	}
	return w
}

// start runs the daemon in-process on the wall clock: pickup polls every
// second, as in production.
func (w *world) start() {
	w.t.Helper()
	d, err := daemon.Start(daemon.Options{Config: w.conf, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		w.t.Fatal(err)
	}
	w.d = d
	w.t.Cleanup(w.stop)
}

func (w *world) stop() {
	if w.d == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.d.Stop(ctx); err != nil {
		w.t.Error(err)
	}
	w.d = nil
}

// run starts name (a program, or "sendmail"/"mailq" from the build) with
// MTAQ_CONFIG set and returns its exit code and output.
func (w *world) run(stdin string, name string, args ...string) (int, string) {
	w.t.Helper()
	if !strings.Contains(name, "/") && (name == "sendmail" || name == "mailq") {
		name = filepath.Join(w.bin, name)
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "MTAQ_CONFIG="+w.cfg, "HOME="+w.dir)
	cmd.Dir = w.dir
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil && cmd.ProcessState == nil {
		w.t.Fatalf("%s: %v", name, err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// received waits for the MX to get a message whose text contains marker.
func (w *world) received(marker string) smtptest.Received {
	w.t.Helper()
	var got smtptest.Received
	waitfor.NoError(w.t, func() error {
		ms := w.mx.Messages()
		for _, m := range ms {
			if strings.Contains(string(m.Data), marker) {
				got = m
				return nil
			}
		}
		return fmt.Errorf("no message with %q reached the MX; it got %d messages", marker, len(ms))
	})
	return got
}

// needTool skips a test when a Debian client is not installed, so a
// developer machine without them passes; .ci/run installs them and sets
// MTAQ_E2E_TOOLS=require, which turns the skip into a failure.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil && os.Getenv("MTAQ_E2E_TOOLS") == "require" {
		t.Fatalf("%s is required (MTAQ_E2E_TOOLS=require): %v", name, err)
	}
	if err != nil {
		t.Skipf("%s is not installed (apt-get install bsd-mailx php-cli; .ci/run does): %v", name, err)
	}
	return p
}
