// Package openapitest checks HTTP API responses against the OpenAPI
// document (internal/httpapi's openapi.json, passed in: httpapi's own
// tests use this package) for tests: a RoundTripper
// that validates every response it carries, so each test that talks to
// the API also tests the document. It owns nothing else.
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Load parses and validates the document (3.1, JSON Schema 2020-12).
func Load(t testing.TB, data []byte) (*openapi3.T, routers.Router) {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi.json is %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json does not validate: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("openapi.json routes: %v", err)
	}
	return doc, router
}

// Transport validates each response against the document and fails t on
// a mismatch; Checked counts responses validated, by "METHOD path status".
type Transport struct {
	T      testing.TB
	Base   http.RoundTripper
	router routers.Router
	doc    *openapi3.T

	mu      sync.Mutex
	Checked map[string]int
}

// New returns a Transport over http.DefaultTransport checking against
// the document data.
func New(t testing.TB, data []byte) *Transport {
	doc, r := Load(t, data)
	return &Transport{T: t, Base: http.DefaultTransport, router: r, doc: doc, Checked: map[string]int{}}
}

// Client is an http.Client through tr.
func (tr *Transport) Client() *http.Client { return &http.Client{Transport: tr} }

// RoundTrip implements http.RoundTripper.
func (tr *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := tr.Base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := tr.Check(req, resp.StatusCode, resp.Header, body); err != nil {
		tr.T.Errorf("%s %s -> %d: response does not match openapi.json: %v\n%s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
	return resp, nil
}

// Check validates one response to req.
func (tr *Transport) Check(req *http.Request, status int, h http.Header, body []byte) error {
	route, params, err := tr.router.FindRoute(req)
	if err != nil {
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
			return tr.checkProblem(h, body) // a path the document does not have
		}
		return fmt.Errorf("no operation for %s %s: %w", req.Method, req.URL.Path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: h,
		Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return err
	}
	tr.mu.Lock()
	tr.Checked[fmt.Sprintf("%s %s %d", req.Method, route.Path, status)]++
	tr.mu.Unlock()
	return nil
}

// checkProblem validates an answer outside every operation against the
// document's Problem schema.
func (tr *Transport) checkProblem(h http.Header, body []byte) error {
	if ct := h.Get("Content-Type"); ct != "application/problem+json" {
		return fmt.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	ref := tr.doc.Components.Schemas["Problem"]
	if ref == nil {
		return fmt.Errorf("the document has no Problem schema")
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	return ref.Value.VisitJSON(v, openapi3.EnableJSONSchema2020())
}
