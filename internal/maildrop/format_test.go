package maildrop

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var posted = time.Date(2026, 11, 23, 9, 0, 0, 123456789, time.UTC)

func sample() (Envelope, []byte) {
	return Envelope{Sender: "app@example.org", Rcpts: []string{"a@x.test", "b@y.test"}, Posted: posted, UID: 33},
		[]byte("Subject: hi\r\n\r\nhello\r\n")
}

func TestMarshalParseRoundTrip(t *testing.T) {
	e, body := sample()
	data := Marshal(e, body)
	want := "MTAQ-MAILDROP 1\nsender: app@example.org\nrcpt: a@x.test\nrcpt: b@y.test\n" +
		"posted: 2026-11-23T09:00:00.123456789Z\nuid: 33\n\nSubject: hi\r\n\r\nhello\r\n"
	if string(data) != want {
		t.Fatalf("Marshal:\n%q\nwant\n%q", data, want)
	}
	got, gotBody, err := Parse(data)
	if err != nil || !reflect.DeepEqual(got, e) || !bytes.Equal(gotBody, body) {
		t.Fatalf("Parse: %+v %q %v", got, gotBody, err)
	}
	e.Sender = ""
	if got, _, err := Parse(Marshal(e, body)); err != nil || got.Sender != "" {
		t.Fatalf("null sender: %+v %v", got, err)
	}
}

func TestParseStrict(t *testing.T) {
	e, body := sample()
	good := string(Marshal(e, body))
	for name, data := range map[string]string{
		"empty":          "",
		"no blank line":  strings.Replace(good, "\n\n", "\n", 1),
		"version 2":      strings.Replace(good, "MAILDROP 1", "MAILDROP 2", 1),
		"unknown field":  strings.Replace(good, "uid: 33\n", "uid: 33\nx-other: 1\n", 1),
		"sender twice":   strings.Replace(good, "uid: 33\n", "uid: 33\nsender: b@c.test\n", 1),
		"no sender":      strings.Replace(good, "sender: app@example.org\n", "", 1),
		"no rcpt":        strings.NewReplacer("rcpt: a@x.test\n", "", "rcpt: b@y.test\n", "").Replace(good),
		"no uid":         strings.Replace(good, "uid: 33\n", "", 1),
		"negative uid":   strings.Replace(good, "uid: 33", "uid: -1", 1),
		"uid +33":        strings.Replace(good, "uid: 33", "uid: +33", 1),
		"bad time":       strings.Replace(good, "2026-11-23T", "2026-13-23T", 1),
		"space in rcpt":  strings.Replace(good, "a@x.test", "a@x.test NOTIFY=NEVER", 1),
		"CR in sender":   strings.Replace(good, "app@example.org", "app@example.org\rX: y", 1),
		"empty rcpt":     strings.Replace(good, "rcpt: a@x.test", "rcpt: ", 1),
		"no colon":       strings.Replace(good, "uid: 33", "uid 33", 1),
		"bare LF body":   strings.Replace(good, "hello\r\n", "hello\n", 1),
		"bare CR body":   strings.Replace(good, "hello\r\n", "hel\rlo\r\n", 1),
		"NUL in body":    strings.Replace(good, "hello", "hel\x00lo", 1),
		"no final CRLF":  strings.TrimSuffix(good, "\r\n"),
		"empty body":     good[:strings.Index(good, "\n\n")+2],
		"CRLF envelope":  strings.ReplaceAll(good[:strings.Index(good, "\n\n")], "\n", "\r\n") + "\n\n" + string(body),
		"leading blank":  "\n" + good,
		"offset time":    strings.Replace(good, "09:00:00.123456789Z", "10:00:00.123456789+01:00", 1),
		"trailing space": strings.Replace(good, "uid: 33", "uid: 33 ", 1),
	} {
		if _, _, err := Parse([]byte(data)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: Parse accepted it (err %v)", name, err)
		}
	}
}

func TestDropIsAtomicAndListed(t *testing.T) {
	dir := t.TempDir()
	if err := Ensure(dir); err != nil {
		t.Fatal(err)
	}
	// A writer that died mid-file leaves only a tmp. file: never listed
	// as complete, reported as stale once old.
	os.WriteFile(filepath.Join(dir, TempPrefix+"dead"), []byte("MTAQ-MAILDROP 1\nsen"), 0o600)
	os.Mkdir(filepath.Join(dir, "corrupt"), 0o700) // a directory of an earlier version: skipped
	e, body := sample()
	name, err := Drop(dir, e, body)
	if err != nil {
		t.Fatal(err)
	}
	files, stale, err := List(dir, time.Now(), time.Hour)
	if err != nil || len(files) != 1 || files[0].Name != name || len(stale) != 0 {
		t.Fatalf("List: %+v %+v %v", files, stale, err)
	}
	if _, stale, _ = List(dir, time.Now().Add(2*time.Hour), time.Hour); len(stale) != 1 {
		t.Fatalf("stale tmp file not reported: %+v", stale)
	}
	info, _ := os.Stat(filepath.Join(dir, name))
	if info.Mode().Perm() != FileMode {
		t.Fatalf("file mode %v, want %v", info.Mode().Perm(), os.FileMode(FileMode))
	}
	data, _ := os.ReadFile(filepath.Join(dir, name))
	if _, _, err := Parse(data); err != nil {
		t.Fatal(err)
	}
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if strings.HasPrefix(de.Name(), TempPrefix) && de.Name() != TempPrefix+"dead" {
			t.Fatalf("Drop left its temporary file %s", de.Name())
		}
	}
}

func TestEnsureMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "maildrop")
	if err := Ensure(dir); err != nil {
		t.Fatal(err)
	}
	if err := Ensure(dir); err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(dir)
	if got := info.Mode() & (os.ModePerm | os.ModeSticky | os.ModeSetgid); got != DirMode {
		t.Fatalf("mode %v, want %v", got, os.FileMode(DirMode))
	}
	if err := Ensure(filepath.Join(t.TempDir(), "no", "parent")); err == nil {
		t.Fatal("Ensure created missing parents")
	}
}

func TestDropMissingDir(t *testing.T) {
	e, body := sample()
	if _, err := Drop(filepath.Join(t.TempDir(), "missing"), e, body); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err %v, want not exist", err)
	}
}

// FuzzParseMaildrop: Parse never panics, and whatever it accepts survives
// a Marshal/Parse round trip unchanged (M3).
func FuzzParseMaildrop(f *testing.F) {
	e, body := sample()
	f.Add(Marshal(e, body))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, body, err := Parse(data)
		if err != nil {
			return
		}
		e2, body2, err := Parse(Marshal(e, body))
		if err != nil || !reflect.DeepEqual(e, e2) || !bytes.Equal(body, body2) {
			t.Fatalf("round trip: %+v %q → %+v %q %v", e, body, e2, body2, err)
		}
	})
}
