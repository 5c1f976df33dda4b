package openapitest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/mtaq/mtaq/internal/httpapi"
)

// The validator is only worth something if it refuses: a response that
// breaks the schema must fail Check.
func TestCheckRefusesWrongShape(t *testing.T) {
	tr := New(t, httpapi.OpenAPI)
	req, _ := http.NewRequest("POST", "http://x/v1/messages", nil)
	h := http.Header{"Content-Type": {"application/json"}}
	if err := tr.Check(req, 202, h, []byte(`{"id":"X","recipients":[{"address":"a@b","status":"queued"}]}`)); err != nil {
		t.Fatalf("a good response refused: %v", err)
	}
	for _, bad := range []string{
		`{"recipients":[]}`,
		`{"id":"X","recipients":[{"address":"a@b","status":"sent"}]}`,
		`{"id":"X","recipients":[],"extra":1}`,
	} {
		if err := tr.Check(req, 202, h, []byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	ph := http.Header{"Content-Type": {"application/problem+json"}}
	if err := tr.Check(req, 400, ph, []byte(`{"title":"x","status":400}`)); err == nil || !strings.Contains(err.Error(), "type") {
		t.Errorf("a problem without type accepted: %v", err)
	}
}
