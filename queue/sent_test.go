package queue

import (
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Counters add up per day, source IP and domain; the first day of an
// address is kept; old days go; a later synced batch makes them survive
// a crash (AddSent itself does not sync).
func TestSentCounters(t *testing.T) {
	e := newEnv(t)
	d := Day(t0)
	e.ok(e.s.AddSent(bg, []SentCount{{Day: d - 3, SourceIP: "192.0.2.1", Domain: "old.test", N: 9}}))
	e.ok(e.s.AddSent(bg, []SentCount{
		{Day: d, SourceIP: "192.0.2.1", Domain: "a.test", N: 2},
		{Day: d, SourceIP: "192.0.2.1", Domain: "a.test", N: 3},
		{Day: d, SourceIP: "2001:db8::1", Domain: "b.test", N: 1},
	}))
	got, err := e.s.SentOn(bg, d)
	if err != nil {
		t.Fatal(err)
	}
	want := []SentCount{{Day: d, SourceIP: "192.0.2.1", Domain: "a.test", N: 5}, {Day: d, SourceIP: "2001:db8::1", Domain: "b.test", N: 1}}
	if !slices.Equal(got, want) {
		t.Errorf("SentOn = %+v, want %+v", got, want)
	}
	if old, _ := e.s.SentOn(bg, d-3); len(old) != 0 {
		t.Errorf("day-3 counters kept: %+v", old)
	}
	starts, err := e.s.SentStarts(bg)
	if err != nil || starts["192.0.2.1"] != d-3 || starts["2001:db8::1"] != d {
		t.Errorf("starts %v, %v", starts, err)
	}
	if !DayStart(d).Equal(t0.Truncate(24*time.Hour)) || Day(DayStart(d+1)) != d+1 {
		t.Errorf("DayStart(%d) = %v", d, DayStart(d))
	}

	m := msg(t0, "ann@example.com")
	m.Pool = "bulk"
	id := e.enqueue(m, "x\r\n") // a synced batch after
	if p := e.message(id).Pool; p != "bulk" {
		t.Errorf("message pool %q, want bulk", p)
	}
	s := e.open(e.fs.CrashClone(vfs.CrashCloneCfg{}))
	defer s.Close()
	if got, err := s.SentOn(bg, d); err != nil || !slices.Equal(got, want) {
		t.Errorf("after crash: %+v, %v", got, err)
	}
}
