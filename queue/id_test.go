package queue

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewIDSortsByCreation(t *testing.T) {
	var ids []string
	for i := range 2000 {
		// Many per millisecond, and steps across milliseconds and years.
		at := t0.Add(time.Duration(i/100) * time.Millisecond)
		if i >= 1900 {
			at = t0.AddDate(i-1899, 0, 0)
		}
		ids = append(ids, NewID(at))
	}
	if !slices.IsSorted(ids) {
		t.Fatal("IDs are not in creation order")
	}
	if len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Fatal("duplicate IDs")
	}
	for _, id := range ids {
		if len(id) != 16 || strings.Trim(id, idAlphabet) != "" {
			t.Fatalf("id %q: want 16 chars of %s", id, idAlphabet)
		}
	}
	if at, ok := idTime(ids[0]); !ok || !at.Equal(t0) {
		t.Fatalf("idTime = %v, %v; want %v", at, ok, t0)
	}
}

func TestEnqueueAssignsTimeOrderedIDs(t *testing.T) {
	e := newEnv(t)
	late := e.enqueue(msg(t0.Add(time.Second), "a@x.test"), "b")
	early := e.enqueue(msg(t0, "a@x.test"), "b")
	if !(early < late) {
		t.Fatalf("earlier arrival got the larger ID: %s >= %s", early, late)
	}
	ms, err := e.s.List(bg, Filter{})
	if err != nil || len(ms) != 2 || ms[0].ID != early {
		t.Fatalf("List is not in arrival order: %v", err)
	}
}

// TestEnqueueRefusesAnIDInUse: Enqueue skips its lookup for IDs above the
// greatest one the store holds, so a taken ID must still be refused, below
// and at that mark, and after a restart (the mark is found again at Open).
func TestEnqueueRefusesAnIDInUse(t *testing.T) {
	e := newEnv(t)
	first := e.enqueue(msg(t0, "a@example.test"), "one")
	low := msg(t0, "b@example.test")
	low.ID = "0000000000000001" // below every generated ID
	e.enqueue(low, "low")
	high := msg(t0, "c@example.test")
	high.ID = "zz-caller-chosen" // above every generated ID
	e.enqueue(high, "high")

	refused := func(id string) {
		t.Helper()
		m := msg(t0, "intruder@example.test")
		m.ID = id
		if err := e.s.Enqueue(bg, m, []byte("intruder")); err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Errorf("enqueue over %s: %v, want already exists", id, err)
		}
		if got := e.message(id).Recipients[0].Address; got == "intruder@example.test" {
			t.Errorf("%s was overwritten", id)
		}
	}
	for _, id := range []string{first, low.ID, high.ID} {
		refused(id)
	}
	e.reopen()
	for _, id := range []string{first, low.ID, high.ID} {
		refused(id)
	}
	fresh := e.enqueue(msg(t0.Add(time.Hour), "d@example.test"), "fresh")
	if e.message(fresh).Recipients[0].Address != "d@example.test" {
		t.Errorf("a new generated ID after the restart: %s", fresh)
	}
}
