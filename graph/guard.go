package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"
)

// params are the GraphQL request parameters the guard read, for the middleware after it.
type params struct {
	Query         string `json:"query"`
	OperationName string `json:"operationName"`
}

type paramsKey struct{}

func paramsFrom(ctx context.Context) params {
	p, _ := ctx.Value(paramsKey{}).(params)
	return p
}

// Guard rejects, before anything is parsed or executed, what the endpoint never serves:
//   - methods other than GET, POST and OPTIONS (405);
//   - POST bodies that are not application/json: the "simple" content types a cross-site form can send
//     without a CORS preflight (form-urlencoded, multipart, text/plain) are refused, which closes CSRF (415);
//   - bodies over maxBody bytes (413), bodies that are not UTF-8 (400), and batches: a JSON array of
//     operations (400);
//
// and gives each request a deadline. It reads the body once and keeps the query for the next steps.
func Guard(maxBody int64, timeout time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			q := r.URL.Query()
			if !utf8.ValidString(r.URL.RawQuery) || !utf8.ValidString(q.Get("query")) {
				writeError(w, http.StatusBadRequest, "BAD_REQUEST", "the request is not valid UTF-8", "")
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), paramsKey{}, params{Query: q.Get("query"), OperationName: q.Get("operationName")}))
		case http.MethodPost:
			mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mediaType != "application/json" {
				writeError(w, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE",
					"POST requests must have Content-Type: application/json", "")
				return
			}
			if r.ContentLength > maxBody {
				writeError(w, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", tooLarge(maxBody), "")
				return
			}
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
			var tooBig *http.MaxBytesError
			switch {
			case errors.As(err, &tooBig):
				writeError(w, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", tooLarge(maxBody), "")
				return
			case err != nil:
				writeError(w, http.StatusBadRequest, "BAD_REQUEST", "the request body could not be read", "")
				return
			case !utf8.Valid(body):
				writeError(w, http.StatusBadRequest, "BAD_REQUEST", "the request body is not valid UTF-8", "")
				return
			}
			trimmed := bytes.TrimSpace(body)
			if len(trimmed) > 0 && trimmed[0] == '[' {
				writeError(w, http.StatusBadRequest, "BAD_REQUEST", "batched operations are not supported: send one operation per request", "")
				return
			}
			var p params
			json.Unmarshal(body, &p) // a malformed body is gqlgen's to report
			r.Body = io.NopCloser(bytes.NewReader(body))
			r = r.WithContext(context.WithValue(r.Context(), paramsKey{}, p))
		case http.MethodOptions:
		default:
			w.Header().Set("Allow", "GET, POST, OPTIONS")
			writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "use POST, or GET for queries", "")
			return
		}
		if timeout > 0 {
			ctx, cancel := context.WithTimeout(r.Context(), timeout)
			defer cancel()
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}

func tooLarge(max int64) string {
	return "the request body is larger than " + humanBytes(max)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	}
	return itoa(n) + " bytes"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
