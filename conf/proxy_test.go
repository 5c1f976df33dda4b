package conf

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestProxyProtocol(t *testing.T) {
	t.Parallel()
	c, err := Parse("mtaq.toml", []byte(`hostname = "mta.example.com"
[submission]
proxy_protocol = true
proxy_networks = ["10.0.0.2", "192.0.2.0/24"]
[http]
listen = ["127.0.0.1:8025"]
proxy_protocol = true
proxy_networks = ["::1"]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32"), netip.MustParsePrefix("192.0.2.0/24")}
	if got := c.Submission.ProxyPrefixes(); !slices.Equal(got, want) {
		t.Errorf("submission %v, want %v", got, want)
	}
	if got := c.HTTP.ProxyPrefixes(); len(got) != 1 || got[0] != netip.MustParsePrefix("::1/128") {
		t.Errorf("http %v", got)
	}
	if d := Defaults(); d.Submission.ProxyPrefixes() != nil || d.HTTP.ProxyProtocol {
		t.Errorf("PROXY protocol on by default: %+v %+v", d.Submission.Proxy, d.HTTP.Proxy)
	}
}

func TestProxyProblems(t *testing.T) {
	t.Parallel()
	_, err := Parse("mtaq.toml", []byte(`hostname = "mta.example.com"
[submission]
proxy_protocol = true
[http]
proxy_networks = ["10.0.0.0/33"]
`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"mtaq.toml:3: submission.proxy_protocol: needs submission.proxy_networks",
		`mtaq.toml:5: http.proxy_networks[0]: "10.0.0.0/33" is not a CIDR prefix or IP address`,
		"mtaq.toml:5: http.proxy_networks: has no effect without http.proxy_protocol = true",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	_, err = Parse("mtaq.toml", []byte("hostname = \"mta.example.com\"\n[submission]\nproxy_protocol = \"yes\"\n"))
	if err == nil || !strings.Contains(err.Error(), "mtaq.toml:3: submission.proxy_protocol: expected true or false, got a string") {
		t.Errorf("a string for a bool: %v", err)
	}
}
