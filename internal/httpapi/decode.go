package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// decodeStrict reads one JSON value into v from body: unknown fields,
// trailing data, wrong types and bodies over limit are problems naming
// what is wrong, never a 500.
// The body is decoded as it is read (no second copy of a large message).
func decodeStrict(body io.Reader, limit int64, v any) *Problem {
	p := decodeFrom(http.MaxBytesReader(nil, io.NopCloser(body), limit), v)
	if p != nil && p.tooLarge {
		return &Problem{Type: typeTooLarge, Title: "Request too large", Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("the body is over %d bytes", limit)}
	}
	return p
}

// decodeBytes is decodeStrict on bytes (fuzzed).
func decodeBytes(data []byte, v any) *Problem { return decodeFrom(bytes.NewReader(data), v) }

func decodeFrom(r io.Reader, v any) *Problem {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var big *http.MaxBytesError
		if errors.As(err, &big) {
			return &Problem{tooLarge: true}
		}
		return invalidField("", "the body holds more than one JSON value")
	}
	return nil
}

func jsonProblem(err error) *Problem {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var big *http.MaxBytesError
	switch {
	case errors.As(err, &big):
		return &Problem{tooLarge: true}
	case errors.Is(err, io.EOF):
		return invalidField("", "the body is empty: want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalidField("", "the JSON ends early")
	case errors.As(err, &syn):
		return invalidField("", "not JSON at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return invalidField("", "want a JSON %s, got %s", jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		return invalidField(field, "want %s, got %s", jsonKind(typ.Type.String()), typ.Value)
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if name, ok := strings.CutPrefix(msg, "unknown field "); ok {
		return invalidField(strings.Trim(name, `"`), "unknown field")
	}
	return invalidField("", "%s", msg)
}

// jsonKind words a Go type as JSON.
func jsonKind(t string) string {
	switch {
	case t == "string":
		return "a string"
	case t == "struct":
		return "object"
	case strings.HasPrefix(t, "[]"):
		return "an array"
	case strings.HasPrefix(t, "map["):
		return "an object"
	case strings.HasPrefix(t, "httpapi."):
		return "an object"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"), strings.HasPrefix(t, "float"):
		return "a number"
	case t == "bool":
		return "true or false"
	}
	return t
}
