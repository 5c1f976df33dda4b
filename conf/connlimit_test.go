package conf

import (
	"reflect"
	"testing"
)

func TestConnectionLimitKeys(t *testing.T) {
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
