package policy

import (
	"math"
	"time"
)

// WarmupGrowth is how much a warming source address's daily cap grows
// from one UTC day to the next.
const WarmupGrowth = 1.5

// Warmup is a new source address's daily cap per destination domain:
// Start on its first day (day 0), WarmupGrowth times the day before's on
// each day after, and no cap once Period has passed since day 0 began.
// With Start 50 over 720h: 50, 75, 112, 168, ... about 166,000 on day 20.
type Warmup struct {
	Start  int
	Period time.Duration // 0: no warm-up
}

// Cap returns the cap on day n (0 is the first day) and whether there is
// one. Float maths, floored: day 1 of Start 20 is 30, day 2 is 45.
func (w Warmup) Cap(n int) (int, bool) {
	if w.Period <= 0 || w.Start <= 0 || time.Duration(max(n, 0))*24*time.Hour >= w.Period {
		return 0, false
	}
	c := float64(w.Start) * math.Pow(WarmupGrowth, float64(max(n, 0)))
	if c >= math.MaxInt32 {
		return 0, false
	}
	return int(c), true
}
