package graph

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// Response media types.
const (
	mediaGraphQLResponse = "application/graphql-response+json"
	mediaJSON            = "application/json"
)

// maxSpecBuffer caps the bytes of a response held for inspection; error responses are far smaller.
const maxSpecBuffer = 64 << 10

// maxSpecCapture caps the bytes of a request body kept to tell a missing query from an empty document.
const maxSpecCapture = 64 << 10

// statusRule says which status a request error gets.
type statusRule int

const (
	// ruleGraphQLResponse: application/graphql-response+json; every request error is 400.
	ruleGraphQLResponse statusRule = iota
	// ruleJSONByName: application/json, asked for by name: 200 for request errors of well-formed
	// requests, 400 for malformed ones.
	ruleJSONByName
	// ruleJSONByDefault: no Accept, or only wildcards: application/json bodies, request errors 400.
	ruleJSONByDefault
)

// GraphQLOverHTTP makes the answers of gqlgen (next) follow the GraphQL-over-HTTP specification
// (https://graphql.github.io/graphql-over-http/draft/), all of it in this one place. It must wrap gqlgen
// directly, inside authentication: it reads gqlgen's answers.
//
// gqlgen answers protocol errors its own way: 422 for parse and validation errors under
// application/json, 200 with "data": null for a persisted query it does not know or an operation over
// the complexity limit, a "data" entry even where no operation ran, 406 for a mutation sent with GET,
// and the first media type listed in Accept whatever its q-value. Here:
//
//   - Accept is negotiated, q-values included, between application/graphql-response+json and
//     application/json, and gqlgen is handed the chosen one; the answer says which, with
//     charset=utf-8, and Vary: Accept. Without an Accept header, or with wildcards only, the body is
//     application/json, as legacy clients and the graphql-http audits expect. When neither type is
//     acceptable the answer is 406.
//   - A request error (the request was refused before any field ran: the document does not parse or
//     validate, the operation or a variable does not fit, a persisted query is unknown, the complexity
//     is over the limit) has no "data" entry and is 400; except that a client asking for
//     application/json by name gets 200, the spec's application/json rule. Without Accept the spec
//     (since 2025) has the server answer as for application/graphql-response+json, hence 400.
//   - A request that is not well formed (the body is not JSON, a parameter has the wrong type, the
//     query is missing, bad persisted-query data) is 400 whatever Accept says.
//   - A mutation sent with GET is 405 with Allow: POST.
//   - Execution results, partial or not, keep their 200 and body; what is not a GraphQL answer of
//     gqlgen's (OPTIONS, a 5xx) passes unchanged, and so do the 401, 413, 415, 429... that the
//     middleware around this one write.
//
// Responses are held until gqlgen is done (gqlgen writes one JSON document at once), up to
// maxSpecBuffer bytes: a larger one is a result with data, and streams through unchanged. A result
// that starts with data, without errors, is not held at all.
func GraphQLOverHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		media, rule, ok := negotiate(r.Header.Values("Accept"))
		w.Header().Add("Vary", "Accept")
		if !ok {
			writeSpecError(w, http.StatusNotAcceptable, "NOT_ACCEPTABLE",
				"none of the media types in Accept is served: accept "+mediaGraphQLResponse+" or "+mediaJSON)
			return
		}
		// gqlgen picks its Content-Type from Accept: hand it the negotiated type alone.
		r = r.Clone(r.Context())
		r.Header.Set("Accept", media)
		var captured *bytes.Buffer
		if r.Method == http.MethodPost && r.Body != nil {
			captured = &bytes.Buffer{}
			r.Body = &captureBody{ReadCloser: r.Body, buf: captured}
		}
		sw := &specWriter{w: w, r: r, media: media, rule: rule, body: captured}
		next.ServeHTTP(sw, r)
		sw.finish()
	})
}

// negotiate picks the response media type from the Accept header fields: the supported type with the
// highest q-value, the earlier listed on a tie, application/json when only a wildcard matches either.
// ok is false when Accept rules out both.
func negotiate(fields []string) (media string, rule statusRule, ok bool) {
	type match struct {
		q           float64
		specificity int // 0 none, 1 */*, 2 application/*, 3 exact
		pos         int
	}
	var gr, js match
	pos := 0
	for _, field := range fields {
		for _, part := range strings.Split(field, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			mt, params, err := mime.ParseMediaType(part)
			if err != nil && err != mime.ErrInvalidMediaParameter || !strings.Contains(mt, "/") {
				continue // unreadable: as if it were not there
			}
			pos++
			q := 1.0
			if v, found := params["q"]; found {
				if q, err = strconv.ParseFloat(v, 64); err != nil || q < 0 || q > 1 {
					continue
				}
			}
			spec := 0
			switch mt {
			case "*/*":
				spec = 1
			case "application/*":
				spec = 2
			case mediaGraphQLResponse, mediaJSON:
				spec = 3
			default:
				continue
			}
			for _, m := range []*match{&gr, &js} {
				if spec == 3 && ((m == &gr) != (mt == mediaGraphQLResponse)) {
					continue
				}
				// The most specific range that matches a type decides its q-value.
				if spec > m.specificity {
					*m = match{q: q, specificity: spec, pos: pos}
				}
			}
		}
	}
	if pos == 0 {
		return mediaJSON, ruleJSONByDefault, true
	}
	switch {
	case gr.q <= 0 && js.q <= 0:
		return "", 0, false
	case gr.specificity == 3 && (gr.q > js.q || gr.q == js.q && (js.specificity < 3 || gr.pos < js.pos)):
		return mediaGraphQLResponse, ruleGraphQLResponse, true
	case js.q > 0 && js.specificity == 3:
		return mediaJSON, ruleJSONByName, true
	case js.q > 0:
		return mediaJSON, ruleJSONByDefault, true
	}
	// Only application/graphql-response+json is acceptable, through a wildcard.
	return mediaGraphQLResponse, ruleGraphQLResponse, true
}

// captureBody keeps the first maxSpecCapture bytes read from a request body.
type captureBody struct {
	io.ReadCloser
	buf *bytes.Buffer
}

func (c *captureBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if room := maxSpecCapture - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(n, room)])
	}
	return n, err
}

// specWriter holds gqlgen's response until finish decides on it, or until it outgrows maxSpecBuffer.
type specWriter struct {
	w     http.ResponseWriter
	r     *http.Request
	media string
	rule  statusRule
	body  *bytes.Buffer // captured request body (POST), or nil

	status  int          // status gqlgen set, 0 until it sets one
	buf     bytes.Buffer // response held back
	through bool         // headers sent: everything else goes straight to w
}

func (s *specWriter) Header() http.Header { return s.w.Header() }

func (s *specWriter) WriteHeader(code int) {
	if s.through {
		s.w.WriteHeader(code)
		return
	}
	if code < 200 {
		s.w.WriteHeader(code) // informational: not the final status
		return
	}
	if s.status == 0 {
		s.status = code
	}
}

func (s *specWriter) Write(p []byte) (int, error) {
	if s.through {
		return s.w.Write(p)
	}
	if s.status == 0 {
		s.status = http.StatusOK
	}
	// A result that starts with data carries no errors: nothing to change, no need to hold it.
	if s.buf.Len() == 0 && s.status == http.StatusOK && bytes.HasPrefix(p, []byte(`{"data":`)) {
		s.passThrough()
		return s.w.Write(p)
	}
	s.buf.Write(p)
	if s.buf.Len() > maxSpecBuffer {
		s.passThrough()
		_, err := s.w.Write(s.buf.Bytes())
		s.buf.Reset()
		if err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush sends what is held as it is and lets the rest through.
func (s *specWriter) Flush() {
	if !s.through {
		s.passThrough()
		s.w.Write(s.buf.Bytes())
		s.buf.Reset()
	}
	http.NewResponseController(s.w).Flush()
}

func (s *specWriter) Unwrap() http.ResponseWriter { return s.w }

// passThrough sends the status held so far and switches to writing straight to w.
func (s *specWriter) passThrough() {
	s.through = true
	if s.status == 0 {
		s.status = http.StatusOK
	}
	s.fixContentType()
	s.w.WriteHeader(s.status)
}

// fixContentType labels a GraphQL response with the negotiated media type and its encoding.
func (s *specWriter) fixContentType() {
	h := s.w.Header()
	ct := h.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	if ct == "" || mt == mediaJSON || mt == mediaGraphQLResponse {
		h.Set("Content-Type", s.media+"; charset=utf-8")
	}
}

// gqlResponse is a GraphQL response as gqlgen writes it, data kept apart to be dropped.
type gqlResponse struct {
	Errors     json.RawMessage `json:"errors,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
	Extensions json.RawMessage `json:"extensions,omitempty"`
}

// gqlError is what decide reads of an error.
type gqlError struct {
	Message string          `json:"message"`
	Path    json.RawMessage `json:"path"`
}

// finish decides on the held response: a request error gets its status and loses "data", anything
// else is sent as gqlgen wrote it.
func (s *specWriter) finish() {
	if s.through {
		return
	}
	if s.status == 0 && s.buf.Len() == 0 {
		return // nothing written: net/http sends 200 with an empty body
	}
	status, body := s.decide()
	s.status = status
	if body != nil {
		s.buf.Reset()
		s.buf.Write(body)
		s.w.Header().Del("Content-Length")
	}
	s.passThrough()
	s.w.Write(s.buf.Bytes())
}

// decide returns the status of the held response and, when it changes, its new body (else nil).
func (s *specWriter) decide() (int, []byte) {
	switch s.status {
	case http.StatusOK, http.StatusBadRequest, http.StatusNotAcceptable, http.StatusUnprocessableEntity:
	default:
		return s.status, nil // 5xx...: not a protocol error, leave it
	}
	var res gqlResponse
	var errs []gqlError
	if json.Unmarshal(s.buf.Bytes(), &res) != nil || json.Unmarshal(res.Errors, &errs) != nil || len(errs) == 0 {
		return s.status, nil
	}
	switch {
	case s.status == http.StatusNotAcceptable && s.r.Method == http.MethodGet:
		// gqlgen's answer to a mutation sent with GET.
		s.w.Header().Set("Allow", "POST")
		return http.StatusMethodNotAllowed, withoutData(res)
	case s.status == http.StatusNotAcceptable:
		return s.status, nil
	case s.status == http.StatusOK && (len(res.Data) > 0 && string(res.Data) != "null" || anyHasPath(errs)):
		return s.status, nil // an execution result, partial or not
	}
	// A request error: no field ran.
	status := http.StatusBadRequest
	if s.rule == ruleJSONByName && !s.malformed(errs) {
		status = http.StatusOK
	}
	return status, withoutData(res)
}

// malformed reports whether a request error is about the shape of the request rather than its document:
// gqlgen's 400s (the body is not JSON, a parameter has the wrong type), a missing query, bad APQ data.
func (s *specWriter) malformed(errs []gqlError) bool {
	if s.status == http.StatusBadRequest {
		return true
	}
	for _, e := range errs {
		switch msg := e.Message; {
		case msg == "no operation provided":
			if strings.TrimSpace(s.query()) == "" {
				return true
			}
		case strings.HasPrefix(msg, "could not read request body"),
			strings.HasPrefix(msg, "json request body could not be decoded"),
			msg == "transport not supported",
			msg == "invalid APQ extension data",
			msg == "unsupported APQ version",
			msg == "provided APQ hash does not match query":
			return true
		}
	}
	return false
}

// query returns the request's query parameter, "" when missing or unknown.
func (s *specWriter) query() string {
	if s.r.Method == http.MethodGet {
		return s.r.URL.Query().Get("query")
	}
	if s.body == nil || s.body.Len() >= maxSpecCapture {
		return ""
	}
	var p struct {
		Query string `json:"query"`
	}
	json.Unmarshal(s.body.Bytes(), &p)
	return p.Query
}

func anyHasPath(errs []gqlError) bool {
	for _, e := range errs {
		if len(e.Path) > 0 && string(e.Path) != "null" {
			return true
		}
	}
	return false
}

func withoutData(res gqlResponse) []byte {
	res.Data = nil
	b, _ := json.Marshal(res)
	return b
}

// writeSpecError answers with one GraphQL error and no data, as application/json.
func writeSpecError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(map[string]any{"errors": []any{map[string]any{"message": msg, "extensions": map[string]any{"code": code}}}})
	w.Header().Set("Content-Type", mediaJSON+"; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}
