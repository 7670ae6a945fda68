package graph_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"orgs/db"
	"orgs/db/dbtest"
	"orgs/domain"
)

func TestAuthentication(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	const query = `{ viewer { id } }`
	assertUnauthenticated := func(t *testing.T, r response) {
		t.Helper()
		if r.Status != http.StatusUnauthorized {
			t.Errorf("status = %d, want 401", r.Status)
		}
		if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("WWW-Authenticate = %q, want Bearer", r.Header.Get("WWW-Authenticate"))
		}
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "UNAUTHENTICATED" || r.Data != nil {
			t.Errorf("body = %s, want one UNAUTHENTICATED error and no data", r.Raw)
		}
	}
	t.Run("ErrNoKey", func(t *testing.T) {
		assertUnauthenticated(t, a.post("", query, nil))
	})
	t.Run("ErrUnknownKey", func(t *testing.T) {
		assertUnauthenticated(t, a.post(domain.APIKeyPrefix+"not-a-real-key", query, nil))
	})
	t.Run("ErrNoKeyForMutation", func(t *testing.T) {
		assertUnauthenticated(t, a.post("", createMutation, map[string]any{"input": map[string]any{"name": "Anonymous"}}))
		a.assertNothingWritten()
	})
	t.Run("ErrIntrospectionMixedWithData", func(t *testing.T) {
		assertUnauthenticated(t, a.post("", `{ __schema { queryType { name } } viewer { id } }`, nil))
	})
	t.Run("OKBearer", func(t *testing.T) {
		r := a.post(a.key, query, nil)
		if r.Status != http.StatusOK || len(r.Errors) != 0 || r.Data["viewer"].(map[string]any)["id"] != a.actor.KeyID {
			t.Errorf("status %d, body %s", r.Status, r.Raw)
		}
	})
	t.Run("OKXAPIKey", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, a.url, strings.NewReader(`{"query":"{ viewer { user { email } permissions } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", a.key)
		r := a.do(req)
		if r.Status != http.StatusOK || len(r.Errors) != 0 {
			t.Fatalf("status %d, body %s", r.Status, r.Raw)
		}
		v := r.Data["viewer"].(map[string]any)
		if v["user"].(map[string]any)["email"] != a.actor.Email || len(v["permissions"].([]any)) != len(domain.AllPermissions) {
			t.Errorf("viewer = %v", v)
		}
	})
	t.Run("OKIntrospectionWithoutKey", func(t *testing.T) {
		r := a.post("", `query IntrospectionQuery { __schema { queryType { name } } }`, nil)
		if r.Status != http.StatusOK || len(r.Errors) != 0 {
			t.Errorf("introspection without a key: status %d, body %s", r.Status, r.Raw)
		}
	})
	t.Run("OKIntrospectionWithPlaceholderKey", func(t *testing.T) {
		r := a.post("PASTE-YOUR-API-KEY", `query IntrospectionQuery { __schema { queryType { name } } }`, nil)
		if r.Status != http.StatusOK || len(r.Errors) != 0 {
			t.Errorf("introspection with an unknown key: status %d, body %s", r.Status, r.Raw)
		}
	})
	t.Run("OKKeyNotStoredInClear", func(t *testing.T) {
		var n int
		a.store.DB().Get(&n, `SELECT count(*) FROM api_keys WHERE key_hash = $1 OR position($2 in encode(key_hash, 'escape')) > 0`,
			[]byte(a.key), a.key)
		if n != 0 {
			t.Errorf("the key is stored in clear")
		}
	})
}

func TestPermissions(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	readOnly, _ := a.newKey("reader", domain.PermOrganizationRead)
	writeOnly, _ := a.newKey("writer", domain.PermOrganizationCreate)

	r := a.post(readOnly, createMutation, map[string]any{"input": map[string]any{"name": "Forbidden Inc"}})
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" ||
		r.Errors[0].Extensions["permission"] != "ORGANIZATION_CREATE" || !strings.Contains(r.Errors[0].Message, "ORGANIZATION_CREATE") {
		t.Errorf("create without ORGANIZATION_CREATE: %s", r.Raw)
	}
	a.assertNothingWritten()

	payload := a.create(writeOnly, map[string]any{"name": "Allowed Inc"})
	if payload["organization"] == nil {
		t.Fatalf("create with ORGANIZATION_CREATE failed: %v", payload)
	}
	r = a.post(writeOnly, `{ organization(slug: "allowed-inc") { id } }`, nil)
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" || r.Errors[0].Extensions["permission"] != "ORGANIZATION_READ" {
		t.Errorf("read without ORGANIZATION_READ: %s", r.Raw)
	}
	r = a.post(readOnly, `{ organization(slug: "allowed-inc") { id } viewer { permissions } }`, nil)
	if len(r.Errors) != 0 || r.Data["organization"] == nil {
		t.Errorf("read with ORGANIZATION_READ: %s", r.Raw)
	}
}

func TestTransport(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	get := func(query string) response {
		req, _ := http.NewRequest(http.MethodGet, a.url+"?query="+url.QueryEscape(query), nil)
		req.Header.Set("Authorization", "Bearer "+a.key)
		return a.do(req)
	}
	t.Run("OKGetQuery", func(t *testing.T) {
		if r := get(`{ viewer { id } }`); r.Status != http.StatusOK || len(r.Errors) != 0 {
			t.Errorf("GET query: %d %s", r.Status, r.Raw)
		}
	})
	t.Run("ErrGetMutation", func(t *testing.T) {
		r := get(`mutation { createOrganization(input: {name: "Via GET"}) { organization { id } } }`)
		if r.Status == http.StatusOK && len(r.Errors) == 0 {
			t.Errorf("GET mutation accepted: %s", r.Raw)
		}
		a.assertNothingWritten()
	})
	t.Run("ErrMultipart", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, a.url, strings.NewReader("--x\r\n\r\n--x--"))
		req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
		req.Header.Set("Authorization", "Bearer "+a.key)
		res, err := a.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode < 400 {
			t.Errorf("multipart request: status %d, want an error", res.StatusCode)
		}
	})
	t.Run("RequestID", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, a.url, strings.NewReader(`{"query":"{ viewer { id } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+a.key)
		req.Header.Set("X-Request-ID", "client-chosen-1")
		if got := a.do(req).Header.Get("X-Request-ID"); got != "client-chosen-1" {
			t.Errorf("X-Request-ID = %q, want the client's", got)
		}
		if got := a.post(a.key, `{ viewer { id } }`, nil).Header.Get("X-Request-ID"); len(got) < 8 {
			t.Errorf("X-Request-ID = %q, want a generated id", got)
		}
	})
}

// TestInternalErrorsAreNotLeaked breaks a table under a create, in a database of its own: the client
// sees INTERNAL_SERVER_ERROR with a request id and no detail, the log has the detail with the same
// request id, and the transaction leaves nothing behind.
func TestInternalErrorsAreNotLeaked(t *testing.T) {
	t.Parallel()
	s := dbtest.Open(t, dbtest.New(t), db.Options{})
	a := newAPIFor(t, s, "broken")
	if _, err := s.DB().Exec(`ALTER TABLE projects RENAME TO projects_moved`); err != nil {
		t.Fatal(err)
	}
	r := a.post(a.key, createMutation, map[string]any{"input": map[string]any{"name": "Doomed"}})
	if len(r.Errors) != 1 {
		t.Fatalf("errors = %s, want one", r.Raw)
	}
	e := r.Errors[0]
	if e.Message != "internal server error" || e.Extensions["code"] != "INTERNAL_SERVER_ERROR" {
		t.Errorf("error = %+v", e)
	}
	for _, leak := range []string{"projects", "pq:", "relation", "insert", "sql"} {
		if strings.Contains(strings.ToLower(r.Raw), leak) {
			t.Errorf("response leaks %q: %s", leak, r.Raw)
		}
	}
	id := r.Header.Get("X-Request-ID")
	if e.Extensions["requestId"] != id || id == "" {
		t.Errorf("requestId = %v, header %q", e.Extensions["requestId"], id)
	}
	logs := a.logs.String()
	if !strings.Contains(logs, `"request_id":"`+id+`"`) || !strings.Contains(logs, `relation \"projects\" does not exist`) {
		t.Errorf("log lacks the detail with the request id:\n%s", logs)
	}
	if n := a.count("organizations"); n != 0 {
		t.Errorf("%d organizations left by the failed transaction", n)
	}
}

func TestAuthCache(t *testing.T) {
	t.Parallel()
	s, err := db.Open(context.Background(), packageURL, db.Options{AuthCacheTTL: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := newAPIFor(t, s, "auth cache")
	if r := a.post(a.key, `{ viewer { id } }`, nil); r.Status != http.StatusOK {
		t.Fatalf("first request: %d", r.Status)
	}
	s.DB().MustExec(`UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1`, a.actor.TenantID)
	if r := a.post(a.key, `{ viewer { id } }`, nil); r.Status != http.StatusOK {
		t.Errorf("within the cache's time a revoked key still works; got %d", r.Status)
	}
	time.Sleep(250 * time.Millisecond)
	if r := a.post(a.key, `{ viewer { id } }`, nil); r.Status != http.StatusUnauthorized {
		t.Errorf("after the cache's time a revoked key must fail; got %d", r.Status)
	}
}
