package adminapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
)

// MaxBodyBytes caps a request body; past it the answer is 413.
const MaxBodyBytes = 1 << 20

// readBody checks the media type and reads the body, at most
// MaxBodyBytes of it. Every failure is a client mistake (4xx).
func readBody(r *http.Request) ([]byte, *apiError) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "",
				"Content-Type %q is not application/json", ct)
		}
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "",
				"request body is larger than %d bytes", mbe.Limit)
		}
		return nil, errorf(http.StatusBadRequest, CodeMalformedJSON, "", "reading request body: %v", err)
	}
	return b, nil
}

// decodeJSON parses b, which must hold exactly one JSON object, into v, a
// pointer to a struct, rejecting unknown fields. Every failure is a 4xx
// apiError naming the field when there is one.
func decodeJSON(b []byte, v any) *apiError {
	if len(b) > MaxBodyBytes {
		return errorf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "",
			"request body is larger than %d bytes", MaxBodyBytes)
	}
	trimmed := bytes.TrimLeft(b, " \t\r\n")
	if len(trimmed) == 0 {
		return errorf(http.StatusBadRequest, CodeMalformedJSON, "", "request body is empty; want a JSON object")
	}
	if trimmed[0] != '{' {
		return errorf(http.StatusBadRequest, CodeMalformedJSON, "", "request body is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	// Exactly one value: trailing data is as malformed as a bad token.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errorf(http.StatusBadRequest, CodeMalformedJSON, "", "unexpected data after the JSON object")
	}
	return nil
}

// jsonError maps an encoding/json error to an apiError.
func jsonError(err error) *apiError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return errorf(http.StatusBadRequest, CodeMalformedJSON, "", "malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return errorf(http.StatusBadRequest, CodeMalformedJSON, "", "request body is not a JSON object")
		}
		return errorf(http.StatusBadRequest, CodeInvalidField, field, "field %q must be %s, not %s", field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, CodeMalformedJSON, "", "request body ends in the middle of the JSON object")
	}
	// DisallowUnknownFields reports `json: unknown field "x"` with no type
	// to match on.
	const unknown = "json: unknown field "
	if msg := err.Error(); strings.HasPrefix(msg, unknown) {
		field := strings.Trim(strings.TrimPrefix(msg, unknown), `"`)
		return errorf(http.StatusBadRequest, CodeUnknownField, field, "unknown field %q", field)
	}
	return errorf(http.StatusBadRequest, CodeMalformedJSON, "", "malformed JSON: %v", err)
}

func jsonKind(k string) string {
	switch k {
	case "bool":
		return "a boolean"
	case "string":
		return "a string"
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	}
	return "a number"
}
