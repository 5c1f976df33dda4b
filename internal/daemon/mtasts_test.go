package daemon

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/mtaq/mtaq/delivery"
	"go.uber.org/zap"
)

// TestSTSFileSurvivesRestart: a policy put before a restart is there
// after it; a damaged file means an empty cache, not a failed start.
func TestSTSFileSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	p := delivery.CachedSTS{ID: "20261207", Fetched: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC),
		Policy: delivery.STSPolicy{Mode: delivery.STSEnforce, MX: []string{"mx.x.test", "*.y.test"}, MaxAge: 24 * time.Hour}}
	newSTSFile(dir, zap.NewNop()).PutSTS("x.test", p)
	got, ok := newSTSFile(dir, zap.NewNop()).GetSTS("x.test")
	if !ok || !reflect.DeepEqual(got, p) {
		t.Fatalf("after restart: %+v %v, want %+v", got, ok, p)
	}
	if err := os.WriteFile(filepath.Join(dir, "mta-sts.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := newSTSFile(dir, zap.NewNop()).GetSTS("x.test"); ok {
		t.Error("a damaged file gave a policy")
	}
}
