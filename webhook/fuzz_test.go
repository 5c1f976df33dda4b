package webhook

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzVerify: whatever the headers and body, Verify never panics and never
// accepts a request whose body was not signed with the secret; what
// SignStandard signs always verifies.
func FuzzVerify(f *testing.F) {
	f.Add("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "evt_1", "1700000000", "v1,abc v1a,xyz", "sha256=00", []byte(`{"seq":1}`))
	f.Add("plain", "", "-1", "", "", []byte{})
	f.Add("whsec_***", "id.with.dots", "1e9", "v1,", "sha256=", []byte("x"))
	f.Fuzz(func(t *testing.T, secret, id, ts, sig, mtaqSig string, body []byte) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		h.Set(HeaderMtaqTimestamp, ts)
		h.Set(HeaderMtaqSignature, mtaqSig)
		at := now
		if sec, err := strconv.ParseInt(ts, 10, 64); err == nil {
			at = time.Unix(sec, 0)
		}
		if err := VerifyAt(secret, h, body, at, DefaultTolerance); err == nil {
			// Only a signature computed over this body can pass.
			want, _ := SignStandard(secret, id, ts, body)
			if sig != "" && !containsField(sig, want) {
				t.Fatalf("verified %q without the signature %q", sig, want)
			}
			if sig == "" && mtaqSig != SignMtaq(secret, ts, body) {
				t.Fatalf("verified X-Mtaq %q", mtaqSig)
			}
		}
		good, err := SignStandard(secret, id, ts, body)
		if err != nil {
			return // a bad whsec_ secret or a '.' in id or ts
		}
		h.Set(HeaderSignature, good)
		err = VerifyAt(secret, h, body, at, DefaultTolerance)
		if _, perr := strconv.ParseInt(ts, 10, 64); perr == nil && err != nil {
			t.Fatalf("own signature refused: %v", err)
		} else if perr != nil && !errors.Is(err, ErrTimestamp) && err != nil {
			t.Fatalf("bad timestamp %q: %v", ts, err)
		}
	})
}

func containsField(list, s string) bool {
	return slices.Contains(strings.Fields(list), s)
}
