package policy

import (
	"testing"
	"time"
)

func TestWarmupCap(t *testing.T) {
	t.Parallel()
	w := Warmup{Start: 20, Period: 720 * time.Hour}
	for _, c := range []struct {
		day, cap int
		capped   bool
	}{
		{0, 20, true}, {1, 30, true}, {2, 45, true}, {3, 67, true}, {29, 2556680, true}, {30, 0, false}, {400, 0, false},
	} {
		got, ok := w.Cap(c.day)
		if got != c.cap || ok != c.capped {
			t.Errorf("day %d: %d, %v; want %d, %v", c.day, got, ok, c.cap, c.capped)
		}
	}
	if _, ok := (Warmup{Start: 50}).Cap(0); ok {
		t.Error("no period: capped")
	}
	if _, ok := (Warmup{Start: 1, Period: 24 * 365 * time.Hour}).Cap(100); ok {
		t.Error("a cap beyond int32 is no cap")
	}
}
