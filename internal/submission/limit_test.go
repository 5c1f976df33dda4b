package submission

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestFailureLogWindow(t *testing.T) {
	t.Parallel()
	f := newFailureLog(3, time.Minute)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	if f.add(a, t0) || f.add(a, t0.Add(30*time.Second)) || f.blocked(a, t0.Add(30*time.Second)) {
		t.Fatal("blocked after two failures")
	}
	if !f.add(a, t0.Add(40*time.Second)) || !f.blocked(a, t0.Add(59*time.Second)) || f.blocked(b, t0) {
		t.Fatal("not blocked after three, or the neighbour is")
	}
	if f.blocked(a, t0.Add(time.Minute)) { // the first has aged out
		t.Fatal("still blocked once the first failure aged out")
	}
	if f.blocked(a, t0.Add(2*time.Minute)); len(f.byClient) != 0 {
		t.Fatalf("aged-out client kept: %v", f.byClient)
	}
}

func TestFailureLogIPv6Per64AndSweep(t *testing.T) {
	t.Parallel()
	f := newFailureLog(2, time.Minute)
	f.add(netip.MustParseAddr("2001:db8::1"), t0)
	if !f.add(netip.MustParseAddr("2001:db8::ffff:2"), t0) || f.blocked(netip.MustParseAddr("2001:db8:0:1::1"), t0) {
		t.Fatal("a /64 is one client, the next /64 another")
	}
	for i := range 2000 {
		f.add(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), t0)
	}
	for i := range 100 { // the map reaches 2048 entries: the sweep drops the old ones
		f.add(netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}), t0.Add(time.Hour))
	}
	if len(f.byClient) > 100 {
		t.Fatalf("%d clients kept after they aged out", len(f.byClient))
	}
}

func TestMayUse(t *testing.T) {
	t.Parallel()
	u := &User{Name: "u", AllowedSenders: []string{"NoReply@a.test", "@B.test"}}
	for from, want := range map[string]bool{
		"noreply@A.TEST": true, "x@b.test": true, "x@B.TEST": true,
		"other@a.test": false, "x@sub.b.test": false, "b.test": false, "": false, "@b.test": true,
	} {
		if got := u.mayUse(from); got != want {
			t.Errorf("mayUse(%q) = %v", from, got)
		}
	}
	if !(&User{}).mayUse("") {
		t.Error("a user without a list may use any sender")
	}
}

func TestUserDB(t *testing.T) {
	t.Parallel()
	h5, err := bcrypt.GenerateFromPassword([]byte("pw"), 5)
	if err != nil {
		t.Fatal(err)
	}
	db, err := newUserDB([]User{{Name: "a", PasswordHash: hash(t, "pw")}, {Name: "b", PasswordHash: string(h5)}})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := bcrypt.Cost(db.dummy); c != 5 {
		t.Fatalf("dummy hash cost %d, want the highest in use (5)", c)
	}
	if db.verify("a", "pw") == nil || db.verify("b", "pw") == nil || db.verify("a", "PW") != nil || db.verify("c", "pw") != nil {
		t.Fatal("verify")
	}
	for _, users := range [][]User{{{Name: "a", PasswordHash: "x"}}, {{Name: "a", PasswordHash: string(h5)}, {Name: "a", PasswordHash: string(h5)}}} {
		if _, err := newUserDB(users); err == nil {
			t.Errorf("%v accepted", users)
		}
	}
	if db, err := newUserDB(nil); err != nil || db.verify("", "") != nil {
		t.Fatal(fmt.Sprint("no users: ", err))
	}
}

// Bookings: at most limit checks in flight or failed; one more waits until
// a booking ends, and is refused once limit failures are counted.
func TestFailureLogReserve(t *testing.T) {
	t.Parallel()
	f := newFailureLog(2, time.Minute)
	a := netip.MustParseAddr("192.0.2.1")
	for i := range 2 {
		if !f.reserve(a, t0) {
			t.Fatalf("reservation %d refused", i)
		}
	}
	if f.blocked(a, t0) {
		t.Fatal("checks in flight count as failures")
	}
	third := make(chan bool)
	go func() { third <- f.reserve(a, t0) }()
	select {
	case <-third:
		t.Fatal("a third booking granted while two are in flight")
	case <-time.After(20 * time.Millisecond): // it must still be waiting
	}
	f.release(a) // a right password: its slot goes to the waiter
	if !<-third {
		t.Fatal("the waiting booking was refused after a success")
	}
	if f.fail(a, t0) || !f.fail(a, t0) {
		t.Fatal("two failures of limit 2: blocked only after the second")
	}
	if f.reserve(a, t0.Add(time.Second)) || !f.blocked(a, t0.Add(time.Second)) {
		t.Fatal("a booking granted with limit failures counted")
	}
	if f.blocked(a, t0.Add(2*time.Minute)) || !f.reserve(a, t0.Add(2*time.Minute)) {
		t.Fatal("failures outlived the window")
	}
}

// Failures refuse the waiters: with limit checks in flight and more
// waiting, wrong passwords end the wait with a refusal, not a check.
func TestFailureLogWaitersRefusedAfterFailures(t *testing.T) {
	t.Parallel()
	f := newFailureLog(2, time.Minute)
	a := netip.MustParseAddr("192.0.2.1")
	f.reserve(a, t0)
	f.reserve(a, t0)
	waiters := make(chan bool, 5)
	for range 5 {
		go func() { waiters <- f.reserve(a, t0) }()
	}
	f.fail(a, t0)
	f.fail(a, t0)
	for range 5 {
		if <-waiters {
			t.Fatal("a waiter was granted a check after limit failures")
		}
	}
}
