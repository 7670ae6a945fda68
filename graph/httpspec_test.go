package graph_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"orgs/domain"
)

// Accept headers as clients send them.
const (
	specGraphQLResponse = "application/graphql-response+json"
	specJSON            = "application/json"
	specNone            = ""
	specAny             = "*/*"                                                      // curl
	specApollo          = "application/graphql-response+json,application/json;q=0.9" // Apollo Client
	specGraphiQL        = "application/json, multipart/mixed"                        // GraphiQL's fetcher
)

// specAnswer is what the GraphQL-over-HTTP rules are about: status, media type, and whether the body
// has a data entry at all (a request error must not).
type specAnswer struct {
	Status  int
	Media   string
	HasData bool
	Errors  []gqlError
	Header  http.Header
	Raw     string
}

// sendSpec sends a raw POST body with the given Accept ("" sends none) and the API key.
func (a *api) sendSpec(key, accept, body string) specAnswer {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return a.doSpec(req, key, accept)
}

// getSpec sends a GET request with the given URL parameters.
func (a *api) getSpec(key, accept string, params url.Values) specAnswer {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.url+"?"+params.Encode(), nil)
	return a.doSpec(req, key, accept)
}

func (a *api) doSpec(req *http.Request, key, accept string) specAnswer {
	a.t.Helper()
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	r := a.do(req)
	media, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		a.t.Errorf("charset %q, want utf-8", cs)
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.Raw), &entries); err != nil {
		a.t.Fatalf("body is not a JSON object: %q", r.Raw)
	}
	_, hasData := entries["data"]
	return specAnswer{Status: r.Status, Media: media, HasData: hasData, Errors: r.Errors, Header: r.Header, Raw: r.Raw}
}

func specBody(query string, vars map[string]any) string {
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return string(b)
}

// check fails unless the answer has the status and media type, and a data entry exactly when hasData.
func (s specAnswer) check(t *testing.T, what string, status int, media string, hasData bool) {
	t.Helper()
	if s.Status != status || s.Media != media || s.HasData != hasData {
		t.Errorf("%s: status %d, %s, data entry %v; want %d, %s, data entry %v\n%s",
			what, s.Status, s.Media, s.HasData, status, media, hasData, s.Raw)
	}
	if !hasData && len(s.Errors) == 0 {
		t.Errorf("%s: no data and no errors: %s", what, s.Raw)
	}
}

// A document that does not parse or validate, or variables that do not fit, are request errors: no data
// entry, HTTP 400, except for a client asking for application/json by name, which gets 200 (the
// application/json rules of the spec). Without Accept or with */* the body is application/json.
func TestHTTPSpecRequestErrors(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	requests := map[string]string{
		"parse error":             specBody("{", nil),
		"validation error":        specBody("{ noSuchField }", nil),
		"variable coercion error": specBody(`query($id: ID!) { organization(id: $id) { id } }`, map[string]any{"id": nil}),
		"unknown operationName":   `{"query":"query A { __typename }","operationName":"B"}`,
		"no operation":            specBody("fragment F on Query { __typename }", nil),
	}
	cases := []struct {
		accept string
		status int
		media  string
	}{
		{specGraphQLResponse, http.StatusBadRequest, specGraphQLResponse},
		{specApollo, http.StatusBadRequest, specGraphQLResponse},
		{specJSON, http.StatusOK, specJSON},
		{specGraphiQL, http.StatusOK, specJSON},
		{specNone, http.StatusBadRequest, specJSON},
		{specAny, http.StatusBadRequest, specJSON},
	}
	for name, body := range requests {
		for _, c := range cases {
			a.sendSpec(a.key, c.accept, body).check(t, name+", Accept "+c.accept, c.status, c.media, false)
		}
	}
	// The error is the one gqlgen reports.
	r := a.sendSpec(a.key, specGraphQLResponse, specBody("{ noSuchField }", nil))
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" || !strings.Contains(r.Errors[0].Message, "noSuchField") {
		t.Errorf("validation error: %s", r.Raw)
	}
	// Nothing ran.
	a.assertNothingWritten()
}

// Requests that are not well formed GraphQL-over-HTTP requests are 400 whatever the Accept header.
func TestHTTPSpecMalformedRequests(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	requests := map[string]string{
		"body not JSON":           `{ "not a JSON`,
		"missing query":           `{"qeury":"{ __typename }"}`,
		"empty query":             `{"query":"  "}`,
		"query not a string":      `{"query":{"obj":"ect"}}`,
		"variables not an object": `{"query":"{ __typename }","variables":[7]}`,
		"extensions not a object": `{"query":"{ __typename }","extensions":"string"}`,
		"operationName not text":  `{"query":"{ __typename }","operationName":false}`,
	}
	for name, body := range requests {
		for _, accept := range []string{specGraphQLResponse, specJSON, specNone, specAny} {
			r := a.sendSpec(a.key, accept, body)
			if r.Status != http.StatusBadRequest || r.HasData || len(r.Errors) == 0 {
				t.Errorf("%s, Accept %q: status %d, data entry %v; want 400 with errors and no data\n%s", name, accept, r.Status, r.HasData, r.Raw)
			}
		}
	}
}

// Executed operations are 200 with their data, in the negotiated media type.
func TestHTTPSpecSuccess(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	cases := map[string]string{
		specGraphQLResponse: specGraphQLResponse,
		specApollo:          specGraphQLResponse,
		specJSON:            specJSON,
		specGraphiQL:        specJSON,
		specNone:            specJSON,
		specAny:             specJSON,
		"application/*":     specJSON,
		"application/json;q=0.5, application/graphql-response+json": specGraphQLResponse,
		"application/graphql-response+json;q=0.5, application/json": specJSON,
		"text/html, application/json;q=0, */*;q=0.1":                specGraphQLResponse,
	}
	for accept, media := range cases {
		r := a.sendSpec(a.key, accept, specBody("{ viewer { tenant { id } } __typename }", nil))
		r.check(t, "query, Accept "+accept, http.StatusOK, media, true)
		if len(r.Errors) != 0 || !strings.Contains(r.Raw, a.actor.TenantID) {
			t.Errorf("query, Accept %q: %s", accept, r.Raw)
		}
		if vary := strings.Join(r.Header.Values("Vary"), ","); !strings.Contains(vary, "Accept") {
			t.Errorf("Vary %q, want Accept in it", vary)
		}
	}
	// A mutation, too.
	r := a.sendSpec(a.key, specGraphQLResponse, specBody(createMutation, map[string]any{"input": map[string]any{"name": "Spec Org"}}))
	r.check(t, "createOrganization", http.StatusOK, specGraphQLResponse, true)
	if len(r.Errors) != 0 {
		t.Errorf("createOrganization: %s", r.Raw)
	}
	// A result larger than what the middleware holds back streams through intact.
	big := a.sendSpec(a.key, specGraphQLResponse, specBody(specSchemaQuery, nil))
	big.check(t, "schema", http.StatusOK, specGraphQLResponse, true)
	if len(big.Raw) < 64<<10 || len(big.Errors) != 0 {
		t.Errorf("schema: %d bytes, errors %v", len(big.Raw), big.Errors)
	}
}

// Field errors are execution results: 200 with data (partial, or null), whatever Accept says.
func TestHTTPSpecFieldErrorsAre200(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	reader, _ := a.newKey("reader", domain.PermOrganizationRead)
	for _, accept := range []string{specGraphQLResponse, specJSON, specNone} {
		r := a.sendSpec(reader, accept, specBody(createMutation, map[string]any{"input": map[string]any{"name": "Nope"}}))
		if r.Status != http.StatusOK || !r.HasData || len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
			t.Errorf("forbidden mutation, Accept %q: status %d, %s; want 200 with data and FORBIDDEN", accept, r.Status, r.Raw)
		}
	}
}

func TestHTTPSpecGET(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	r := a.getSpec(a.key, specGraphQLResponse, url.Values{"query": {"query Q($id: ID) { organization(id: $id) { id } viewer { tenant { id } } }"},
		"variables": {`{"id":"00000000-0000-0000-0000-000000000000"}`}})
	r.check(t, "GET query", http.StatusOK, specGraphQLResponse, true)
	if len(r.Errors) != 0 || !strings.Contains(r.Raw, a.actor.TenantID) {
		t.Errorf("GET query: %s", r.Raw)
	}
	a.getSpec(a.key, specGraphQLResponse, url.Values{"query": {"{ noSuchField }"}}).
		check(t, "GET validation error", http.StatusBadRequest, specGraphQLResponse, false)
	a.getSpec(a.key, specJSON, url.Values{"query": {"{ noSuchField }"}}).
		check(t, "GET validation error, application/json", http.StatusOK, specJSON, false)
	a.getSpec(a.key, specGraphQLResponse, url.Values{"query": {"{ __typename }"}, "variables": {"[1]"}}).
		check(t, "GET with variables not an object", http.StatusBadRequest, specGraphQLResponse, false)

	// A mutation cannot be sent with GET: 405, and nothing runs.
	for _, accept := range []string{specGraphQLResponse, specJSON} {
		r := a.getSpec(a.key, accept, url.Values{"query": {`mutation { createOrganization(input: {name: "Via GET"}) { organization { id } } }`}})
		r.check(t, "GET mutation, Accept "+accept, http.StatusMethodNotAllowed, accept, false)
		if allow := r.Header.Get("Allow"); allow != "POST" {
			t.Errorf("GET mutation: Allow %q, want POST", allow)
		}
	}
	a.assertNothingWritten()
}

// Automatic persisted queries: an unknown hash is a request error (the client then sends the query).
func TestHTTPSpecPersistedQueryNotFound(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	query := "query SpecAPQ { viewer { tenant { id } } }"
	sum := sha256.Sum256([]byte(query))
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}
	hashOnly, _ := json.Marshal(map[string]any{"extensions": ext})
	for accept, want := range map[string]int{specGraphQLResponse: http.StatusBadRequest, specJSON: http.StatusOK} {
		r := a.sendSpec(a.key, accept, string(hashOnly))
		r.check(t, "unknown hash, Accept "+accept, want, accept, false)
		if len(r.Errors) != 1 || r.Errors[0].Message != "PersistedQueryNotFound" {
			t.Errorf("unknown hash: %s", r.Raw)
		}
	}
	full, _ := json.Marshal(map[string]any{"query": query, "extensions": ext})
	a.sendSpec(a.key, specGraphQLResponse, string(full)).check(t, "register", http.StatusOK, specGraphQLResponse, true)
	a.sendSpec(a.key, specGraphQLResponse, string(hashOnly)).check(t, "hash only", http.StatusOK, specGraphQLResponse, true)

	wrong, _ := json.Marshal(map[string]any{"query": "{ __typename }", "extensions": ext})
	a.sendSpec(a.key, specJSON, string(wrong)).check(t, "hash of another query", http.StatusBadRequest, specJSON, false)
}

// Neither media type acceptable: 406.
func TestHTTPSpecNotAcceptable(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	for _, accept := range []string{"text/html", "application/xml, text/plain;q=0.5", "application/json;q=0, application/graphql-response+json;q=0"} {
		r := a.sendSpec(a.key, accept, specBody("{ __typename }", nil))
		if r.Status != http.StatusNotAcceptable || r.HasData || len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "NOT_ACCEPTABLE" {
			t.Errorf("Accept %q: status %d, %s; want 406", accept, r.Status, r.Raw)
		}
	}
	// An unreadable Accept header counts as none.
	a.sendSpec(a.key, "&&&", specBody("{ __typename }", nil)).check(t, "unreadable Accept", http.StatusOK, specJSON, true)
}

// What the other layers answer (authentication here) passes unchanged, whatever Accept says.
func TestHTTPSpecLeavesOtherAnswersAlone(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	for _, accept := range []string{specGraphQLResponse, specJSON, specNone} {
		r := a.sendSpec("", accept, specBody(createMutation, map[string]any{"input": map[string]any{"name": "No key"}}))
		if r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") == "" || len(r.Errors) != 1 ||
			r.Errors[0].Extensions["code"] != "UNAUTHENTICATED" {
			t.Errorf("no key, Accept %q: status %d, %s; want 401 UNAUTHENTICATED", accept, r.Status, r.Raw)
		}
	}
	// The playground's schema request needs no key and is served as usual.
	r := a.sendSpec("", specGraphiQL, specBody("{ __schema { queryType { name } } }", nil))
	r.check(t, "introspection without a key", http.StatusOK, specJSON, true)

	// OPTIONS is gqlgen's.
	req, _ := http.NewRequest(http.MethodOptions, a.url, bytes.NewReader(nil))
	res, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Allow"), "POST") {
		t.Errorf("OPTIONS: status %d, Allow %q", res.StatusCode, res.Header.Get("Allow"))
	}
}

// specSchemaQuery asks for the schema four times over: an answer larger than what the middleware holds.
const specSchemaQuery = `{
  a: __schema { ...S } b: __schema { ...S } c: __schema { ...S } d: __schema { ...S }
}
fragment S on __Schema { types { name description fields { name description args { name description } } } }`
