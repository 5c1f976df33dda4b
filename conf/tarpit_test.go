package conf

import (
	"reflect"
	"testing"
	"time"
)

// TestDeliveryTimeoutsAndIPShare: the keys issue 22 (defect 6) added, their
// defaults, the per-IP cap derived from them, and their errors with lines.
func TestDeliveryTimeoutsAndIPShare(t *testing.T) {
	head := "hostname = \"mta.example.com\"\n[delivery]\n"
	c, err := Parse("mtaq.toml", []byte(head))
	if err != nil {
		t.Fatal(err)
	}
	d := c.Delivery
	if d.ConnectTimeout.Duration != 30*time.Second || d.GreetingTimeout.Duration != 5*time.Minute ||
		d.PerIPShare != 0.1 || d.PerIPLimit() != 10 {
		t.Fatalf("defaults %v %v %v (limit %d)", d.ConnectTimeout, d.GreetingTimeout, d.PerIPShare, d.PerIPLimit())
	}
	c, err = Parse("mtaq.toml", []byte(head+"workers = 8\nconnect_timeout = \"5s\"\ngreeting_timeout = \"1m\"\nper_ip_share = 0.5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Delivery; d.ConnectTimeout.Duration != 5*time.Second || d.GreetingTimeout.Duration != time.Minute || d.PerIPLimit() != 4 {
		t.Fatalf("parsed %+v (limit %d)", d, d.PerIPLimit())
	}
	if (Delivery{Workers: 5, PerIPShare: 0.1}).PerIPLimit() != 1 {
		t.Fatal("a share below one connection must still allow one")
	}
	_, err = Parse("mtaq.toml", []byte(head+"connect_timeout = \"0s\"\ngreeting_timeout = \"-1s\"\nper_ip_share = 0.0\n"))
	want := []string{"mtaq.toml:3: delivery.connect_timeout: must be positive, got 0s",
		"mtaq.toml:4: delivery.greeting_timeout: must be positive, got -1s",
		"mtaq.toml:5: delivery.per_ip_share: must be in (0, 1], got 0"}
	if got := lines(err); !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}
