package conf

import (
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// The [delivery] keys for the smarthost, TLS policy and connection reuse:
//
//	relay = "smtp.esp.example:587"      # "" (default): deliver to MX hosts
//	relay_username = "apikey"           # AUTH PLAIN or LOGIN when set
//	relay_password = "..."              # or relay_password_file, not both
//	relay_tls = "starttls"              # "starttls" | "implicit" | "none"
//	tls_policy = { "bank.example" = "require" }
//	mta_sts = true                      # honour MTA-STS policies (RFC 8461)
//	connection_idle_timeout = "5s"      # "0s": no reuse
//	connection_max_messages = 100
//
// relay_tls "starttls" and "implicit" verify the relay's certificate;
// "none" with credentials is refused unless the relay is on loopback, so
// a password never crosses a network in plain text.

// TLS policy values.
const (
	TLSRequire       = "require"
	TLSOpportunistic = "opportunistic"
)

// TLSPolicies returns delivery.tls_policy with lower-case domains.
func (d Delivery) TLSPolicies() map[string]string {
	out := make(map[string]string, len(d.TLSPolicy))
	for dom, mode := range d.TLSPolicy {
		out[strings.ToLower(dom)] = mode
	}
	return out
}

func validateRelay(k *checker, d Delivery) {
	validateTLSPolicy(k, d.TLSPolicy)
	if d.ConnectionIdleTimeout.Duration < 0 {
		k.add("delivery.connection_idle_timeout", "must not be negative (0 turns reuse off), got %v",
			d.ConnectionIdleTimeout.Duration)
	}
	k.atLeast("delivery.connection_max_messages", int64(d.ConnectionMaxMessages), 1)
	switch d.RelayTLS {
	case "starttls", "implicit", "none":
	default:
		k.add("delivery.relay_tls", `must be "starttls", "implicit" or "none", got %q`, d.RelayTLS)
	}
	creds := d.RelayUsername != "" || d.RelayPassword != "" || d.RelayPasswordFile != ""
	if d.Relay == "" {
		if creds {
			k.add("delivery.relay", "must be set when relay_username or a relay password is")
		}
		return
	}
	host, ok := relayHost(d.Relay)
	if !ok {
		k.add("delivery.relay", "%q is not host:port (port 1..65535, host a DNS name or an IP)", d.Relay)
	}
	validateRelayCreds(k, d)
	if d.RelayUsername != "" && d.RelayTLS == "none" && ok && !isLoopback(host) {
		k.add("delivery.relay_tls", `"none" would send the relay password in plain text; use "starttls" or "implicit" (only a relay on loopback may go without TLS)`)
	}
}

func validateRelayCreds(k *checker, d Delivery) {
	pass := d.RelayPassword != "" || d.RelayPasswordFile != ""
	switch {
	case d.RelayPassword != "" && d.RelayPasswordFile != "":
		k.add("delivery.relay_password_file", "set relay_password or relay_password_file, not both")
	case d.RelayUsername != "" && !pass:
		k.add("delivery.relay_username", "needs relay_password or relay_password_file")
	case d.RelayUsername == "" && pass:
		k.add("delivery.relay_username", "must be set with a relay password")
	}
	if strings.ContainsAny(d.RelayUsername, "\x00\r\n") {
		k.add("delivery.relay_username", "must not contain NUL, CR or LF")
	}
}

func validateTLSPolicy(k *checker, p map[string]string) {
	for _, dom := range slices.Sorted(maps.Keys(p)) {
		mode := p[dom]
		key := "delivery.tls_policy." + dom
		if !isHostname(dom) {
			k.add(key, "%q is not a domain name", dom)
		}
		if mode != TLSRequire && mode != TLSOpportunistic {
			k.add(key, `must be "require" or "opportunistic", got %q`, mode)
		}
	}
}

// relayHost returns the host of a valid relay address.
func relayHost(a string) (string, bool) {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return "", false
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", false
	}
	return host, isIP(host) || isHostname(host)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
