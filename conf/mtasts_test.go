package conf

import (
	"strings"
	"testing"
)

func TestMTASTSKey(t *testing.T) {
	t.Parallel()
	if !Defaults().Delivery.MTASTS {
		t.Error("mta_sts is off by default")
	}
	const head = "hostname = \"h.example\"\n[delivery]\n"
	c, err := Parse("mtaq.toml", []byte(head+"mta_sts = false\n"))
	if err != nil || c.Delivery.MTASTS {
		t.Fatalf("mta_sts = false: %v, %v", c.Delivery.MTASTS, err)
	}
	_, err = Parse("mtaq.toml", []byte(head+"mta_sts = \"yes\"\n"))
	if want := "mtaq.toml:3: delivery.mta_sts: expected true or false, got a string"; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestDANEAndTLSRPTKeys(t *testing.T) {
	t.Parallel()
	if d := Defaults(); d.Delivery.DANE || d.TLSRPT.Enabled {
		t.Error("dane or tlsrpt on by default")
	}
	const head = "hostname = \"h.example\"\n"
	c, err := Parse("mtaq.toml", []byte(head+"[delivery]\ndane = true\n[tlsrpt]\nenabled = true\norganization_name = \"Example\"\ncontact_info = \"postmaster@h.example\"\n"))
	if err != nil || !c.Delivery.DANE || !c.TLSRPT.Enabled || c.TLSRPT.OrganizationName != "Example" {
		t.Fatalf("%+v %+v, %v", c.Delivery.DANE, c.TLSRPT, err)
	}
	_, err = Parse("mtaq.toml", []byte(head+"[tlsrpt]\nenabled = true\nfrom = \"Reports <r@h.example>\"\n"))
	for _, want := range []string{"tlsrpt.organization_name: is required", "tlsrpt.contact_info: is required",
		`tlsrpt.from: must be a bare address like tlsrpt@example.com, got "Reports <r@h.example>"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}
