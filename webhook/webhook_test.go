package webhook

import (
	"bytes"
	"errors"
	"net/http"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

var now = time.Unix(1700000000, 0)

func signed(secret, id string, at time.Time, body []byte) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	sig, err := SignStandard(secret, id, ts, body)
	if err != nil {
		panic(err)
	}
	h := http.Header{}
	h[HeaderID] = []string{id} // as mtaq sets them: lower case, not canonicalised
	h[HeaderTimestamp] = []string{ts}
	h[HeaderSignature] = []string{sig}
	h.Set(HeaderMtaqTimestamp, ts)
	h.Set(HeaderMtaqSignature, SignMtaq(secret, ts, body))
	return h
}

// TestMtaqRecipe: the X-Mtaq scheme is the README's openssl recipe,
// printf '1700000000.{"seq":1}' | openssl dgst -sha256 -hmac secret
func TestMtaqRecipe(t *testing.T) {
	t.Parallel()
	got := SignMtaq("secret", "1700000000", []byte(`{"seq":1}`))
	if got != "sha256=de44acd957813f3e827d17d95cf7d690ba2085a7f13db6d432fd9d5cff6fdf22" {
		t.Fatalf("sign: %s", got)
	}
	cmd := exec.Command("openssl", "dgst", "-sha256", "-hmac", "secret", "-r")
	cmd.Stdin = bytes.NewReader([]byte(`1700000000.{"seq":1}`))
	o, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl (Debian: openssl): %v", err)
	}
	if string(o[:64]) != got[len("sha256="):] {
		t.Fatalf("openssl says %s, we say %s", o, got)
	}
}

func TestVerifyBothSchemes(t *testing.T) {
	t.Parallel()
	body := []byte(`{"event":"delivered","seq":7}`)
	for _, secret := range []string{"app-secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"} {
		h := signed(secret, "evt_7", now, body)
		if err := VerifyAt(secret, h, body, now.Add(time.Minute), DefaultTolerance); err != nil {
			t.Errorf("%s: standard: %v", secret, err)
		}
		// A receiver that strips unknown headers still verifies by X-Mtaq.
		mtaqOnly := http.Header{}
		mtaqOnly.Set(HeaderMtaqTimestamp, h.Get(HeaderMtaqTimestamp))
		mtaqOnly.Set(HeaderMtaqSignature, h.Get(HeaderMtaqSignature))
		if err := VerifyAt(secret, mtaqOnly, body, now, DefaultTolerance); err != nil {
			t.Errorf("%s: x-mtaq: %v", secret, err)
		}
		for name, tc := range map[string]struct {
			h    http.Header
			body []byte
			at   time.Time
			want error
		}{
			"changed body":   {h, []byte(`{"event":"delivered","seq":8}`), now, ErrSignature},
			"changed id":     {with(h, HeaderID, "evt_8"), body, now, ErrSignature},
			"old":            {h, body, now.Add(6 * time.Minute), ErrTimestamp},
			"future":         {h, body, now.Add(-6 * time.Minute), ErrTimestamp},
			"no timestamp":   {with(h, HeaderTimestamp, ""), body, now, ErrTimestamp},
			"x-mtaq changed": {mtaqOnly, []byte("{}"), now, ErrSignature},
			"x-mtaq old":     {mtaqOnly, body, now.Add(time.Hour), ErrTimestamp},
			"unsigned":       {http.Header{}, body, now, ErrNoSignature},
		} {
			if err := VerifyAt(secret, tc.h, tc.body, tc.at, DefaultTolerance); !errors.Is(err, tc.want) {
				t.Errorf("%s: %s: %v, want %v", secret, name, err, tc.want)
			}
		}
		if err := VerifyAt("other-secret", h, body, now, DefaultTolerance); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: another secret verified: %v", secret, err)
		}
	}
}

// A receiver rotating secrets gets several signatures; one match is enough.
func TestVerifySeveralSignatures(t *testing.T) {
	t.Parallel()
	body := []byte("{}")
	h := signed("new", "evt_1", now, body)
	old, _ := SignStandard("old", "evt_1", std(h, HeaderTimestamp), body)
	h[HeaderSignature] = []string{old + " " + std(h, HeaderSignature)}
	if err := VerifyAt("new", h, body, now, DefaultTolerance); err != nil {
		t.Fatal(err)
	}
}

func TestStandardSecret(t *testing.T) {
	t.Parallel()
	if _, err := StandardKey("whsec_not*base64"); !errors.Is(err, ErrSecret) {
		t.Fatalf("bad whsec_: %v", err)
	}
	// A plain secret and its whsec_ form sign alike, so a receiver using a
	// Standard Webhooks library with StandardSecret(secret) verifies.
	a, _ := SignStandard("app-secret", "evt_1", "1700000000", []byte("{}"))
	b, _ := SignStandard(StandardSecret("app-secret"), "evt_1", "1700000000", []byte("{}"))
	if a != b || StandardSecret("whsec_AAAA") != "whsec_AAAA" {
		t.Fatalf("%s != %s", a, b)
	}
	if _, err := SignStandard("k", "evt.1", "1", nil); err == nil {
		t.Fatal("an id with '.' was signed")
	}
}

// TestStandardAgainstPython: an independent verifier written from the
// specification with Python's hmac and base64 accepts our signatures and
// refuses a changed body.
func TestStandardAgainstPython(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	if err != nil {
		missingTool(t, "python3 is not installed (Debian: python3)")
	}
	for _, secret := range []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", StandardSecret("plain secret")} {
		body := []byte(`{"event":"bounced","recipient":"a@x.test","seq":42}`)
		h := signed(secret, "evt_42", now, body)
		for _, tc := range []struct {
			body []byte
			ok   bool
		}{{body, true}, {append(body, ' '), false}} {
			cmd := exec.Command(py, "testdata/standard_verify.py", secret, std(h, HeaderID), std(h, HeaderTimestamp), std(h, HeaderSignature))
			cmd.Stdin = bytes.NewReader(tc.body)
			out, err := cmd.CombinedOutput()
			if (err == nil) != tc.ok {
				t.Errorf("%s, body %q: python says %v %s, want ok=%v", secret, tc.body, err, out, tc.ok)
			}
		}
	}
}

func with(h http.Header, k, v string) http.Header {
	c := h.Clone()
	c[k] = []string{v}
	return c
}

// std reads a Standard Webhooks header from a header built by signed.
func std(h http.Header, k string) string {
	return h[k][0]
}

// TestStandardVector: the example the Standard Webhooks reference
// libraries test against (secret, id, timestamp, payload and signature).
func TestStandardVector(t *testing.T) {
	t.Parallel()
	got, err := SignStandard("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
		[]byte(`{"test": 2432232314}`))
	if err != nil || got != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("%s, %v", got, err)
	}
}
