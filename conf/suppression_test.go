package conf

import (
	"strings"
	"testing"
	"time"
)

func TestSuppressionKeys(t *testing.T) {
	c, err := Parse("mtaq.toml", []byte(`hostname = "mta.example.com"
[suppression]
hard_bounce_ttl = "168h"
soft_streak = 0
on_suppressed = "refuse"
[queue]
retention = "24h"
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Suppression.HardBounceTTL.Duration != 168*time.Hour || c.Suppression.SoftStreak != 0 ||
		c.Suppression.OnSuppressed != "refuse" || c.Queue.Retention.Duration != 24*time.Hour ||
		c.Suppression.SoftBounceTTL.Duration != 720*time.Hour {
		t.Fatalf("got %+v %+v", c.Suppression, c.Queue)
	}
	_, err = Parse("mtaq.toml", []byte(`hostname = "mta.example.com"
[suppression]
on_suppressed = "drop"
hard_bounce_ttl = "-1h"
`))
	for _, want := range []string{`mtaq.toml:3: suppression.on_suppressed: must be "record" or "refuse"`, "mtaq.toml:4: suppression.hard_bounce_ttl"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
}
