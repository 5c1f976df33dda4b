package conf

import (
	"strings"
	"testing"
)

func TestMetricsKeys(t *testing.T) {
	t.Parallel()
	c, err := Parse("mtaq.toml", []byte(`hostname = "mta.example.com"
[metrics]
listen = "127.0.0.1:9464"
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Metrics.Listen != "127.0.0.1:9464" {
		t.Fatalf("got %+v", c.Metrics)
	}
	if d := Defaults().Metrics; d != (Metrics{}) {
		t.Fatalf("defaults %+v: no metrics server", d)
	}
}

func TestMetricsListenValidated(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"9464", "127.0.0.1:99999", "not a host:80"} {
		_, err := Parse("mtaq.toml", []byte(`hostname = "mta.example.com"
[metrics]
listen = "`+bad+`"
`))
		if err == nil || !strings.Contains(err.Error(), "mtaq.toml:3: metrics.listen:") {
			t.Errorf("listen %q: error %v", bad, err)
		}
	}
	for _, good := range []string{"127.0.0.1:0", ":9464", "[::1]:9464", "localhost:9464"} {
		c := Defaults()
		c.Hostname = "mta.example.com"
		c.Metrics.Listen = good
		if err := Validate(c); err != nil {
			t.Errorf("listen %q refused: %v", good, err)
		}
	}
}

func TestMetricsPprofNeedsListen(t *testing.T) {
	t.Parallel()
	_, err := Parse("mtaq.toml", []byte(`hostname = "mta.example.com"
[metrics]
pprof = true
`))
	if err == nil || !strings.Contains(err.Error(), "mtaq.toml:3: metrics.pprof: needs metrics.listen") {
		t.Fatalf("error %v", err)
	}
}
