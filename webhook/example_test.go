package webhook_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/mtaq/mtaq/webhook"
)

// A receiver checks each request before it trusts the JSON.
func ExampleVerify() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // the [[webhook]] secret

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "reading the body", http.StatusBadRequest)
			return
		}
		if err := webhook.Verify(secret, r.Header, body); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		// Deduplicate by r.Header.Get(webhook.HeaderID), then decode body.
		fmt.Println("verified", r.Header.Get(webhook.HeaderID))
	})

	// What mtaq sends, signed now.
	body := `{"event":"delivered","seq":7}`
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sig, _ := webhook.SignStandard(secret, "evt_7", ts, []byte(body))
	req := httptest.NewRequest(http.MethodPost, "/hooks/mtaq", strings.NewReader(body))
	req.Header.Set(webhook.HeaderID, "evt_7")
	req.Header.Set(webhook.HeaderTimestamp, ts)
	req.Header.Set(webhook.HeaderSignature, sig)
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)

	// A forged request is refused.
	req = httptest.NewRequest(http.MethodPost, "/hooks/mtaq", strings.NewReader(`{"event":"delivered","seq":8}`))
	req.Header.Set(webhook.HeaderID, "evt_7")
	req.Header.Set(webhook.HeaderTimestamp, ts)
	req.Header.Set(webhook.HeaderSignature, sig)
	rec = httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	fmt.Println(rec.Code)
	// Output:
	// verified evt_7
	// 401
}
