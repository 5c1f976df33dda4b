package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/verify"
)

// errNoVerifier: the daemon was started without a Verifier (tests).
var errNoVerifier = errors.New("address verification is not available in this daemon")

// Verify implements API: POST /v1/verify. A bad request is a
// *verify.FieldError (errors.Is ErrInvalid via the handler), naming the
// JSON field at fault, so the HTTP API can say which in its problem
// document.
func (s *Service) Verify(ctx context.Context, r verify.Request) (*verify.Response, error) {
	if s.verifier == nil {
		return nil, errNoVerifier
	}
	res, err := s.verifier.Verify(ctx, r)
	if err != nil {
		var fe *verify.FieldError
		if errors.As(err, &fe) {
			return nil, invalidVerify{fe}
		}
		return nil, err
	}
	return res, nil
}

// invalidVerify is a bad verify request: ErrInvalid for the admin API's
// 400, and the *verify.FieldError (errors.As) for an API that names the
// field in a problem document.
type invalidVerify struct{ fe *verify.FieldError }

func (e invalidVerify) Error() string   { return e.fe.Error() }
func (e invalidVerify) Unwrap() []error { return []error{ErrInvalid, e.fe} }

// UpdateDisposableList implements API: the list is checked whole, stored
// in data_dir and swapped in; a bad line changes nothing.
func (s *Service) UpdateDisposableList(ctx context.Context, list io.Reader) (*verify.ListUpdate, error) {
	if s.verifier == nil {
		return nil, errNoVerifier
	}
	up, err := s.verifier.Lists().Replace(list)
	if err != nil {
		return nil, invalid("disposable list: %v", err)
	}
	s.log.Info("disposable list replaced", zap.Int("domains", up.Domains), zap.Int("previous", up.Previous))
	return up, nil
}

func (h *handler) verify(w http.ResponseWriter, r *http.Request) {
	var req verify.Request
	if err := decodeJSON(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	res, err := h.api.Verify(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// Compact: a list's answer is read by programs, and indenting a
	// thousand results costs more than verifying them.
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(res); err != nil {
		h.log.Debug("writing a response", zap.String("path", r.URL.Path), zap.Error(err))
	}
}

func (h *handler) updateDisposableList(w http.ResponseWriter, r *http.Request) {
	up, err := h.api.UpdateDisposableList(r.Context(), r.Body)
	h.reply(w, r, up, err)
}

// Verify implements API.
func (c *Client) Verify(ctx context.Context, r verify.Request) (*verify.Response, error) {
	var res verify.Response
	if err := c.do(ctx, http.MethodPost, "/v1/verify", nil, jsonBody(r), &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// UpdateDisposableList implements API.
func (c *Client) UpdateDisposableList(ctx context.Context, list io.Reader) (*verify.ListUpdate, error) {
	var up verify.ListUpdate
	if err := c.doAs(ctx, http.MethodPut, "/v1/verify/disposable-list", nil, list, "text/plain; charset=utf-8", &up); err != nil {
		return nil, err
	}
	return &up, nil
}
