package delivery

import (
	"slices"
	"sync"
	"testing"
)

func TestOnDNSErrorHearsEveryFailedLookup(t *testing.T) {
	e := newEnv(t)
	e.dns.ServFail("sf.test")
	e.dns.NXDomain("gone.test")
	e.dns.MX("hostfail.test", 10, "mx.hostfail.test")
	e.dns.ServFail("mx.hostfail.test")
	e.dns.MX("ok.test", 10, "mx.ok.test")
	e.dns.A("mx.ok.test", "127.0.0.2")
	e.smtp("127.0.0.2")
	var mu sync.Mutex
	var kinds []DNSErrorKind
	d := e.deliverer(func(o *Options) {
		o.OnDNSError = func(k DNSErrorKind) { mu.Lock(); kinds = append(kinds, k); mu.Unlock() }
	})
	for _, dom := range []string{"sf.test", "gone.test", "hostfail.test", "ok.test"} {
		d.Deliver(ctxT(t), job(dom, "a@"+dom))
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []DNSErrorKind{KindServFail, KindNXDomain, KindServFail}; !slices.Equal(kinds, want) {
		t.Fatalf("heard %v, want %v", kinds, want)
	}
}
