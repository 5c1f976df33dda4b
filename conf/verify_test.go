package conf

import (
	"strings"
	"testing"
	"time"
)

func TestVerifyKeys(t *testing.T) {
	t.Parallel()
	c, err := Parse("mtaq.toml", []byte(`hostname = "mta.example.com"
[verify]
history_window = "240h"
smtp_probe = true
probe_rate = 2
probe_skip = ["example.com"]
`))
	if err != nil {
		t.Fatal(err)
	}
	v := c.Verify
	if v.HistoryWindow.Duration != 240*time.Hour || !v.SMTPProbe || v.ProbeRate != 2 ||
		len(v.ProbeSkip) != 1 || v.ProbeNegativeTTL.Duration != 24*time.Hour || v.Parallel != 64 {
		t.Fatalf("got %+v", v)
	}
	c, err = Parse("mtaq.toml", []byte("hostname = \"mta.example.com\"\n[verify]\nprobe_skip = []\n"))
	if err != nil || c.Verify.ProbeSkip == nil {
		t.Fatalf("probe_skip = [] must stay an empty list (probe every domain), got %v %v", c.Verify.ProbeSkip, err)
	}
	if d := Defaults().Verify; d.SMTPProbe || d.HistoryWindow.Duration != 30*24*time.Hour || d.ProbeSkip != nil {
		t.Fatalf("defaults %+v: probes off, 30 days, the built-in skip list", d)
	}
}

func TestVerifyValidated(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ toml, want string }{
		{`history_window = "0s"`, "mtaq.toml:3: verify.history_window:"},
		{`probe_rate = 0`, "mtaq.toml:3: verify.probe_rate:"},
		{`probe_skip = ["ok.test", "a@b"]`, "mtaq.toml:3: verify.probe_skip[1]:"},
		{`parallel = 5000`, "mtaq.toml:3: verify.parallel:"},
	} {
		_, err := Parse("mtaq.toml", []byte("hostname = \"mta.example.com\"\n[verify]\n"+c.toml+"\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.toml, err, c.want)
		}
	}
}
