package httpapi

import (
	"errors"
	"net/http"

	"github.com/mtaq/mtaq/internal/verify"
)

// verifyBody bounds POST /v1/verify: 1,000 addresses of at most 254
// bytes each, with JSON's quoting, fit well under it.
const verifyBody = 1 << 20

// verify is POST /v1/verify: one address or up to 1,000, answered by the
// admin Service's Verify (the one behind mtaq verify).
func (s *Server) verify(_ http.ResponseWriter, r *http.Request, _ *Key) (int, any, *Problem) {
	var req verify.Request
	if p := decodeStrict(r.Body, verifyBody, &req); p != nil {
		return 0, nil, p
	}
	res, err := s.o.Admin.Verify(r.Context(), req)
	var fe *verify.FieldError
	switch {
	case errors.As(err, &fe):
		return 0, nil, invalidField(fe.Field, "%s", fe.Problem)
	case err != nil:
		return 0, nil, fromAdmin(err)
	}
	return http.StatusOK, res, nil
}
