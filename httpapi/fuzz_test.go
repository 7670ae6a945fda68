package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"orgs/domain"
)

// Fuzz targets of the front door: what the guard makes of any request, the document limits and the
// negotiation of Accept. Their seeds run with the ordinary tests; make fuzz runs each for a few seconds.

// refusalCodes are the codes the front door answers with, by status.
var refusalCodes = map[int][]domain.ErrorCode{
	http.StatusBadRequest:            {domain.EBADREQUEST, domain.EQUERYTOOCOMPLEX},
	http.StatusMethodNotAllowed:      {domain.EMETHODNOTALLOWED},
	http.StatusNotAcceptable:         {domain.ENOTACCEPTABLE},
	http.StatusRequestEntityTooLarge: {domain.EPAYLOADTOOLARGE},
	http.StatusUnsupportedMediaType:  {domain.EUNSUPPORTEDMEDIATYPE},
}

// checkRefusal fails unless w is one error with a message and a code of the domain's list for its status.
func checkRefusal(t *testing.T, w *httptest.ResponseRecorder) domain.ErrorCode {
	t.Helper()
	var body struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message    string `json:"message"`
			Extensions struct {
				Code domain.ErrorCode `json:"code"`
			} `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 || body.Data != nil || body.Errors[0].Message == "" {
		t.Fatalf("refusal %d %q: want one error with a message and no data (%v)", w.Code, w.Body.String(), err)
	}
	code := body.Errors[0].Extensions.Code
	codes, known := refusalCodes[w.Code]
	if !known || !containsCode(codes, code) {
		t.Fatalf("refusal with status %d and code %q: not a status and code of the front door", w.Code, code)
	}
	if ct := w.Header().Get("Content-Type"); ct != MediaJSON+"; charset=utf-8" && ct != MediaGraphQLResponse+"; charset=utf-8" {
		t.Fatalf("refusal with Content-Type %q", ct)
	}
	return code
}

func containsCode(codes []domain.ErrorCode, c domain.ErrorCode) bool {
	for _, k := range codes {
		if k == c {
			return true
		}
	}
	return false
}

// noFloats fails when a decoded JSON value holds a float64: numbers must stay json.Number.
func noFloats(t *testing.T, v any) {
	t.Helper()
	switch x := v.(type) {
	case float64:
		t.Fatalf("a number decoded as float64 (%v), not json.Number", x)
	case map[string]any:
		for _, e := range x {
			noFloats(t, e)
		}
	case []any:
		for _, e := range x {
			noFloats(t, e)
		}
	}
}

// guardOnce serves one request through the guard (1 KiB bodies) and returns the answer and what passed.
func guardOnce(method, target, contentType, accept string, body []byte) (*httptest.ResponseRecorder, *GraphQLRequest) {
	var got *GraphQLRequest
	h := Guard(1<<10, time.Second, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = GraphQLRequestFrom(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	req := httptest.NewRequest(method, "/query", bytes.NewReader(body))
	req.URL.RawQuery = target
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w, got
}

// FuzzGuardPOST: whatever the body, content type and Accept, the guard passes a GraphQL request (a
// query, or a persisted query) with numbers as json.Number, or refuses with a status and code of the
// front door; a batch is always refused; the same request gets the same answer.
func FuzzGuardPOST(f *testing.F) {
	hash := "0000000000000000000000000000000000000000000000000000000000000000"
	for _, s := range []struct{ body, contentType, accept string }{
		{`{"query":"query Q($n: Int) { a }","operationName":"Q","variables":{"n":12345678901234567890},"extensions":{"x":1}}`, "application/json", MediaGraphQLResponse},
		{`{ "not a JSON`, "application/json", ""},
		{``, "application/json", ""},
		{`"{ a }"`, "application/json", ""},
		{`{"qeury":"{ a }"}`, "application/json", MediaJSON},
		{`{"query":"  "}`, "application/json", MediaJSON},
		{`{"query":{"obj":"ect"}}`, "application/json", MediaJSON},
		{`{"query":"{ a }","variables":[7]}`, "application/json", MediaJSON},
		{`{"query":"{ a }","extensions":"s"}`, "application/json", MediaJSON},
		{`{"query":"{ a }","operationName":false}`, "application/json", MediaJSON},
		{`{"extensions":{"persistedQuery":"x"}}`, "application/json", MediaJSON},
		{`{"extensions":{"persistedQuery":{"version":2,"sha256Hash":"` + hash + `"}}}`, "application/json", MediaJSON},
		{`{"extensions":{"persistedQuery":{"version":1}}}`, "application/json", MediaJSON},
		{`{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"` + hash + `"}}}`, "application/json; charset=utf-8", ""},
		{`{"query":"{ a }","extensions":{"persistedQuery":{"version":1,"sha256Hash":"1c7e1e347f726166b5b1c55afd61f278cc9b45e00c108ec33d540a566379811b"}}}`, "application/json", ""},
		{` [{"query":"{ a }"}]`, "application/json", ""},
		{"{\"query\":\"{ a \xff }\"}", "application/json", ""},
		{`{"query":"{ a }","v":"` + strings.Repeat("x", 2<<10) + `"}`, "application/json", ""},
		{`{"query":"{ a }"}`, "application/json", "text/html"},
		{`{"query":"{ a }"}`, "application/x-www-form-urlencoded", ""},
		{`{"query":"{ a }"}`, "text/plain", "application/json;q=0, */*;q=0.1"},
		{`{"query":"{ a }","variables":{"f":1.5e300,"l":[1,{"x":-0}]}}`, "application/json", ""},
		{`null`, "application/json", ""},
	} {
		f.Add([]byte(s.body), s.contentType, s.accept)
	}
	f.Fuzz(func(t *testing.T, body []byte, contentType, accept string) {
		w, got := guardOnce(http.MethodPost, "", contentType, accept, body)
		w2, got2 := guardOnce(http.MethodPost, "", contentType, accept, body)
		if w.Code != w2.Code || !bytes.Equal(w.Body.Bytes(), w2.Body.Bytes()) || (got == nil) != (got2 == nil) {
			t.Fatalf("the same request got %d %q, then %d %q", w.Code, w.Body, w2.Code, w2.Body)
		}
		if got == nil {
			checkRefusal(t, w)
			return
		}
		if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && trimmed[0] == '[' {
			t.Fatalf("a batch passed the guard: %q", body)
		}
		checkPassed(t, got, body, true)
	})
}

// checkPassed checks what the guard passed from a POST body: a single JSON object, decoded into
// parameters that name a query or a persisted query, numbers kept as json.Number.
func checkPassed(t *testing.T, got *GraphQLRequest, body []byte, guarded bool) {
	t.Helper()
	if got.Media != MediaJSON && got.Media != MediaGraphQLResponse || got.JSONByName && got.Media != MediaJSON {
		t.Fatalf("passed with media %q (by name %v)", got.Media, got.JSONByName)
	}
	p := got.Params
	if p == nil || guarded && p.Headers == nil {
		t.Fatalf("passed without parameters or headers: %+v", p)
	}
	if _, pq := p.Extensions["persistedQuery"]; !pq && strings.TrimSpace(p.Query) == "" {
		t.Fatalf("passed without a query: %+v", p)
	}
	if body != nil {
		var obj map[string]json.RawMessage
		if trimmed := bytes.TrimSpace(body); len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(body, &obj) != nil {
			t.Fatalf("passed a body that is not one JSON object: %q", body)
		}
	}
	noFloats(t, map[string]any(p.Variables))
	noFloats(t, p.Extensions)
}

// FuzzGuardGET: the parameters of a GET request, from any query string, pass as for a POST or are
// refused with a status and code of the front door.
func FuzzGuardGET(f *testing.F) {
	for _, s := range []struct{ query, accept string }{
		{"query=%7B+a+%7D&variables=%7B%22id%22%3A%22x%22%7D", MediaJSON},
		{"query=%7Ba%7D&variables=%5B1%5D", ""},
		{"", ""},
		{"query=%7Ba%7D&variables=%7B%22n%22%3A1e3%7D&extensions=%7B%7D", MediaGraphQLResponse},
		{"query=%7Ba%7D;x=1", ""},
		{"query=%ff", ""},
		{"query=%7Ba%7D&extensions=%7B%22persistedQuery%22%3A%7B%22version%22%3A1%7D%7D", "application/*"},
	} {
		f.Add(s.query, s.accept)
	}
	f.Fuzz(func(t *testing.T, rawQuery, accept string) {
		w, got := guardOnce(http.MethodGet, rawQuery, "", accept, nil)
		if got == nil {
			checkRefusal(t, w)
			return
		}
		checkPassed(t, got, nil, true)
		q, _ := url.ParseQuery(rawQuery)
		for _, name := range []string{"variables", "extensions"} {
			if v := strings.TrimSpace(q.Get(name)); v != "" && v != "null" && (v[0] != '{' || !json.Valid([]byte(v))) {
				t.Fatalf("passed with %s %q, not one JSON object", name, v)
			}
		}
	})
}

// FuzzDecodeRequestJSON: the decoding of a POST body into gqlgen's parameters (UseNumber, objects only,
// batches refused), without the HTTP around it.
func FuzzDecodeRequestJSON(f *testing.F) {
	for _, s := range []string{
		`{"query":"{ a }"}`, `{"query":"{ a }","variables":{"n":1,"f":2.5,"big":123456789012345678901234567890}}`,
		`[{"query":"{ a }"}]`, "\t\n [", `{}`, `null`, `true`, `7`, `"x"`, `{"query":null}`,
		`{"variables":{"a":[1,2,{"b":3}]},"query":"{a}"}`,
		`{"operationName":7}`, `{"query":"{ a }","extensions":[]}`, `{"query":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		p, refused := readPOST(httptest.NewRecorder(), req, 1<<20)
		if refused == nil {
			refused = checkParams(p)
		}
		trimmed := bytes.TrimSpace(body)
		if refused != nil {
			if codes := refusalCodes[refused.status]; !containsCode(codes, refused.code) || refused.msg == "" {
				t.Fatalf("refusal %+v: not a status and code of the front door", refused)
			}
			if len(trimmed) > 0 && trimmed[0] == '[' && refused.code != domain.EBADREQUEST {
				t.Fatalf("a batch refused with %+v", refused)
			}
			return
		}
		if len(trimmed) > 0 && trimmed[0] == '[' {
			t.Fatalf("a batch passed: %q", body)
		}
		checkPassed(t, &GraphQLRequest{Params: p, Media: MediaJSON}, body, false)
	})
}

// FuzzNegotiate: any Accept header gives one of the two media types, or none (406); the answer does
// not depend on how the same media ranges are split across header fields.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{
		"", "*/*", "application/*", "&&&", MediaJSON, "application/json, multipart/mixed", MediaGraphQLResponse,
		"application/graphql-response+json,application/json;q=0.9", "application/json;q=0.5, application/graphql-response+json",
		"application/graphql-response+json;q=0.5, application/json", "text/html, application/json;q=0, */*;q=0.1",
		"text/html", "application/json;q=0, application/graphql-response+json;q=0", "application/json;q=NaN",
		"application/json;q=1e-400", "application/json;q=-0", "*/*;q=0.5, application/json;q=0, application/graphql-response+json;q=0.4",
		"APPLICATION/JSON", "application/json; charset=utf-8; q=0.2", "application/json;q=0.3;q=0.9",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		var fields []string
		if accept != "" {
			fields = []string{accept}
		}
		media, byName, ok := negotiate(fields)
		switch {
		case !ok && (media != "" || byName):
			t.Fatalf("Accept %q: refused, yet %q (by name %v)", accept, media, byName)
		case ok && media != MediaJSON && media != MediaGraphQLResponse:
			t.Fatalf("Accept %q: media %q", accept, media)
		case byName && media != MediaJSON:
			t.Fatalf("Accept %q: by name, yet %q", accept, media)
		}
		// The same ranges, one header field each, are the same Accept (RFC 9110, 5.3).
		split := strings.Split(accept, ",")
		m2, b2, ok2 := negotiate(split)
		if strings.TrimSpace(accept) != "" && (m2 != media || b2 != byName || ok2 != ok) {
			t.Fatalf("Accept %q: %q %v %v in one field, %q %v %v in %d", accept, media, byName, ok, m2, b2, ok2, len(split))
		}
		// Through the guard, a refusal is 406 NOT_ACCEPTABLE, and an answer has the negotiated type.
		w, got := guardOnce(http.MethodPost, "", "application/json", accept, []byte(`{"query":"{ a }"}`))
		if !ok {
			if got != nil || checkRefusal(t, w) != domain.ENOTACCEPTABLE {
				t.Fatalf("Accept %q: not refused as not acceptable: %d %q", accept, w.Code, w.Body)
			}
			return
		}
		if got == nil || got.Media != media || got.JSONByName != byName {
			t.Fatalf("Accept %q: the guard passed %+v, negotiate says %q %v", accept, got, media, byName)
		}
	})
}

// FuzzQueryLimits: measuring a parsed document never panics and stays fast; a document within some
// limits is within any larger ones; LimitQueries refuses exactly what check refuses, with 400
// QUERY_TOO_COMPLEX.
func FuzzQueryLimits(f *testing.F) {
	for _, q := range []string{
		"{ a }", "query { a b c }", "{ a: b c: d e: f }", "{ a { b { c { d { e { f } } } } } }",
		"query Q { ...F } fragment F on Query { a { ...G } } fragment G on A { b c }",
		"{ ...F } fragment F on Query { ...F }", "{ ...Missing }", "{ ... on Query { a { ... on A { b } } } }",
		"query A { a } query B { b: a c: a }", "subscription S { x }", "mutation M { m(input: {a: 1}) { id } }",
		"{ ...F0 } fragment F0 on Q { ...F1 ...F1 } fragment F1 on Q { ...F2 ...F2 } fragment F2 on Q { x y }",
		"{ a(x: [1, 2, {b: $c}]) @d(e: f) { g } }", "{", "}", "{ a(", "query ($a: Int = 1) { b(a: $a) }",
		"{ __schema { types { name fields { name type { name ofType { name ofType { name } } } } } } }",
	} {
		f.Add(q, 5000, 15, 30, 500, uint8(1))
	}
	f.Add("{ a { a { a } } }", 10, 2, 0, 2, uint8(3))
	f.Add("{ x: a y: a }", 10, 1, 1, 1, uint8(0))
	f.Fuzz(func(t *testing.T, query string, tokens, depth, aliases, fields int, grow uint8) {
		l := QueryLimits{MaxTokens: clamp(tokens, 1, 5000), MaxDepth: clamp(depth, 0, 50),
			MaxAliases: clamp(aliases, 0, 200), MaxFields: clamp(fields, 0, 1000)}
		doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, l.MaxTokens)
		if err != nil {
			return
		}
		start := time.Now()
		msg := l.check(doc)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("checking a document of %d bytes took %v", len(query), d)
		}
		if msg2 := l.check(doc); msg2 != msg {
			t.Fatalf("checked twice: %q, then %q", msg, msg2)
		}
		// Larger limits: what passes still passes (and parses).
		n := int(grow)
		larger := QueryLimits{MaxTokens: l.MaxTokens + n, MaxDepth: l.MaxDepth + n%3, MaxAliases: l.MaxAliases + n%5, MaxFields: l.MaxFields + n}
		ldoc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, larger.MaxTokens)
		if err != nil {
			t.Fatalf("parsed with %d tokens, not with %d: %v", l.MaxTokens, larger.MaxTokens, err)
		}
		if larger.check(ldoc) != "" && msg == "" {
			t.Fatalf("passes %+v, refused with %+v: %q", l, larger, larger.check(ldoc))
		}
		// Through the handler, with the document as the guard passes it.
		h := LimitQueries(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
		body, _ := json.Marshal(map[string]string{"query": query})
		w := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		Guard(1<<20, time.Second, h).ServeHTTP(w, req)
		switch {
		case strings.TrimSpace(query) == "":
		case msg == "" && w.Code != http.StatusNoContent:
			t.Fatalf("within %+v, yet answered %d %q", l, w.Code, w.Body)
		case msg != "" && (w.Code != http.StatusBadRequest || checkRefusal(t, w) != domain.EQUERYTOOCOMPLEX):
			t.Fatalf("over %+v (%s), yet answered %d %q", l, msg, w.Code, w.Body)
		}
	})
}

func clamp(n, lo, hi int) int {
	return min(max(n, lo), hi)
}
