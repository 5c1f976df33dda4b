package conventions

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/mtaq/mtaq/"

// mayImport is ARCHITECTURE's arrows as a table (C1): the mtaq packages
// each package's non-test files may import. A package missing here fails
// the test, so a new one gets its directions decided when it is added.
var mayImport = map[string][]string{
	"internal/clock":       nil,
	"webhook":              nil, // public: receivers import it; it imports nothing of mtaq
	"internal/buildinfo":   nil,
	"internal/fsperm":      nil,
	"internal/conventions": nil,
	"policy":               nil,        // pure: no mtaq package
	"conf":                 {"policy"}, // builds the policy.Classifier from [[policy.rule]]
	"queue":                {"internal/clock"},
	"delivery":             {"internal/clock"}, // neither queue nor scheduler: it takes a job, returns results
	"scheduler":            {"queue", "policy", "delivery", "internal/clock"},
	// The one way into the queue; every way mail comes in goes through it.
	"internal/dkim":     nil, // signs bytes; knows no other package
	"internal/verp":     nil, // the return-path token's format
	"internal/feedback": nil, // reads report emails; trusts and decides nothing
	// The feedback loop: return path, report listener, report -> queue.Feedback.
	"internal/bounce":     {"queue", "policy", "internal/clock", "internal/verp", "internal/feedback"},
	"internal/intake":     {"queue", "policy", "internal/clock", "internal/dkim"},
	"internal/submission": {"internal/intake", "queue", "policy", "internal/clock", "internal/proxylisten"},
	// The PROXY protocol under a listener: whose header is believed.
	"internal/proxylisten": nil,
	"internal/maildrop":    {"internal/fsperm"},
	"internal/pickup":      {"internal/intake", "queue", "policy", "internal/clock", "internal/maildrop"},
	// intake here only for address syntax: sendmail never opens the queue.
	"internal/sendmail": {"internal/intake", "queue", "internal/admin", "internal/maildrop", "internal/clock", "internal/dkim"},
	"internal/admin":    {"internal/intake", "queue", "policy", "scheduler", "internal/clock", "internal/verify"}, // scheduler: its status types
	"internal/dsn":      {"internal/intake", "queue", "policy", "internal/clock"},
	// The app-facing HTTP API: sends through intake, reads and manages
	// through the admin Service (one implementation behind both APIs).
	"internal/httpapi": {"internal/intake", "internal/admin", "internal/verify", "queue", "internal/clock",
		"internal/proxylisten"},
	"internal/events": {"queue", "policy", "internal/clock", "webhook"},
	// The web console: reads and acts only through the admin Service;
	// queue and scheduler for their types.
	"internal/console": {"internal/admin", "queue", "scheduler", "internal/clock"},
	"internal/metrics": {"queue", "policy", "scheduler", "internal/clock", "internal/buildinfo"}, // fed by callbacks; nothing imports metrics
	"internal/daemon": {"conf", "queue", "policy", "scheduler", "delivery", "internal/clock", "internal/intake", "internal/dkim",
		"internal/submission", "internal/pickup", "internal/maildrop", "internal/fsperm",
		"internal/admin", "internal/dsn", "internal/events", "internal/metrics", "internal/bounce", "internal/httpapi", "internal/verify",
		"internal/cluster", "internal/console", "internal/tlsrpt"},
	// Fleet mode: PostgreSQL beside the queue's shared outbox; nothing on the mail path.
	"internal/cluster": {"queue", "internal/clock", "internal/buildinfo"},
	// The DNS checks ask through delivery's resolver, the one mail goes by.
	"internal/doctor": {"delivery", "internal/dkim"},
	// TLS reporting: counts kept in the queue, reports mailed through intake.
	"internal/tlsrpt": {"queue", "internal/intake", "internal/clock"},
	// Address verification: intake's parser, delivery's resolver and probe,
	// the queue's suppressions and history, policy's classifier.
	"internal/verify": {"internal/intake", "queue", "policy", "delivery", "internal/clock"},
	"cmd/mtaq": {"conf", "queue", "policy", "internal/clock", "internal/daemon", "internal/admin",
		"internal/sendmail", "internal/buildinfo", "internal/dkim", "internal/doctor", "internal/feedback", "internal/bounce",
		"internal/verify", "internal/tlsrpt"},
	// Test helpers stand alone, so any package's tests can use them.
	"internal/dnstest":     nil,
	"internal/smtptest":    nil,
	"internal/tmpfstest":   nil,
	"internal/unprivtest":  nil,
	"internal/waitfor":     nil,
	"internal/postfixtest": nil,
	// Validates responses against the OpenAPI document it is given.
	"internal/httpapi/openapitest": nil,
	"internal/pgtest":              nil,
	// Benchmark tools drive the real packages from outside.
	"bench/scale":   {"queue"},
	"bench/console": {"queue", "internal/admin", "internal/console"},
	"bench/latency": nil,
}

// importExceptions are imports the table refuses but the tree has for now,
// each with why it stays: "from -> to".
var importExceptions = map[string]string{
	"internal/sendmail -> conf": "sendmail.Options carries conf.Config whole instead of its own Options; " +
		"a separate process's entry point, so it is wiring like cmd (internal/sendmail is being edited elsewhere)",
}

// forbidden are non-mtaq imports a package must not have (C2), by path or
// path prefix.
var forbidden = map[string][]string{
	// No I/O, no clock of its own, no randomness (ARCHITECTURE: policy).
	"policy": {"os", "net", "io/fs", "io/ioutil", "syscall", "math/rand", "crypto/rand",
		"github.com/cockroachdb/pebble", "golang.org/x/sys", "go.uber.org/zap"},
	// delivery talks SMTP; it stores nothing.
	"delivery": {"github.com/cockroachdb/pebble"},
}

// wallClock are the time package's names that read the wall clock or wait
// on it (C3). Since/Until read it too; timers and tickers wait on it.
var wallClock = []string{"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "Tick", "NewTimer", "NewTicker"}

// wallClockAllowed are the files (or directories, ending in "/") outside
// internal/clock that may use wallClock names, each with its reason.
var wallClockAllowed = map[string]string{
	"bench/": "benchmark tools measure real elapsed time",
	"internal/smtptest/cert.go": "a test certificate's validity is checked by crypto/tls against the " +
		"wall clock, whatever clock the test fakes",
	"internal/dnstest/dnstest.go": "a test DNS server delays answers in real time, because the client " +
		"under test waits on socket deadlines, not on a fake clock",
	"webhook/webhook.go": "Verify runs in the receiving app, which has no mtaq clock; VerifyAt " +
		"takes the time for tests",
	"internal/waitfor/waitfor.go": "the test helper polls other goroutines and processes in real " +
		"time, bounded by a deadline",
	"internal/postfixtest/postfixtest.go": "waits in real time for a real Postfix process to listen " +
		"and to stop",
	"internal/pickup/pickup.go": "compares a directory's mtime with the wall clock: a fake clock " +
		"has no relation to the file system's",
	"internal/submission/server.go": "the shutdown grace polls open connections in wall time, like " +
		"the sessions' network deadlines it waits for",
	"internal/sendmail/sendmail.go": "the sendmail process's entry point injects the wall clock " +
		"(Now: time.Now); should become clock.Real{}.Now (internal/sendmail is being edited elsewhere)",
}

// dialNames open network connections; only delivery connects to other
// hosts (C4).
var dialNames = []string{"Dial", "DialTimeout", "DialTCP", "DialUDP", "DialIP", "DialUnix", "Dialer"}

// dialAllowed are the files outside delivery that may dial, with reasons.
var dialAllowed = map[string]string{
	"internal/admin/client.go": "the admin client connects to the daemon's own unix socket",
	"internal/admin/listen.go": "probes whether a daemon already answers on the admin unix socket",
	"internal/postfixtest/postfixtest.go": "the test helper waits until the Postfix it started " +
		"listens on loopback",
	"internal/pgtest/pgtest.go": "the test helper's proxy forwards loopback connections to the test " +
		"PostgreSQL, so a test can cut and restore them",
}

// globalLoggers are zap's process-wide loggers (C5): every package takes a
// *zap.Logger instead, named per package.
var globalLoggers = []string{"L", "S", "ReplaceGlobals", "RedirectStdLog", "RedirectStdLogAt"}

func parseTree(t *testing.T) []File {
	t.Helper()
	files, err := Parse(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 50 {
		t.Fatalf("parsed only %d files: is the root right?", len(files))
	}
	return files
}

// importViolations checks C1 and C2 over files against the tables.
func importViolations(files []File, may map[string][]string, exceptions map[string]string,
	forbid map[string][]string) []string {
	var bad []string
	pkgs := map[string]bool{}
	for _, f := range files {
		pkgs[f.Pkg] = true
	}
	for p := range pkgs {
		if _, ok := may[p]; !ok {
			bad = append(bad, fmt.Sprintf("%s: not in mayImport; add it with the directions ARCHITECTURE gives", p))
		}
	}
	used := map[string]bool{}
	for _, im := range Imports(files) {
		from := pathDir(im.File)
		if to, ok := strings.CutPrefix(im.Path, module); ok {
			edge := from + " -> " + to
			if slices.Contains(may[from], to) || to == from {
				continue
			}
			if _, ok := exceptions[edge]; ok {
				used[edge] = true
				continue
			}
			bad = append(bad, fmt.Sprintf("%s imports %s: against ARCHITECTURE's direction", im.File, to))
			continue
		}
		for _, f := range forbid[from] {
			if im.Path == f || strings.HasPrefix(im.Path, f+"/") {
				bad = append(bad, fmt.Sprintf("%s imports %s, which %s must not", im.File, im.Path, from))
			}
		}
	}
	for edge := range exceptions {
		if !used[edge] {
			bad = append(bad, fmt.Sprintf("exception %q is no longer needed: remove it", edge))
		}
	}
	sort.Strings(bad)
	return bad
}

// clockViolations checks C3.
func clockViolations(files []File, allowed map[string]string) []string {
	return useViolations(files, "time", wallClock, "internal/clock/", allowed, "take a clock.Clock")
}

// useViolations reports uses of pkg's names outside the directory home
// ("" for none) and the allowed files, and allowances no longer used.
func useViolations(files []File, pkg string, names []string, home string, allowed map[string]string, fix string) []string {
	var bad []string
	used := map[string]bool{}
	for _, u := range Uses(files, pkg, names) {
		if home != "" && strings.HasPrefix(u.File, home) {
			continue
		}
		if key := allowKey(u.File, allowed); key != "" {
			used[key] = true
			continue
		}
		where := "here"
		if home != "" {
			where = "outside " + strings.TrimSuffix(home, "/")
		}
		bad = append(bad, fmt.Sprintf("%s:%d: %s %s: %s", u.File, u.Line, u.Name, where, fix))
	}
	for key := range allowed {
		if !used[key] {
			bad = append(bad, fmt.Sprintf("%s exception %q is no longer needed: remove it", pkg, key))
		}
	}
	sort.Strings(bad)
	return bad
}

func allowKey(file string, allowed map[string]string) string {
	for key := range allowed {
		if key == file || strings.HasSuffix(key, "/") && strings.HasPrefix(file, key) {
			return key
		}
	}
	return ""
}

func TestImportDirections(t *testing.T) {
	t.Parallel()
	for _, v := range importViolations(parseTree(t), mayImport, importExceptions, forbidden) {
		t.Error(v)
	}
}

func TestWallClockOnlyInClock(t *testing.T) {
	t.Parallel()
	for _, v := range clockViolations(parseTree(t), wallClockAllowed) {
		t.Error(v)
	}
}

func TestDialOnlyInDelivery(t *testing.T) {
	t.Parallel()
	for _, v := range useViolations(parseTree(t), "net", dialNames, "delivery/", dialAllowed, "only delivery connects out") {
		t.Error(v)
	}
}

func TestNoGlobalLoggers(t *testing.T) {
	t.Parallel()
	for _, v := range useViolations(parseTree(t), "go.uber.org/zap", globalLoggers, "", nil, "take a *zap.Logger") {
		t.Error(v)
	}
}

func TestExceptionsHaveReasons(t *testing.T) {
	t.Parallel()
	for _, m := range []map[string]string{importExceptions, wallClockAllowed, dialAllowed} {
		for k, why := range m {
			if len(strings.Fields(why)) < 4 {
				t.Errorf("%q: the reason %q says too little", k, why)
			}
		}
	}
}

// TestChecksCatchPlants proves the checks can fail: a small tree with one
// violation of each kind, and one of each that must pass.
func TestChecksCatchPlants(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	plant := map[string]string{
		"policy/p.go":   "package policy\nimport (\"os\"; r \"math/rand/v2\"; \"github.com/mtaq/mtaq/queue\")\nvar _, _, _ = os.Args, r.N[int], queue.X\n",
		"delivery/d.go": "package delivery\nimport \"github.com/mtaq/mtaq/queue\"\nvar _ = queue.X\n",
		"queue/q.go": "package queue\nimport (\"github.com/mtaq/mtaq/internal/clock\"; tm \"time\")\n" +
			"var X = clock.Real{}\nvar now = tm.Now\nfunc f() { tm.Sleep(1); <-tm.After(1) }\n",
		"internal/clock/c.go": "package clock\nimport \"time\"\ntype Real struct{}\nvar _ = time.Now()\n",
		"scheduler/s.go": "package scheduler\nimport (\"net\"; \"go.uber.org/zap\")\n" +
			"var _, _ = net.Dial, zap.L()\n",
		"delivery/ok.go":  "package delivery\nimport \"net\"\nvar _ net.Dialer\n",
		"bench/b/b.go":    "package main\nimport \"time\"\nvar _ = time.Since(time.Time{})\n",
		"newpkg/n.go":     "package newpkg\n",
		"queue/q_test.go": "package queue\nimport (\"os\"; \"time\")\nvar _, _ = os.Args, time.Now()\n",
	}
	for name, src := range plant {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, err := Parse(root)
	if err != nil {
		t.Fatal(err)
	}
	may := map[string][]string{"policy": nil, "delivery": {"internal/clock"}, "queue": {"internal/clock"},
		"internal/clock": nil, "bench/b": nil, "scheduler": nil}
	got := importViolations(files, may, map[string]string{"x -> y": "gone"}, forbidden)
	want := []string{
		"delivery/d.go imports queue: against ARCHITECTURE's direction",
		"exception \"x -> y\" is no longer needed: remove it",
		"newpkg: not in mayImport; add it with the directions ARCHITECTURE gives",
		"policy/p.go imports math/rand/v2, which policy must not",
		"policy/p.go imports os, which policy must not",
		"policy/p.go imports queue: against ARCHITECTURE's direction",
	}
	if !slices.Equal(got, want) {
		t.Errorf("import violations:\n got %q\nwant %q", got, want)
	}
	got = clockViolations(files, map[string]string{"bench/": "tools time themselves", "old.go": "gone"})
	want = []string{
		"queue/q.go:4: time.Now outside internal/clock: take a clock.Clock",
		"queue/q.go:5: time.After outside internal/clock: take a clock.Clock",
		"queue/q.go:5: time.Sleep outside internal/clock: take a clock.Clock",
		"time exception \"old.go\" is no longer needed: remove it",
	}
	if !slices.Equal(got, want) {
		t.Errorf("clock violations:\n got %q\nwant %q", got, want)
	}
	got = append(useViolations(files, "net", dialNames, "delivery/", nil, "dial"),
		useViolations(files, "go.uber.org/zap", globalLoggers, "", nil, "log")...)
	want = []string{"scheduler/s.go:3: net.Dial outside delivery: dial", "scheduler/s.go:3: go.uber.org/zap.L here: log"}
	if !slices.Equal(got, want) {
		t.Errorf("dial and logger violations:\n got %q\nwant %q", got, want)
	}
}
