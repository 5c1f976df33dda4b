package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/queue"
	"go.uber.org/zap"
)

// TestSTSStoreMigratesFile: a data_dir/mta-sts.json from before the cache
// moved into the queue is imported once and removed; the policy is there
// after a restart, and a newer policy in the queue is not overwritten by
// an older one from the file.
func TestSTSStoreMigratesFile(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	old := delivery.CachedSTS{ID: "20261207", Fetched: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC),
		Policy: delivery.STSPolicy{Mode: delivery.STSEnforce, MX: []string{"mx.x.test", "*.y.test"}, MaxAge: 24 * time.Hour}}
	newer := old
	newer.ID, newer.Fetched = "2", old.Fetched.Add(time.Hour)
	b, _ := json.Marshal(map[string]delivery.CachedSTS{"x.test": old, "z.test": old})
	file := filepath.Join(dir, "mta-sts.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	q, err := queue.Open(dir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := json.Marshal(newer)
	if err := q.PutSTSPolicy(ctx, "z.test", v); err != nil {
		t.Fatal(err)
	}
	if _, err := newSTSStore(ctx, q, dir, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("mta-sts.json still there: %v", err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q, err = queue.Open(dir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	s, err := newSTSStore(ctx, q, dir, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := s.GetSTS("x.test"); !ok || !reflect.DeepEqual(got, old) {
		t.Errorf("x.test after restart: %+v %v, want %+v", got, ok, old)
	}
	if got, _ := s.GetSTS("z.test"); got.ID != "2" {
		t.Errorf("z.test: id %q, want the newer 2", got.ID)
	}
	if got := s.STSDomains(); !reflect.DeepEqual(got, []string{"x.test", "z.test"}) {
		t.Errorf("domains %v", got)
	}
}
