// Package httpapi is the HTTP front door of the API: everything a request meets before GraphQL. Request
// ids, access logs and panic recovery; the guard (method, content type, size, UTF-8, batches), which reads
// each GraphQL request once and negotiates its response media type once; document limits;
// authentication; rate limits; CORS; the probes and the metrics endpoint; and the one writer of the
// errors answered here. It knows nothing of the schema: main puts the GraphQL handler behind it.
package httpapi

import (
	"encoding/json"
	"net/http"

	"orgs/domain"
)

// WriteError answers with HTTP status and one GraphQL-shaped error, without data, as application/json:
// {"errors":[{"message":…,"extensions":{"code":…,"requestId":…}}]}. requestID is left out when "".
func WriteError(w http.ResponseWriter, status int, code domain.ErrorCode, message, requestID string) {
	writeError(w, MediaJSON, status, code, message, requestID)
}

// writeError is WriteError in the given response media type (one of the two of negotiate).
func writeError(w http.ResponseWriter, media string, status int, code domain.ErrorCode, message, requestID string) {
	type extensions struct {
		Code      domain.ErrorCode `json:"code"`
		RequestID string           `json:"requestId,omitempty"`
	}
	type gqlError struct {
		Message    string     `json:"message"`
		Extensions extensions `json:"extensions"`
	}
	body, _ := json.Marshal(struct {
		Errors []gqlError `json:"errors"`
	}{[]gqlError{{Message: message, Extensions: extensions{Code: code, RequestID: requestID}}}})
	h := w.Header()
	h.Set("Content-Type", media+"; charset=utf-8")
	h.Del("Content-Length")
	w.WriteHeader(status)
	w.Write(body)
}
