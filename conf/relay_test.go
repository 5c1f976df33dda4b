package conf

import (
	"reflect"
	"testing"
	"time"
)

func TestRelayKeys(t *testing.T) {
	t.Parallel()
	doc := `hostname = "h.example"
[delivery]
relay = "smtp.esp.example:587"
relay_username = "apikey"
relay_password_file = "/etc/mtaq/relay.secret"
relay_tls = "implicit"
tls_policy = { "Bank.example" = "require", "shop.example" = "opportunistic" }
connection_idle_timeout = "2s"
connection_max_messages = 50
`
	c, err := Parse("mtaq.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	d := c.Delivery
	if d.Relay != "smtp.esp.example:587" || d.RelayUsername != "apikey" || d.RelayPasswordFile != "/etc/mtaq/relay.secret" ||
		d.RelayTLS != "implicit" || d.ConnectionIdleTimeout.Duration != 2*time.Second || d.ConnectionMaxMessages != 50 {
		t.Errorf("got %+v", d)
	}
	want := map[string]string{"bank.example": "require", "shop.example": "opportunistic"}
	if got := d.TLSPolicies(); !reflect.DeepEqual(got, want) {
		t.Errorf("policies %v", got)
	}
}

func TestRelayDefaults(t *testing.T) {
	t.Parallel()
	d := Defaults().Delivery
	if d.Relay != "" || d.RelayTLS != "starttls" || d.ConnectionIdleTimeout.Duration != 5*time.Second ||
		d.ConnectionMaxMessages != 100 || len(d.TLSPolicy) != 0 {
		t.Errorf("defaults %+v", d)
	}
}

func TestRelayErrors(t *testing.T) {
	t.Parallel()
	const head = "hostname = \"h.example\"\n[delivery]\n"
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"password in plain text", `relay = "smtp.esp.example:25"` + "\n" + `relay_username = "u"` + "\n" +
			`relay_password = "p"` + "\n" + `relay_tls = "none"` + "\n",
			[]string{`mtaq.toml:6: delivery.relay_tls: "none" would send the relay password in plain text; use "starttls" or "implicit" (only a relay on loopback may go without TLS)`}},
		{"both passwords", `relay = "smtp.esp.example:587"` + "\n" + `relay_username = "u"` + "\n" +
			`relay_password = "p"` + "\n" + `relay_password_file = "/f"` + "\n",
			[]string{"mtaq.toml:6: delivery.relay_password_file: set relay_password or relay_password_file, not both"}},
		{"user without password", `relay = "smtp.esp.example:587"` + "\n" + `relay_username = "u"` + "\n",
			[]string{"mtaq.toml:4: delivery.relay_username: needs relay_password or relay_password_file"}},
		{"password without user", `relay = "smtp.esp.example:587"` + "\n" + `relay_password = "p"` + "\n",
			[]string{"mtaq.toml:2: delivery.relay_username: must be set with a relay password"}},
		{"credentials without relay", `relay_username = "u"` + "\n" + `relay_password = "p"` + "\n",
			[]string{"mtaq.toml:2: delivery.relay: must be set when relay_username or a relay password is"}},
		{"bad relay", `relay = "smtp.esp.example"` + "\n" + `relay_tls = "tls"` + "\n",
			[]string{`mtaq.toml:4: delivery.relay_tls: must be "starttls", "implicit" or "none", got "tls"`,
				`mtaq.toml:3: delivery.relay: "smtp.esp.example" is not host:port (port 1..65535, host a DNS name or an IP)`}},
		{"bad policy", `tls_policy = { "bank.example" = "must", "bad domain" = "require" }` + "\n",
			[]string{`mtaq.toml:3: delivery.tls_policy.bad domain: "bad domain" is not a domain name`,
				`mtaq.toml:3: delivery.tls_policy.bank.example: must be "require" or "opportunistic", got "must"`}},
		{"reuse numbers", `connection_idle_timeout = "-1s"` + "\n" + `connection_max_messages = 0` + "\n",
			[]string{"mtaq.toml:3: delivery.connection_idle_timeout: must not be negative (0 turns reuse off), got -1s",
				"mtaq.toml:4: delivery.connection_max_messages: must be at least 1, got 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("mtaq.toml", []byte(head+tc.doc))
			if got := lines(err); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
	// Plain text with credentials is fine to a relay on loopback.
	ok := head + `relay = "127.0.0.1:25"` + "\n" + `relay_username = "u"` + "\n" + `relay_password = "p"` + "\n" + `relay_tls = "none"` + "\n"
	if _, err := Parse("mtaq.toml", []byte(ok)); err != nil {
		t.Errorf("loopback relay without TLS: %v", err)
	}
}
