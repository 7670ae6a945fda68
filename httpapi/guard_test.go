package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// guarded serves req through the guard, in front of a handler that records what the guard passed.
func guarded(t *testing.T, req *http.Request) (*httptest.ResponseRecorder, *GraphQLRequest) {
	t.Helper()
	var got *GraphQLRequest
	h := Guard(1<<10, time.Second, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = GraphQLRequestFrom(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w, got
}

func post(body, accept string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/query", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	return req
}

// errorCode returns the status, media type and extensions.code of an answer of WriteError.
func errorCode(t *testing.T, w *httptest.ResponseRecorder) (int, string, string) {
	t.Helper()
	var body struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 || body.Data != nil || body.Errors[0].Message == "" {
		t.Fatalf("body %q: want one error with a message and no data (%v)", w.Body.String(), err)
	}
	code, _ := body.Errors[0].Extensions["code"].(string)
	return w.Code, w.Header().Get("Content-Type"), code
}

func TestGuardPassesParamsDecodedOnce(t *testing.T) {
	w, got := guarded(t, post(`{"query":"query Q($n: Int) { a }","operationName":"Q","variables":{"n":12345678901234567890},"extensions":{"x":1}}`, MediaGraphQLResponse))
	if w.Code != http.StatusNoContent || got == nil {
		t.Fatalf("status %d: %s", w.Code, w.Body.String())
	}
	p := got.Params
	if p.Query != "query Q($n: Int) { a }" || p.OperationName != "Q" || p.Headers == nil || p.ReadTime.End.IsZero() {
		t.Errorf("params = %+v", p)
	}
	if n, ok := p.Variables["n"].(json.Number); !ok || n.String() != "12345678901234567890" {
		t.Errorf("variables = %#v, want numbers as json.Number", p.Variables)
	}
	if got.Media != MediaGraphQLResponse || got.JSONByName || got.RequestErrorStatus() != http.StatusBadRequest {
		t.Errorf("request = %+v", got)
	}
	if vary := w.Header().Get("Vary"); vary != "Accept" {
		t.Errorf("Vary %q", vary)
	}

	r := httptest.NewRequest(http.MethodGet, "/query?"+url.Values{"query": {"{ a }"}, "variables": {`{"id":"x"}`}}.Encode(), nil)
	r.Header.Set("Accept", MediaJSON)
	_, got = guarded(t, r)
	if got == nil || got.Params.Query != "{ a }" || got.Params.Variables["id"] != "x" || !got.JSONByName || got.RequestErrorStatus() != http.StatusOK {
		t.Errorf("GET: %+v", got)
	}
}

// Malformed requests are refused by the guard, 400 in the negotiated media type whatever Accept says;
// the other refusals have their own status and code.
func TestGuardRefusals(t *testing.T) {
	hash := "0000000000000000000000000000000000000000000000000000000000000000"
	cases := []struct {
		name   string
		req    *http.Request
		status int
		code   string
	}{
		{"body not JSON", post(`{ "not a JSON`, ""), 400, "BAD_REQUEST"},
		{"empty body", post(``, ""), 400, "BAD_REQUEST"},
		{"body a string", post(`"{ a }"`, ""), 400, "BAD_REQUEST"},
		{"missing query", post(`{"qeury":"{ a }"}`, MediaJSON), 400, "BAD_REQUEST"},
		{"blank query", post(`{"query":"  "}`, MediaJSON), 400, "BAD_REQUEST"},
		{"query not a string", post(`{"query":{"obj":"ect"}}`, MediaJSON), 400, "BAD_REQUEST"},
		{"variables not an object", post(`{"query":"{ a }","variables":[7]}`, MediaJSON), 400, "BAD_REQUEST"},
		{"extensions not an object", post(`{"query":"{ a }","extensions":"s"}`, MediaJSON), 400, "BAD_REQUEST"},
		{"operationName not a string", post(`{"query":"{ a }","operationName":false}`, MediaJSON), 400, "BAD_REQUEST"},
		{"persistedQuery not an object", post(`{"extensions":{"persistedQuery":"x"}}`, MediaJSON), 400, "BAD_REQUEST"},
		{"persistedQuery version 2", post(`{"extensions":{"persistedQuery":{"version":2,"sha256Hash":"`+hash+`"}}}`, MediaJSON), 400, "BAD_REQUEST"},
		{"persistedQuery without hash", post(`{"extensions":{"persistedQuery":{"version":1}}}`, MediaJSON), 400, "BAD_REQUEST"},
		{"persistedQuery of another query", post(`{"query":"{ a }","extensions":{"persistedQuery":{"version":1,"sha256Hash":"`+hash+`"}}}`, MediaJSON), 400, "BAD_REQUEST"},
		{"batch", post(`[{"query":"{ a }"}]`, ""), 400, "BAD_REQUEST"},
		{"not UTF-8", post("{\"query\":\"{ a \xff }\"}", ""), 400, "BAD_REQUEST"},
		{"too large", post(`{"query":"{ a }","v":"`+strings.Repeat("x", 2<<10)+`"}`, ""), 413, "PAYLOAD_TOO_LARGE"},
		{"not acceptable", post(`{"query":"{ a }"}`, "text/html"), 406, "NOT_ACCEPTABLE"},
		{"GET variables not an object", httptest.NewRequest(http.MethodGet, "/query?query=%7Ba%7D&variables=%5B1%5D", nil), 400, "BAD_REQUEST"},
		{"GET without query", httptest.NewRequest(http.MethodGet, "/query", nil), 400, "BAD_REQUEST"},
		{"PUT", httptest.NewRequest(http.MethodPut, "/query", nil), 405, "METHOD_NOT_ALLOWED"},
	}
	form := httptest.NewRequest(http.MethodPost, "/query", strings.NewReader("query=%7Ba%7D"))
	form.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	cases = append(cases, struct {
		name   string
		req    *http.Request
		status int
		code   string
	}{"form", form, 415, "UNSUPPORTED_MEDIA_TYPE"})
	for _, c := range cases {
		w, got := guarded(t, c.req)
		if got != nil {
			t.Errorf("%s: passed the guard", c.name)
			continue
		}
		status, media, code := errorCode(t, w)
		if status != c.status || code != c.code || !strings.HasSuffix(media, "; charset=utf-8") {
			t.Errorf("%s: %d %s %s, want %d %s", c.name, status, media, code, c.status, c.code)
		}
	}
	// A malformed request is answered in the negotiated media type.
	w, _ := guarded(t, post(`{"qeury":"{ a }"}`, MediaGraphQLResponse))
	if _, media, _ := errorCode(t, w); media != MediaGraphQLResponse+"; charset=utf-8" {
		t.Errorf("malformed, Accept %s: Content-Type %q", MediaGraphQLResponse, media)
	}
	// A persisted query sent by hash alone, or with its query, is well formed.
	for _, body := range []string{
		`{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"` + hash + `"}}}`,
		`{"query":"{ a }","extensions":{"persistedQuery":{"version":1,"sha256Hash":"1c7e1e347f726166b5b1c55afd61f278cc9b45e00c108ec33d540a566379811b"}}}`,
	} {
		if w, got := guarded(t, post(body, "")); got == nil {
			t.Errorf("%s refused: %s", body, w.Body.String())
		}
	}
}

func TestNegotiate(t *testing.T) {
	for accept, want := range map[string]struct {
		media  string
		byName bool
		ok     bool
	}{
		"":                                  {MediaJSON, false, true},
		"*/*":                               {MediaJSON, false, true},
		"application/*":                     {MediaJSON, false, true},
		"&&&":                               {MediaJSON, false, true},
		MediaJSON:                           {MediaJSON, true, true},
		"application/json, multipart/mixed": {MediaJSON, true, true},
		MediaGraphQLResponse:                {MediaGraphQLResponse, false, true},
		"application/graphql-response+json,application/json;q=0.9":  {MediaGraphQLResponse, false, true},
		"application/json;q=0.5, application/graphql-response+json": {MediaGraphQLResponse, false, true},
		"application/graphql-response+json;q=0.5, application/json": {MediaJSON, true, true},
		"text/html, application/json;q=0, */*;q=0.1":                {MediaGraphQLResponse, false, true},
		"text/html": {"", false, false},
		"application/json;q=0, application/graphql-response+json;q=0": {"", false, false},
	} {
		var fields []string
		if accept != "" {
			fields = []string{accept}
		}
		media, byName, ok := negotiate(fields)
		if media != want.media || byName != want.byName || ok != want.ok {
			t.Errorf("Accept %q: %q %v %v, want %+v", accept, media, byName, ok, want)
		}
	}
}
