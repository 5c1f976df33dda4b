package conf

import (
	_ "embed"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

//go:embed example.toml
var example []byte

func TestDefaultsValidate(t *testing.T) {
	t.Parallel()
	c := Defaults()
	if err := c.FillHostname(); err != nil {
		t.Skipf("no hostname: %v", err)
	}
	if err := Validate(c); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c.Hostname = ""
	if err := Validate(c); err == nil || !strings.Contains(err.Error(), "hostname") {
		t.Fatalf("empty hostname: got %v", err)
	}
}

func TestExampleLoads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "mtaq.toml")
	if err := os.WriteFile(path, example, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	// Apart from its one example operator rule and webhook, the example
	// file states the defaults.
	if len(c.Policy.Rules) != 1 || c.Policy.Rules[0].Name != "acme-block-is-temporary" {
		t.Fatalf("example rule: %+v", c.Policy.Rules)
	}
	if len(c.Webhooks) != 1 || c.Webhooks[0].URL != "https://app.example/hooks/mail" {
		t.Fatalf("example webhook: %+v", c.Webhooks)
	}
	c.Policy.Rules, c.Webhooks = nil, nil
	want := Defaults()
	want.Hostname = "mta.example.com"
	want.DataDir = "/var/lib/mtaq"
	want.Policy.Rules, want.Webhooks = nil, nil
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	wantP := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	if got := c.TrustedPrefixes(); !reflect.DeepEqual(got, wantP) {
		t.Fatalf("prefixes %v", got)
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.toml") {
		t.Fatalf("got %v", err)
	}
}

func TestOverlay(t *testing.T) {
	t.Parallel()
	c, err := Parse("m.toml", []byte("hostname = \"h.example\"\n[submission]\nlisten = [\"[::1]:25\", \":587\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Submission.Listen, []string{"[::1]:25", ":587"}) {
		t.Fatalf("listen %v", c.Submission.Listen)
	}
	if c.Delivery.Workers != 100 || c.Retry.First.Duration != 5*time.Minute {
		t.Fatalf("defaults lost: %+v", c)
	}
}

// lines returns the joined error's lines, for exact comparisons.
func lines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"unknown key", "hostname = \"h.example\"\n[submission]\nlisen = [\"x\"]\n",
			[]string{"mtaq.toml:3: submission.lisen: unknown key"}},
		{"unknown table", "hostname = \"h.example\"\n\n[telemetry]\nlisten = \":9\"\n",
			[]string{"mtaq.toml:3: telemetry: unknown table"}},
		{"bad duration", "hostname = \"h.example\"\n[retry]\nfirst = \"5x\"\n",
			[]string{`mtaq.toml:3: retry.first: invalid duration "5x" (use e.g. "90s", "5m", "24h")`}},
		{"type mismatch", "hostname = \"h.example\"\n[delivery]\nworkers = \"ten\"\n",
			[]string{"mtaq.toml:3: delivery.workers: expected an integer, got a string"}},
		{"array of strings", "hostname = \"h.example\"\n[submission]\nlisten = 25\n",
			[]string{"mtaq.toml:3: submission.listen: expected an array of strings, got an integer"}},
		{"workers zero", "hostname = \"h.example\"\n\n\n\n\n[delivery]\nworkers = 0\n",
			[]string{"mtaq.toml:7: delivery.workers: must be at least 1, got 0"}},
		{"syntax", "hostname = \"h.example\"\nport = \n",
			[]string{"mtaq.toml:2: unexpected character U+000A at start of value"}},
		{"type error then syntax error", "hostname = \"h.example\"\n[delivery]\nworkers = true\nport = \n",
			[]string{"mtaq.toml:3: delivery.workers: expected an integer, got a boolean",
				"mtaq.toml:4: unexpected character U+000A at start of value"}},
		{"unknown array of tables", "hostname = \"h.example\"\n[[hook.rule]]\nmatch = \"x\"\n[[hook.rule]]\nmatch = \"y\"\n",
			[]string{"mtaq.toml:2: hook.rule: unknown table", "mtaq.toml:4: hook.rule: unknown table"}},
		{"inline table", "hostname = \"h.example\"\ndelivery = { port = 0 }\n",
			[]string{"mtaq.toml:2: delivery.port: must be 1..65535, got 0"}},
		{"list element line", "hostname = \"h.example\"\n[submission]\ntrusted_networks = [\n  \"10.0.0.0/8\",\n  \"10.0.0/8\",\n]\n",
			[]string{`mtaq.toml:5: submission.trusted_networks[1]: "10.0.0/8" is not a CIDR prefix or IP address`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("mtaq.toml", []byte(tt.doc))
			if got := lines(err); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestManyErrorsAtOnce(t *testing.T) {
	t.Parallel()
	doc := `hostname = "bad_host"
data_dir = ""
[submission]
listen = ["127.0.0.1"]
trusted_networks = ["10.0.0.0/33", "::1"]
max_message_bytes = 10
max_recipients = "many"
bogus = 1
[delivery]
dns_servers = ["127.0.0.1", "resolver:53"]
port = 70000
workers = "x"
per_domain_concurrency = 0
[retry]
first = "10m"
max = "5m"
expire = "1m"
jitter = 1.0
[log]
level = "loud"
encoding = "xml"
`
	_, err := Parse("mtaq.toml", []byte(doc))
	want := []string{
		"mtaq.toml:7: submission.max_recipients: expected an integer, got a string",
		"mtaq.toml:12: delivery.workers: expected an integer, got a string",
		"mtaq.toml:8: submission.bogus: unknown key",
		`mtaq.toml:1: hostname: "bad_host" is not a valid DNS name`,
		"mtaq.toml:2: data_dir: must not be empty",
		`mtaq.toml:4: submission.listen[0]: "127.0.0.1" is not host:port`,
		`mtaq.toml:5: submission.trusted_networks[0]: "10.0.0.0/33" is not a CIDR prefix or IP address`,
		"mtaq.toml:6: submission.max_message_bytes: must be at least 1024, got 10",
		`mtaq.toml:10: delivery.dns_servers[1]: "resolver:53" is not ip or ip:port`,
		"mtaq.toml:11: delivery.port: must be 1..65535, got 70000",
		"mtaq.toml:13: delivery.per_domain_concurrency: must be at least 1, got 0",
		"mtaq.toml:16: retry.max: must be at least retry.first (10m0s), got 5m0s",
		"mtaq.toml:17: retry.expire: must be longer than retry.first (10m0s), got 1m0s",
		"mtaq.toml:18: retry.jitter: must be in [0, 1), got 1",
		`mtaq.toml:20: log.level: must be debug, info, warn or error, got "loud"`,
		`mtaq.toml:21: log.encoding: must be json or console, got "xml"`,
	}
	if got := lines(err); !reflect.DeepEqual(got, want) {
		t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var p *Problem
	if !errors.As(err, &p) || p.Line != 7 {
		t.Fatalf("errors.As Problem: %+v", p)
	}
}

func TestHelpers(t *testing.T) {
	t.Parallel()
	c := Defaults()
	c.Submission.TrustedNetworks = []string{"10.1.2.3/8", "192.0.2.7", "2001:db8::1"}
	c.Delivery.DNSServers = []string{"127.0.0.1", "::1", "[::1]:5353", "10.0.0.1:53"}
	wantP := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("2001:db8::1/128"),
	}
	if got := c.TrustedPrefixes(); !reflect.DeepEqual(got, wantP) {
		t.Errorf("prefixes %v", got)
	}
	wantD := []string{"127.0.0.1:53", "[::1]:53", "[::1]:5353", "10.0.0.1:53"}
	if got := c.DNSServerAddrs(); !reflect.DeepEqual(got, wantD) {
		t.Errorf("dns %v", got)
	}
}

func TestDurationText(t *testing.T) {
	t.Parallel()
	d := Duration{90 * time.Second}
	b, _ := d.MarshalText()
	var back Duration
	if err := back.UnmarshalText(b); err != nil || back != d {
		t.Fatalf("round trip %s: %v %v", b, back, err)
	}
}

func TestIsHostname(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"mta.example.com": true, "localhost": true, "a-b.c": true,
		"": false, "-a.com": false, "a-.com": false, "a..b": false, "a.": false,
		"1.2.3.4": false, "a_b.com": false, strings.Repeat("a", 64) + ".com": false,
	} {
		if got := isHostname(s); got != want {
			t.Errorf("isHostname(%q) = %v", s, got)
		}
	}
}

// The index must name lines inside list-shaped tables that later issues add
// ([[policy.rule]], [[webhook]]).
func TestIndexLines(t *testing.T) {
	t.Parallel()
	doc := "a = 1\n[[policy.rule]]\nmatch = \"x\"\n\n[[policy.rule]]\nmatch = \"y\"\nlist = [\n  1,\n  2,\n]\n[t]\nin = { k = 1 }\n"
	ix := buildIndex([]byte(doc))
	for path, want := range map[string]int{
		"a": 1, "policy.rule": 2, "policy.rule[0].match": 3, "policy.rule[1]": 5,
		"policy.rule[1].match": 6, "policy.rule[1].list[1]": 9, "t.in.k": 12,
		"t.in.missing": 12, "nope": 0,
	} {
		if got := ix.line(path); got != want {
			t.Errorf("line(%q) = %d, want %d", path, got, want)
		}
	}
}
