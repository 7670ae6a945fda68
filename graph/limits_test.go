package graph_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"orgs/graph"
	"orgs/httpapi"
	"orgs/service"
)

// Abusive requests, each within the body limit unless said otherwise.
var abusive = map[string]string{
	"Depth50":              "{ __schema { types { " + strings.Repeat("ofType { ", 48) + "name" + strings.Repeat(" }", 48) + " } } }",
	"Aliases1000":          "{ " + aliases(1000) + " }",
	"DuplicatedFields1000": "{ viewer { " + strings.Repeat("id ", 1000) + "} }",
	"DuplicatedFields5000": "{ viewer { " + strings.Repeat("name ", 5000) + "} }",
	"FragmentBomb":         fragmentBomb(),
	"Tokens20000":          "{ viewer { id " + strings.Repeat("__typename ", 20000) + "} }",
	"Introspection50":      "{ __schema { types { " + strings.Repeat("fields { type { ", 25) + "name" + strings.Repeat(" } }", 25) + " } } }",
	"ComplexityOverLimit":  "{ " + manyOrgs(20) + " }",
}

func aliases(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("a" + strconv.Itoa(i) + ": viewer { id } ")
	}
	return b.String()
}

func fragmentBomb() string {
	var b strings.Builder
	b.WriteString("{ viewer { ...F0 } } ")
	for i := range 20 {
		next := "F" + strconv.Itoa(i+1)
		if i == 19 {
			b.WriteString("fragment F19 on Viewer { id name } ")
			break
		}
		b.WriteString("fragment F" + strconv.Itoa(i) + " on Viewer { ..." + next + " ..." + next + " } ")
	}
	return b.String()
}

func manyOrgs(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("o" + strconv.Itoa(i) + `: organization(slug: "x") { members { id userId email name role status joinedAt emailVerified } ` +
			`owners { id userId email name role } projects { id name slug type mode status isDefault isActive isTest contactEmails } ` +
			`domains { domain isPrimary isVerified isGenerated } customAttributes { key type value } } `)
	}
	return b.String()
}

func TestAbusiveRequestsAreRejected(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	for name, q := range abusive {
		t.Run(name, func(t *testing.T) {
			r := a.post(a.key, q, nil)
			if r.Status != http.StatusBadRequest || len(r.Errors) == 0 || r.Data != nil {
				t.Fatalf("status %d (%d bytes): %.300s; want 400 with errors and no data", r.Status, len(q), r.Raw)
			}
			code, _ := r.Errors[0].Extensions["code"].(string)
			if !slices.Contains([]string{"QUERY_TOO_COMPLEX", "COMPLEXITY_LIMIT_EXCEEDED", "GRAPHQL_PARSE_FAILED"}, code) {
				t.Errorf("code %q: %.300s", code, r.Raw)
			}
		})
	}
	raw := func(contentType string, body []byte) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, a.url, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Authorization", "Bearer "+a.key)
		res, err := a.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		res.Body = io.NopCloser(bytes.NewReader(b))
		return res
	}
	expect := func(t *testing.T, res *http.Response, status int, code string) {
		t.Helper()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != status || !strings.Contains(string(b), `"code":"`+code+`"`) {
			t.Errorf("status %d, body %.300s; want %d %s", res.StatusCode, b, status, code)
		}
	}
	t.Run("Body10MB", func(t *testing.T) {
		body := append([]byte(`{"query":"{ viewer { id } }","variables":{"pad":"`), bytes.Repeat([]byte("x"), 10<<20)...)
		expect(t, raw("application/json", append(body, `"}}`...)), http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
	})
	t.Run("Batch1000", func(t *testing.T) {
		ops := strings.TrimSuffix(strings.Repeat(`{"query":"{ viewer { id } }"},`, 1000), ",")
		expect(t, raw("application/json", []byte("["+ops+"]")), http.StatusBadRequest, "BAD_REQUEST")
	})
	t.Run("InvalidUTF8", func(t *testing.T) {
		expect(t, raw("application/json", []byte("{\"query\":\"{ viewer { id \xff\xfe } }\"}")), http.StatusBadRequest, "BAD_REQUEST")
	})
	t.Run("FormEncodedPost", func(t *testing.T) {
		form := url.Values{"query": {`mutation { createOrganization(input: {name: "CSRF"}) { organization { id } } }`}}
		expect(t, raw("application/x-www-form-urlencoded", []byte(form.Encode())), http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
		a.assertNothingWritten()
	})
	t.Run("TextPlainPost", func(t *testing.T) {
		expect(t, raw("text/plain", []byte(`{"query":"mutation { createOrganization(input: {name: \"CSRF\"}) { organization { id } } }"}`)),
			http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
		a.assertNothingWritten()
	})
	t.Run("GetMutation", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, a.url+"?query="+url.QueryEscape(`mutation { createOrganization(input: {name: "GET"}) { organization { id } } }`), nil)
		req.Header.Set("Authorization", "Bearer "+a.key)
		r := a.do(req)
		if r.Status < 400 || len(r.Errors) == 0 {
			t.Errorf("GET mutation: %d %s", r.Status, r.Raw)
		}
		a.assertNothingWritten()
	})
	t.Run("OtherMethod", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPut, a.url, strings.NewReader(`{}`))
		res, err := a.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("PUT: %d", res.StatusCode)
		}
	})
	t.Run("OrdinaryQueriesPass", func(t *testing.T) {
		if r := a.post(a.key, `query { organization(slug: "x") {`+fullOrganizationFields+`} }`, nil); len(r.Errors) != 0 {
			t.Errorf("the full organization query is refused: %s", r.Raw)
		}
	})
}

// BenchmarkAbusiveRequests measures what each abusive request costs the server, from the HTTP request
// to the answer (go test -bench AbusiveRequests -benchmem ./graph). Each must stay well under 250 ms.
func BenchmarkAbusiveRequests(b *testing.B) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := newEndpoint(store, service.New(store, testServiceConfig), logger, httpapi.DefaultOptions, graph.DefaultHandlerOptions)
	key, _, err := store.CreateAPIKey(context.Background(), dbNewKey("bench"))
	if err != nil {
		b.Fatal(err)
	}
	cases := map[string][]byte{}
	for name, q := range abusive {
		cases[name] = jsonBody(q)
	}
	cases["Body10MB"] = append(append([]byte(`{"query":"{ viewer { id } }","v":"`), bytes.Repeat([]byte("x"), 10<<20)...), `"}`...)
	cases["DuplicatedFields1MB"] = jsonBody("{ viewer { " + strings.Repeat("id ", (1<<20-64)/3) + "} }")
	cases["Batch1000"] = []byte("[" + strings.TrimSuffix(strings.Repeat(`{"query":"{ viewer { id } }"},`, 1000), ",") + "]")
	for name, body := range cases {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+key)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code == http.StatusOK && !bytes.Contains(w.Body.Bytes(), []byte(`"errors"`)) {
					b.Fatalf("accepted: %.200s", w.Body.String())
				}
			}
		})
	}
}

// The complexity limit holds for every request of an operation, whether its complexity was computed for
// an earlier request (no variables) or is computed again (variables that change it).
func TestComplexityLimitHoldsOnEveryRequest(t *testing.T) {
	t.Parallel()
	opt := graph.DefaultHandlerOptions
	opt.ComplexityLimit = 600
	a := newAPIWith(t, store, "tenant "+t.Name(), opt)
	expect := func(query string, vars map[string]any, rejected bool) {
		t.Helper()
		r := a.post(a.key, query, vars)
		code := ""
		if len(r.Errors) > 0 {
			code, _ = r.Errors[0].Extensions["code"].(string)
		}
		if rejected && (r.Status != http.StatusBadRequest || code != "COMPLEXITY_LIMIT_EXCEEDED") ||
			!rejected && (r.Status != http.StatusOK || len(r.Errors) > 0) {
			t.Fatalf("%s %v: status %d: %.300s; want rejected %v", query, vars, r.Status, r.Raw, rejected)
		}
	}
	const big = `{ organizations(first: 50) { nodes { id projects { id } } } }` // 651
	const small = `{ organizations(first: 5) { nodes { id projects { id } } } }`
	for range 3 {
		expect(big, nil, true)
		expect(small, nil, false)
	}
	const page = `query Page($n: Int) { organizations(first: $n) { nodes { id projects { id } } } }`
	for range 2 {
		expect(page, map[string]any{"n": 5}, false)
		expect(page, map[string]any{"n": 50}, true)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, rl *httpapi.RateLimiter, reg *prometheus.Registry) {
		front := httpapi.DefaultOptions
		front.RateLimiter = rl
		a := newAPIWithFront(t, store, "rate "+t.Name(), front, graph.DefaultHandlerOptions)
		for i := range 3 {
			r := a.post(a.key, `{ viewer { id } }`, nil)
			if r.Status != http.StatusOK || r.Header.Get("X-RateLimit-Limit") != "3" ||
				r.Header.Get("X-RateLimit-Remaining") != strconv.Itoa(2-i) || r.Header.Get("X-RateLimit-Reset") == "" {
				t.Fatalf("request %d: %d, headers %v", i, r.Status, r.Header)
			}
		}
		r := a.post(a.key, `{ viewer { id } }`, nil)
		retry, _ := strconv.Atoi(r.Header.Get("Retry-After"))
		if r.Status != http.StatusTooManyRequests || retry < 1 || retry > 60 || len(r.Errors) != 1 ||
			r.Errors[0].Extensions["code"] != "RATE_LIMITED" || r.Header.Get("X-RateLimit-Remaining") != "0" {
			t.Errorf("over the limit: %d %v %s", r.Status, r.Header, r.Raw)
		}
		// Another key has its own budget.
		other, _ := a.newKey("other")
		if r := a.post(other, `{ viewer { id } }`, nil); r.Status != http.StatusOK {
			t.Errorf("another key is limited too: %d", r.Status)
		}
		var out strings.Builder
		rec := httptest.NewRecorder()
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		out.WriteString(rec.Body.String())
		if !strings.Contains(out.String(), "orgs_rate_limited_requests_total 1") {
			t.Errorf("rejection not counted:\n%s", out.String())
		}
	}
	newLimiter := func(t *testing.T, rdb *redis.Client) (*httpapi.RateLimiter, *prometheus.Registry) {
		rl, err := httpapi.NewRateLimiter(3, rdb, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		rl.Rejected = httpapi.NewMetrics(reg).RateLimited.Inc
		return rl, reg
	}
	t.Run("InProcess", func(t *testing.T) {
		t.Parallel()
		rl, reg := newLimiter(t, nil)
		check(t, rl, reg)
	})
	t.Run("Redis", func(t *testing.T) {
		t.Parallel()
		rdb := testRedis(t)
		rl, reg := newLimiter(t, rdb)
		check(t, rl, reg)
		// A second replica sharing Redis sees the same count.
		rl2, _ := newLimiter(t, rdb)
		front := httpapi.DefaultOptions
		front.RateLimiter = rl2
		a := newAPIWithFront(t, store, "rate "+t.Name(), front, graph.DefaultHandlerOptions) // same tenant, new key: a fresh budget
		for range 3 {
			a.post(a.key, `{ viewer { id } }`, nil)
		}
		front.RateLimiter = rl
		b := newAPIWithFront(t, store, "rate "+t.Name(), front, graph.DefaultHandlerOptions)
		b.key = a.key
		if r := b.post(b.key, `{ viewer { id } }`, nil); r.Status != http.StatusTooManyRequests {
			t.Errorf("the other replica did not see the count: %d", r.Status)
		}
	})
}

// testRedis connects to the Redis the machine runs (REDIS_URL, default 127.0.0.1:6379).
func testRedis(t *testing.T) *redis.Client {
	u := "redis://127.0.0.1:6379/0"
	if v := strings.TrimSpace(getenv("REDIS_URL")); v != "" {
		u = v
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis at %s: %v (the tests need the Redis the README names)", u, err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func TestPersistedQueriesSharedThroughRedis(t *testing.T) {
	t.Parallel()
	rdb := testRedis(t)
	opt := graph.DefaultHandlerOptions
	opt.APQCache = httpapi.RedisAPQCache{Client: rdb, TTL: time.Minute}
	a := newAPIWith(t, store, "apq "+t.Name(), opt)
	b := newAPIWith(t, store, "apq "+t.Name(), opt) // another replica
	query := `{ viewer { id } } # ` + t.Name() + strconv.FormatInt(time.Now().UnixNano(), 10)
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": sha256Hex(query)}}
	send := func(a *api, q string) response {
		body := map[string]any{"extensions": ext}
		if q != "" {
			body["query"] = q
		}
		return a.do(jsonRequest(a, body))
	}
	if r := send(b, ""); len(r.Errors) != 1 || r.Errors[0].Message != "PersistedQueryNotFound" {
		t.Fatalf("unknown hash: %s", r.Raw)
	}
	if r := send(a, query); len(r.Errors) != 0 {
		t.Fatalf("registering: %s", r.Raw)
	}
	if r := send(b, ""); len(r.Errors) != 0 || r.Data["viewer"] == nil {
		t.Errorf("the other replica does not know the hash: %s", r.Raw)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	front := httpapi.DefaultOptions
	front.CORSOrigins = []string{"https://app.example.com"}
	a := newAPIWithFront(t, store, "cors "+t.Name(), front, graph.DefaultHandlerOptions)
	preflight := func(origin string) http.Header {
		req, _ := http.NewRequest(http.MethodOptions, a.url, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		res, err := a.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.Header
	}
	if h := preflight("https://app.example.com"); h.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Errorf("allowed origin: %v", h)
	}
	if h := preflight("https://evil.example"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin allowed: %v", h)
	}
}
