package pickup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/maildrop"
	"github.com/mtaq/mtaq/queue"
)

func (h *harness) scan() int {
	h.t.Helper()
	n, err := h.p.Scan(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

func (h *harness) inCorrupt(name string) bool {
	_, err := os.Lstat(filepath.Join(h.dir, maildrop.CorruptDir, name))
	return err == nil
}

func TestBadFilesMovedAside(t *testing.T) {
	h := newHarness(t)
	good := maildrop.Marshal(maildrop.Envelope{Sender: "a@b.test", Rcpts: []string{"c@d.test"},
		Posted: h.clk.Now(), UID: os.Getuid()}, []byte("x\r\n"))
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, good, 0o600)
	files := map[string]func(path string){
		"garbage":   func(p string) { os.WriteFile(p, []byte("hello\n"), 0o600) },
		"other-uid": func(p string) { os.WriteFile(p, bytesReplace(good, "uid: ", "uid: 4"), 0o600) },
		"bad-rcpt":  func(p string) { os.WriteFile(p, bytesReplace(good, "c@d.test", "c@d..test"), 0o600) },
		"symlink":   func(p string) { os.Symlink(secret, p) },
		"hardlink":  func(p string) { os.Link(secret, p) },
		"too-big": func(p string) {
			os.WriteFile(p, append(good[:len(good)-3], make([]byte, 2<<20)...), 0o600)
		},
	}
	for name, mk := range files {
		mk(filepath.Join(h.dir, name))
	}
	if n := h.scan(); n != 0 {
		t.Fatalf("queued %d bad files", n)
	}
	for name := range files {
		if !h.inCorrupt(name) {
			t.Errorf("%s was not moved to corrupt/", name)
		}
	}
	if left := h.left(); len(left) != 0 || len(h.messages()) != 0 {
		t.Fatalf("left %v, queued %d", left, len(h.messages()))
	}
	if data, _ := os.ReadFile(secret); string(data) != string(good) {
		t.Fatal("the link target was changed")
	}
}

func bytesReplace(b []byte, old, new string) []byte {
	return []byte(strings.Replace(string(b), old, new, 1))
}

func TestSuppressedRecipientRejected(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if err := h.store.Suppress(ctx, queue.Suppression{Address: "gone@x.test", Reason: "hard_bounce",
		Created: h.clk.Now(), LastSeen: h.clk.Now(), Count: 1}); err != nil {
		t.Fatal(err)
	}
	h.drop("Gone@x.test", "ok@x.test", "OK@x.test")
	if n := h.scan(); n != 1 {
		t.Fatalf("queued %d", n)
	}
	m := h.messages()[0]
	if len(m.Recipients) != 2 || m.Recipients[0].State != queue.Rejected || m.Recipients[1].State != queue.Queued {
		t.Fatalf("recipients %+v", m.Recipients)
	}
	if err := h.store.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestTempFilesIgnoredThenReaped(t *testing.T) {
	h := newHarness(t)
	tmp := filepath.Join(h.dir, maildrop.TempPrefix+"123")
	os.WriteFile(tmp, []byte("MTAQ-MAILDROP 1\nsender: a@b.test\n"), 0o600)
	os.Chtimes(tmp, h.clk.Now(), h.clk.Now())
	if n := h.scan(); n != 0 {
		t.Fatalf("queued %d", n)
	}
	if _, err := os.Stat(tmp); err != nil || h.inCorrupt(maildrop.TempPrefix+"123") {
		t.Fatal("a file being written was touched")
	}
	h.clk.Advance(25 * time.Hour)
	h.scan()
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("an abandoned temporary file was kept")
	}
}

// failingStore refuses every Enqueue, like a full disk.
type failingStore struct{ Store }

func (failingStore) Enqueue(context.Context, *queue.Message, []byte) error { return queue.ErrNoSpace }

func TestStorageErrorKeepsFile(t *testing.T) {
	h := newHarness(t)
	name := h.drop("a@x.test")
	h.p.o.Store = failingStore{h.store}
	if _, err := h.p.Scan(context.Background()); !errors.Is(err, queue.ErrNoSpace) {
		t.Fatalf("Scan: %v, want ErrNoSpace", err)
	}
	if left := h.left(); len(left) != 1 || left[0] != name || h.inCorrupt(name) {
		t.Fatalf("file not kept for a retry: %v", left)
	}
	h.p.o.Store = h.store
	if n := h.scan(); n != 1 || len(h.left()) != 0 {
		t.Fatalf("retry queued %d, left %v", n, h.left())
	}
}
