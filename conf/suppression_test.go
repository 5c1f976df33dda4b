package conf

import (
	"strings"
	"testing"
	"time"
)

func TestSuppressionKeys(t *testing.T) {
	t.Parallel()
	c, err := Parse("mtaq.toml", []byte(`hostname = "mta.example.com"
[suppression]
hard_bounce_ttl = "168h"
soft_streak = 0
on_suppressed = "refuse"
[queue]
retention = "24h"
min_free_bytes = 8388608
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Suppression.HardBounceTTL.Duration != 168*time.Hour || c.Suppression.SoftStreak != 0 ||
		c.Suppression.OnSuppressed != "refuse" || c.Queue.Retention.Duration != 24*time.Hour ||
		c.Suppression.SoftBounceTTL.Duration != 720*time.Hour || c.Queue.MinFreeBytes != 8<<20 ||
		c.Suppression.TTLs().Unclassified != 720*time.Hour {
		t.Fatalf("got %+v %+v", c.Suppression, c.Queue)
	}
	_, err = Parse("mtaq.toml", []byte(`hostname = "mta.example.com"
[suppression]
on_suppressed = "drop"
hard_bounce_ttl = "-1h"
unclassified_ttl = "-2h"
[queue]
min_free_bytes = 4096
`))
	for _, want := range []string{`mtaq.toml:3: suppression.on_suppressed: must be "record" or "refuse"`, "mtaq.toml:4: suppression.hard_bounce_ttl",
		"mtaq.toml:5: suppression.unclassified_ttl: must not be negative",
		"mtaq.toml:7: queue.min_free_bytes: must be 0 (default 64 MiB), negative (no check) or at least 1048576, got 4096"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
	for _, v := range []string{"0", "-1", "1048576"} {
		if _, err := Parse("mtaq.toml", []byte("hostname = \"mta.example.com\"\n[queue]\nmin_free_bytes = "+v+"\n")); err != nil {
			t.Errorf("min_free_bytes = %s: %v", v, err)
		}
	}
}
