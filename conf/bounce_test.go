package conf

import (
	"os"
	"strings"
	"testing"
)

func TestBounceKeys(t *testing.T) {
	t.Parallel()
	c, err := Parse("mtaq.toml", []byte(`hostname = "mta.example.com"
[bounce]
listen = ["127.0.0.1:2526"]
return_path_domains = { "example.com" = "bounce.example.com" }
default_return_path_domain = "bounces.mta.example.com"
feedback_addresses = ["fbl@bounce.example.com"]
complaint_ttl = "8760h"
`))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Bounce
	if b.ReturnPathDomains["example.com"] != "bounce.example.com" || b.DefaultReturnPathDomain != "bounces.mta.example.com" ||
		b.FeedbackAddresses[0] != "fbl@bounce.example.com" || b.MaxMessageBytes != 10<<20 || !b.Enabled() {
		t.Fatalf("got %+v", b)
	}
	if d := Defaults().Bounce; d.Enabled() || len(d.Listen) != 0 || d.ComplaintTTL.Duration != 0 {
		t.Fatalf("defaults %+v: the feedback loop must be off until configured", d)
	}
}

// Each mistake names the file, the line and the key.
func TestBounceValidation(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ toml, want string }{
		{`return_path_domains = { "example.com" = "bounce.example.net" }`,
			`mtaq.toml:3: bounce.return_path_domains.example.com: "bounce.example.net" must be example.com or a subdomain of it`},
		{`return_path_domains = { "example.com" = "not a domain" }`, `"not a domain" is not a domain name`},
		{`feedback_addresses = ["Feedback <fbl@x.test>"]`, `mtaq.toml:3: bounce.feedback_addresses: "Feedback <fbl@x.test>" is not a plain address`},
		{`listen = ["127.0.0.1:2526"]`, `bounce.listen: nothing to receive`},
		{`complaint_ttl = "10m"`, `mtaq.toml:3: bounce.complaint_ttl: must be 0 (forever) or at least 1h`},
		{`max_message_bytes = 100`, `bounce.max_message_bytes`},
	} {
		_, err := Parse("mtaq.toml", []byte("hostname = \"mta.example.com\"\n[bounce]\n"+c.toml+"\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n got %v\nwant %s", c.toml, err, c.want)
		}
	}
}

func TestBounceSecretFileChecked(t *testing.T) {
	t.Parallel()
	short := t.TempDir() + "/secret"
	if err := os.WriteFile(short, []byte("tiny\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse("mtaq.toml", []byte("hostname = \"mta.example.com\"\n[bounce]\nsecret_file = \""+short+"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckFiles("mtaq.toml", c); err == nil || !strings.Contains(err.Error(), "bounce.secret_file") ||
		!strings.Contains(err.Error(), "at least 16") {
		t.Fatalf("CheckFiles: %v, want the short secret refused, naming bounce.secret_file", err)
	}
}
