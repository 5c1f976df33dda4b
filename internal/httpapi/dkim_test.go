package httpapi

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/mtaq/mtaq/internal/dkim"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/queue"
)

// A message built from JSON is DKIM-signed by intake over its final bytes,
// and the signature verifies against the published key.
func TestSendJSONIsDKIMSigned(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer := dkim.New([]dkim.Key{{Domain: "app.test", Selector: "s1", Signer: priv}})
	h := newHarness(t, func(o *Options) {
		o.Intake = intake.New(intake.Options{Hostname: "mtaq.test", Store: o.Store.(*queue.PebbleStore), Clock: o.Clock,
			MaxMessageBytes: 1 << 20, DKIM: signer})
	})
	res := h.send(sendKey, fullRequest())
	body, err := h.store.Body(context.Background(), res.ID)
	if err != nil {
		t.Fatal(err)
	}
	txt, err := dkim.Record(pub)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(body), &msgdkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		if name != dkim.RecordName("s1", "app.test") {
			return nil, errors.New("no such record " + name)
		}
		return []string{txt}, nil
	}})
	if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "app.test" {
		t.Fatalf("verifications %+v, %v", vs, err)
	}
}
