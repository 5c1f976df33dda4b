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
