package conf

import (
	"reflect"
	"testing"
	"time"
)

func TestConnectionLimitKeys(t *testing.T) {
	t.Parallel()
	d := Defaults().Submission
	if d.MaxConnections != 1000 || d.MaxConnectionsPerIP != 100 {
		t.Fatalf("defaults %d %d", d.MaxConnections, d.MaxConnectionsPerIP)
	}
	c, err := Parse("mtaq.toml", []byte("hostname = \"mta.example.com\"\n[submission]\nmax_connections = -1\nmax_connections_per_ip = 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Submission.MaxConnections != -1 || c.Submission.MaxConnectionsPerIP != 0 {
		t.Fatalf("got %+v", c.Submission)
	}
	for doc, want := range map[string][]string{
		"max_connections = 10\nmax_connections_per_ip = 20\n": {
			"mtaq.toml:4: submission.max_connections_per_ip: must not exceed max_connections (10), got 20"},
		"max_connections = 50\nmax_connections_per_ip = 0\n": { // 0 is the default 100
			"mtaq.toml:4: submission.max_connections_per_ip: must not exceed max_connections (50), got 100 (the default)"},
		"max_connections = \"many\"\n": {
			"mtaq.toml:3: submission.max_connections: expected an integer, got a string"},
	} {
		_, err := Parse("mtaq.toml", []byte("hostname = \"mta.example.com\"\n[submission]\n"+doc))
		if got := lines(err); !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\ngot  %q\nwant %q", doc, got, want)
		}
	}
}

// Security issue 22's keys: defaults, and each refused with its line.
func TestIssue22Keys(t *testing.T) {
	d := Defaults().Submission
	if d.MaxConnectionsUntrusted != 0 || d.MaxConnectionsUntrustedPerIP != 10 || d.MaxConnectionsUntrustedPerNet != 50 ||
		d.MaxSessionDuration.Duration != 30*time.Minute || d.SpoolThreshold != 256<<10 || d.MaxBytesInFlight != 512<<20 {
		t.Fatalf("defaults %+v", d)
	}
	c, err := Parse("mtaq.toml", []byte("hostname = \"mta.example.com\"\n[submission]\nmax_connections_untrusted = 600\n"+
		"max_connections_untrusted_per_ip = -1\nmax_connections_untrusted_per_net = 20\nmax_session_duration = \"10m\"\n"+
		"spool_threshold = 65536\nmax_bytes_in_flight = -1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Submission; s.MaxConnectionsUntrusted != 600 || s.MaxConnectionsUntrustedPerIP != -1 || s.MaxConnectionsUntrustedPerNet != 20 ||
		s.MaxSessionDuration.Duration != 10*time.Minute || s.SpoolThreshold != 65536 || s.MaxBytesInFlight != -1 {
		t.Fatalf("got %+v", s)
	}
	for doc, want := range map[string][]string{
		"max_connections = 100\nmax_connections_untrusted = 100\n": {
			"mtaq.toml:4: submission.max_connections_untrusted: must be below max_connections (100) so some connections stay for trusted and authenticated clients, got 100"},
		"max_session_duration = \"0s\"\n": {"mtaq.toml:3: submission.max_session_duration: must be at least 1s, got 0s"},
		"spool_threshold = 100\n":         {"mtaq.toml:3: submission.spool_threshold: must be at least 4096, got 100"},
		"max_bytes_in_flight = 1000000\n": {
			"mtaq.toml:3: submission.max_bytes_in_flight: must be at least max_message_bytes (26214400), or negative for no limit, got 1000000"},
	} {
		_, err := Parse("mtaq.toml", []byte("hostname = \"mta.example.com\"\n[submission]\n"+doc))
		if got := lines(err); !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\ngot  %q\nwant %q", doc, got, want)
		}
	}
}
