package conf

import "testing"

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
