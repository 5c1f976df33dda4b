package metrics

import (
	"fmt"
	"testing"
)

func TestLabelerBoundsCardinality(t *testing.T) {
	t.Parallel()
	l := newLabeler(50, 10, 1000)
	labels := map[string]bool{}
	// 10,000 one-off domains interleaved with 60 busy ones.
	for i := 0; i < 10000; i++ {
		labels[l.count(fmt.Sprintf("tail%d.example", i))] = true
		labels[l.count(fmt.Sprintf("busy%d.example", i%60))] = true
		if named, cand := l.sizes(); named > 50 || cand > 1000 {
			t.Fatalf("after %d domains: %d named, %d counted", i, named, cand)
		}
	}
	if len(labels) > 51 {
		t.Fatalf("%d distinct labels, want at most 50 + other", len(labels))
	}
	if !labels[Other] {
		t.Fatal("no other label")
	}
	for l := range labels {
		if l != Other && l[:4] != "busy" {
			t.Fatalf("one-off domain %q got a label of its own", l)
		}
	}
}

func TestLabelerNamesAtMinVolume(t *testing.T) {
	t.Parallel()
	l := newLabeler(2, 3, 100)
	for i, want := range []string{Other, Other, "gmail.com", "gmail.com"} {
		if got := l.count("Gmail.COM"); got != want {
			t.Fatalf("outcome %d: label %q, want %q", i+1, got, want)
		}
	}
	if got := l.peek("gmail.com"); got != "gmail.com" {
		t.Fatalf("peek %q", got)
	}
	if got := l.peek("yahoo.com"); got != Other {
		t.Fatalf("peek of an unnamed domain: %q", got)
	}
	for i := 0; i < 3; i++ {
		l.count("yahoo.com")
	}
	for i := 0; i < 5; i++ {
		if got := l.count("outlook.com"); got != Other {
			t.Fatalf("third busy domain with top=2 got %q", got)
		}
	}
	if got := l.count(""); got != Other {
		t.Fatalf("empty domain: %q", got)
	}
	if got := l.count("other"); got != Other {
		t.Fatalf("a domain called other: %q", got)
	}
}

func TestLabelerCandidateTableCleared(t *testing.T) {
	t.Parallel()
	l := newLabeler(10, 5, 3)
	for i := 0; i < 100; i++ {
		l.count(fmt.Sprintf("d%d.example", i))
		if _, cand := l.sizes(); cand > 3 {
			t.Fatalf("candidate table grew to %d", cand)
		}
	}
	for i := 0; i < 5; i++ {
		l.count("busy.example")
	}
	if l.peek("busy.example") != "busy.example" {
		t.Fatal("a busy domain never got its label after the table was cleared")
	}
}
