package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A body over submission.spool_threshold is spooled in data_dir/spool
// (mode 0700, emptied after the commit) and reaches the destination
// intact; a body file a crash left there is removed at start.
func TestSpooledBodyEndToEnd(t *testing.T) {
	dataDir := t.TempDir()
	spool := filepath.Join(dataDir, "spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spool, "body-left-by-a-crash"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, mx := destConfig(t, dataDir)
	c.Submission.SpoolThreshold = 4096
	d := startDaemon(t, Options{Config: c})
	if entries, _ := os.ReadDir(spool); len(entries) != 0 {
		t.Fatalf("spool at start: %v", entries)
	}
	o := submitBody(d.Addrs()[0].String(), "spooled")
	if o.code != 250 {
		t.Fatalf("submission: %+v", o)
	}
	if fi, err := os.Stat(spool); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("spool dir: %v %v", fi.Mode(), err)
	}
	if entries, _ := os.ReadDir(spool); len(entries) != 0 {
		t.Fatalf("spool after the commit: %v", entries)
	}
	for i := 0; len(mx.Messages()) == 0; i++ {
		if i == 1500 {
			t.Fatal("not delivered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := string(mx.Messages()[0].Data)
	if len(got) < bodySize || !strings.Contains(got, "Subject: spooled\r\n") || !strings.HasSuffix(got, "spooled \r\n") {
		t.Fatalf("delivered %d bytes, ending %q", len(got), got[max(0, len(got)-40):])
	}
}
