package graph_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"orgs/db"
	"orgs/db/dbtest"
	"orgs/domain"
)

const apiKeyFields = `id name prefix permissions createdAt expiresAt lastUsedAt revokedAt`

const createAPIKeyMutation = `mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { clientMutationId secret apiKey { ` + apiKeyFields + ` } userErrors { field message code } }
}`

const revokeAPIKeyMutation = `mutation($input: RevokeApiKeyInput!) {
  revokeApiKey(input: $input) { clientMutationId apiKey { ` + apiKeyFields + ` } userErrors { field message code } }
}`

const apiKeysQuery = `query($first: Int, $after: String) {
  apiKeys(first: $first, after: $after) { totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { ` + apiKeyFields + ` } } nodes { id } }
}`

// createKey runs createApiKey with key and returns its payload.
func (a *api) createKey(key string, input map[string]any) map[string]any {
	a.t.Helper()
	r := a.post(key, createAPIKeyMutation, map[string]any{"input": input})
	if len(r.Errors) != 0 || r.Status != http.StatusOK {
		a.t.Fatalf("createApiKey: %d %s", r.Status, r.Raw)
	}
	return r.Data["createApiKey"].(map[string]any)
}

// createKeyOK creates a key that must be valid and returns it with its secret.
func (a *api) createKeyOK(input map[string]any) (apiKey map[string]any, secret string) {
	a.t.Helper()
	p := a.createKey(a.key, input)
	if errs := userErrors(p); len(errs) != 0 {
		a.t.Fatalf("createApiKey %v: %+v", input, errs)
	}
	return p["apiKey"].(map[string]any), p["secret"].(string)
}

func (a *api) revokeKey(key, id string) map[string]any {
	a.t.Helper()
	r := a.post(key, revokeAPIKeyMutation, map[string]any{"input": map[string]any{"id": id, "clientMutationId": "r1"}})
	if len(r.Errors) != 0 || r.Status != http.StatusOK {
		a.t.Fatalf("revokeApiKey: %d %s", r.Status, r.Raw)
	}
	return r.Data["revokeApiKey"].(map[string]any)
}

// viewerStatus is the HTTP status of a viewer query with key, and the viewer's key name.
func (a *api) viewerStatus(key string) (int, string) {
	r := a.post(key, `{ viewer { name } }`, nil)
	if r.Status != http.StatusOK {
		return r.Status, ""
	}
	return r.Status, r.Data["viewer"].(map[string]any)["name"].(string)
}

// tenantEvents returns the tenant's events of the tenant's log, oldest first.
func (a *api) tenantEvents() []tenantEvent {
	a.t.Helper()
	var rows []struct {
		Type   string  `db:"type"`
		KeyID  *string `db:"actor_key_id"`
		UserID *string `db:"actor_user_id"`
		Data   string  `db:"data"`
	}
	if err := a.store.DB().Select(&rows, `SELECT type, actor_key_id, actor_user_id, data FROM tenant_events
		WHERE tenant_id = $1 ORDER BY created_at, id`, a.actor.TenantID); err != nil {
		a.t.Fatal(err)
	}
	out := make([]tenantEvent, len(rows))
	for i, r := range rows {
		out[i] = tenantEvent{Type: r.Type, ActorKeyID: r.KeyID, ActorUserID: r.UserID}
		json.Unmarshal([]byte(r.Data), &out[i].Data)
	}
	return out
}

type tenantEvent struct {
	Type        string
	ActorKeyID  *string
	ActorUserID *string
	Data        map[string]any
}

func TestCreateAPIKey(t *testing.T) {
	t.Parallel()
	a := newKeysAPI(t)
	expires := time.Now().UTC().Add(24 * time.Hour).Truncate(time.Second)
	p := a.createKey(a.key, map[string]any{"clientMutationId": "c1", "name": "  CI reader  ",
		"permissions": []string{"ORGANIZATION_READ", "ORGANIZATION_CREATE", "ORGANIZATION_READ"}, "expiresAt": expires.Format(time.RFC3339)})
	if errs := userErrors(p); len(errs) != 0 || p["clientMutationId"] != "c1" {
		t.Fatalf("payload %v", p)
	}
	secret, k := p["secret"].(string), p["apiKey"].(map[string]any)
	if !strings.HasPrefix(secret, domain.APIKeyPrefix) || k["prefix"] != secret[:len(domain.APIKeyPrefix)+4] {
		t.Errorf("secret %q, prefix %v", secret, k["prefix"])
	}
	if k["name"] != "CI reader" || !equalJSON(k["permissions"], []string{"ORGANIZATION_READ", "ORGANIZATION_CREATE"}) ||
		k["expiresAt"] != expires.Format(time.RFC3339) || k["lastUsedAt"] != nil || k["revokedAt"] != nil || k["createdAt"] == nil {
		t.Errorf("apiKey = %v", k)
	}

	// The new key works at once, as the same person, with what it was given and nothing more.
	r := a.post(secret, `{ viewer { id name permissions user { id email } tenant { id } } }`, nil)
	if r.Status != http.StatusOK || len(r.Errors) != 0 {
		t.Fatalf("the new key: %d %s", r.Status, r.Raw)
	}
	v := r.Data["viewer"].(map[string]any)
	if v["id"] != k["id"] || v["user"].(map[string]any)["id"] != a.actor.UserID || v["tenant"].(map[string]any)["id"] != a.actor.TenantID {
		t.Errorf("viewer of the new key = %v", v)
	}
	if r := a.post(secret, `{ apiKeys { totalCount } }`, nil); len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
		t.Errorf("the new key reads the keys: %s", r.Raw)
	}
	created := a.createOK(map[string]any{"name": "Made by the principal"})
	if owners := created["owners"].([]any); len(owners) != 1 || owners[0].(map[string]any)["userId"] != a.actor.UserID {
		t.Errorf("owners %v", owners)
	}

	// The secret is never readable again: the list shows its prefix only.
	r = a.post(a.key, apiKeysQuery, nil)
	if len(r.Errors) != 0 {
		t.Fatal(r.Raw)
	}
	var hash string
	a.store.DB().Get(&hash, `SELECT encode(key_hash, 'hex') FROM api_keys WHERE id = $1`, k["id"])
	if strings.Contains(r.Raw, secret) || strings.Contains(r.Raw, secret[len(domain.APIKeyPrefix)+4:]) || hash == "" ||
		strings.Contains(r.Raw, hash) || hash != hex.EncodeToString(domain.HashAPIKey(secret)) {
		t.Errorf("the list shows the secret or its hash: %s", r.Raw)
	}
	listed := r.Data["apiKeys"].(map[string]any)["edges"].([]any)[0].(map[string]any)["node"].(map[string]any)
	if listed["id"] != k["id"] || listed["prefix"] != k["prefix"] {
		t.Errorf("newest key listed: %v, want %v", listed, k)
	}

	// The event in the tenant's log, by the calling key; the first event is the bootstrap of the test's key.
	evs := a.tenantEvents()
	if len(evs) != 2 || evs[0].Type != "apikey.created" || evs[0].ActorKeyID != nil {
		t.Fatalf("events %+v", evs)
	}
	ev := evs[1]
	if ev.Type != "apikey.created" || ev.ActorKeyID == nil || *ev.ActorKeyID != a.actor.KeyID || *ev.ActorUserID != a.actor.UserID ||
		ev.Data["keyId"] != k["id"] || ev.Data["name"] != "CI reader" || !equalJSON(ev.Data["permissions"], k["permissions"]) {
		t.Errorf("event %+v", ev)
	}
	if b, _ := json.Marshal(ev.Data); strings.Contains(string(b), secret) {
		t.Errorf("the event keeps the secret: %s", b)
	}
}

// freshTenant names a tenant of its own for each run of a test, so that its counts start from nothing
// under go test -count=N too.
func freshTenant(t *testing.T, label string) string {
	return fmt.Sprintf("%s %s %d", label, t.Name(), tenantSeq.Add(1))
}

var tenantSeq atomic.Int64

// newKeysAPI is newAPI in a fresh tenant.
func newKeysAPI(t *testing.T) *api { return newAPIFor(t, store, freshTenant(t, "keys")) }

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestCreateAPIKeyRefusals(t *testing.T) {
	t.Parallel()
	a := newKeysAPI(t)
	limited, _ := a.newKey("limited", domain.PermAPIKeyManage, domain.PermOrganizationRead)
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	for _, c := range []struct {
		input map[string]any
		want  string
	}{
		{map[string]any{"name": " ", "permissions": []string{"ORGANIZATION_READ", "ORGANIZATION_DELETE", "APIKEY_MANAGE"}, "expiresAt": past},
			"input.name BLANK, input.permissions.1 INVALID_VALUE, input.expiresAt INVALID_VALUE"},
		{map[string]any{"name": strings.Repeat("k", 201), "permissions": []string{}},
			"input.name TOO_LONG, input.permissions REQUIRED"},
		{map[string]any{"name": "writer", "permissions": []string{"ORGANIZATION_CREATE"}},
			"input.permissions.0 INVALID_VALUE"},
	} {
		p := a.createKey(limited, c.input)
		var got []string
		for _, e := range userErrors(p) {
			got = append(got, e.Field+" "+e.Code)
		}
		if strings.Join(got, ", ") != c.want || p["apiKey"] != nil || p["secret"] != nil {
			t.Errorf("%v: %v %v, want %s", c.input, got, p, c.want)
		}
	}
	// The limited key may grant what it holds.
	if p := a.createKey(limited, map[string]any{"name": "reader", "permissions": []string{"ORGANIZATION_READ"}}); len(userErrors(p)) != 0 {
		t.Errorf("granting a held permission: %v", p)
	}
	if n := a.count("api_keys"); n != 3 {
		t.Errorf("%d keys, want 3: the refused ones must write nothing", n)
	}
	if n := a.count("tenant_events"); n != 3 {
		t.Errorf("%d tenant events, want 3", n)
	}
}

func TestAPIKeysForbidden(t *testing.T) {
	t.Parallel()
	a := newKeysAPI(t)
	reader, _ := a.newKey("reader", domain.PermOrganizationRead, domain.PermOrganizationCreate)
	for _, q := range []struct {
		query string
		vars  map[string]any
	}{
		{createAPIKeyMutation, map[string]any{"input": map[string]any{"name": "x", "permissions": []string{"ORGANIZATION_READ"}}}},
		{revokeAPIKeyMutation, map[string]any{"input": map[string]any{"id": a.actor.KeyID}}},
		{apiKeysQuery, nil},
	} {
		r := a.post(reader, q.query, q.vars)
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" || r.Errors[0].Extensions["permission"] != "APIKEY_MANAGE" {
			t.Errorf("%.40s: %s", q.query, r.Raw)
		}
	}
	if keys, events := a.count("api_keys"), a.count("tenant_events"); keys != 2 || events != 2 {
		t.Errorf("%d keys and %d events written without the permission", keys, events)
	}
	if st, _ := a.viewerStatus(a.key); st != http.StatusOK {
		t.Errorf("the key was revoked without the permission")
	}
}

func TestRevokeAPIKey(t *testing.T) {
	t.Parallel()
	a := newKeysAPI(t)
	other := newKeysAPI(t)
	k, secret := a.createKeyOK(map[string]any{"name": "doomed", "permissions": []string{"ORGANIZATION_READ"}})
	if st, _ := a.viewerStatus(secret); st != http.StatusOK {
		t.Fatalf("the new key: %d", st)
	}

	// Another tenant cannot see it, nor an unknown or malformed id.
	for _, id := range []string{k["id"].(string), "00000000-0000-4000-8000-000000000000", "not-an-id"} {
		p := other.revokeKey(other.key, id)
		if errs := userErrors(p); len(errs) != 1 || errs[0].Field != "input.id" || errs[0].Code != "NOT_FOUND" || p["apiKey"] != nil {
			t.Errorf("revoke %s from another tenant: %v", id, p)
		}
	}
	if st, _ := a.viewerStatus(secret); st != http.StatusOK {
		t.Fatalf("another tenant revoked the key: %d", st)
	}

	p := a.revokeKey(a.key, k["id"].(string))
	revoked := p["apiKey"].(map[string]any)
	if len(userErrors(p)) != 0 || p["clientMutationId"] != "r1" || revoked["id"] != k["id"] || revoked["revokedAt"] == nil {
		t.Fatalf("revoke: %v", p)
	}
	r := a.post(secret, `{ viewer { id } }`, nil)
	if r.Status != http.StatusUnauthorized || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "UNAUTHENTICATED" {
		t.Errorf("the revoked key: %d %s", r.Status, r.Raw)
	}
	if p := a.revokeKey(a.key, k["id"].(string)); len(userErrors(p)) != 1 || userErrors(p)[0].Field != "input.id" ||
		userErrors(p)[0].Code != "INVALID_STATE" {
		t.Errorf("revoking twice: %v", p)
	}
	list := a.post(a.key, apiKeysQuery, nil).Data["apiKeys"].(map[string]any)["nodes"].([]any)
	if len(list) != 2 {
		t.Errorf("list %v", list)
	}
	evs := a.tenantEvents()
	if len(evs) != 3 || evs[2].Type != "apikey.revoked" || *evs[2].ActorKeyID != a.actor.KeyID || evs[2].Data["keyId"] != k["id"] ||
		evs[2].Data["name"] != "doomed" {
		t.Errorf("events %+v", evs)
	}

	// A key may revoke itself; it is refused from then on.
	self, selfSecret := a.createKeyOK(map[string]any{"name": "self", "permissions": []string{"APIKEY_MANAGE"}})
	if p := a.revokeKey(selfSecret, self["id"].(string)); len(userErrors(p)) != 0 {
		t.Errorf("self revocation: %v", p)
	}
	if st, _ := a.viewerStatus(selfSecret); st != http.StatusUnauthorized {
		t.Errorf("a key revoked by itself: %d", st)
	}
}

func TestListAPIKeys(t *testing.T) {
	t.Parallel()
	a := newKeysAPI(t)
	var ids []string
	for _, name := range []string{"k1", "k2", "k3"} {
		k, _ := a.createKeyOK(map[string]any{"name": name, "permissions": []string{"ORGANIZATION_READ"}})
		ids = append(ids, k["id"].(string))
	}
	ids = append(ids, a.actor.KeyID)
	var got []string
	var after any
	for pages := 0; ; pages++ {
		c := a.post(a.key, apiKeysQuery, map[string]any{"first": 3, "after": after}).Data["apiKeys"].(map[string]any)
		if c["totalCount"] != float64(4) {
			t.Errorf("totalCount %v", c["totalCount"])
		}
		for _, e := range c["edges"].([]any) {
			got = append(got, e.(map[string]any)["node"].(map[string]any)["id"].(string))
		}
		info := c["pageInfo"].(map[string]any)
		if info["hasPreviousPage"] != (after != nil) {
			t.Errorf("pageInfo %v", info)
		}
		if info["hasNextPage"] != true {
			break
		}
		after = info["endCursor"]
		if pages > 2 {
			t.Fatal("endless pages")
		}
	}
	want := []string{ids[2], ids[1], ids[0], ids[3]} // newest first
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("keys %v, want %v", got, want)
	}
	if r := a.post(a.key, apiKeysQuery, map[string]any{"after": "bogus"}); len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
		t.Errorf("a bad cursor: %s", r.Raw)
	}
	// Keys made before prefixes were kept show what every key starts with.
	a.store.DB().MustExec(`UPDATE api_keys SET prefix = NULL WHERE tenant_id = $1 AND id = $2`, a.actor.TenantID, ids[0])
	nodes := a.post(a.key, `{ apiKeys { nodes { id prefix } } }`, nil).Data["apiKeys"].(map[string]any)["nodes"].([]any)
	if nodes[2].(map[string]any)["prefix"] != domain.APIKeyPrefix {
		t.Errorf("prefix of an old key: %v", nodes[2])
	}
}

// replica is an API server over a store of its own, on the package's database, as another replica of
// the service: its authentication cache remembers keys as long as the server's does by default
// (AUTH_CACHE_TTL=500ms).
func replica(t *testing.T, tenant string, opt db.Options) *api {
	t.Helper()
	opt.AuthCacheTTL = 500 * time.Millisecond
	return newAPIFor(t, dbtest.Open(t, packageURL, opt), tenant)
}

// warm makes a's cache remember key, and shows that it does: a name changed in SQL is not seen.
func warm(t *testing.T, a *api, key, id string) {
	t.Helper()
	for attempt := 0; attempt < 3; attempt++ { // the cache forgets soon: a slow machine retries
		st, before := a.viewerStatus(key)
		if st != http.StatusOK {
			t.Fatalf("warm: %d", st)
		}
		a.store.DB().MustExec(`UPDATE api_keys SET name = name || '+' WHERE id = $1`, id)
		if _, after := a.viewerStatus(key); after == before {
			return
		}
	}
	t.Fatal("the key is not cached")
}

// refusedWithin polls a with key until it is refused, failing beyond limit; it returns how long it took.
func refusedWithin(t *testing.T, a *api, key string, since time.Time, limit time.Duration) time.Duration {
	t.Helper()
	for {
		st, _ := a.viewerStatus(key)
		took := time.Since(since)
		if took > limit || (st != http.StatusOK && st != http.StatusUnauthorized) {
			t.Fatalf("status %d %v after, beyond %v", st, took, limit)
		}
		if st == http.StatusUnauthorized {
			return took
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRevokedKeyRefusedOnEveryReplica: two replicas share one database, each with its cache warm; a
// key revoked through one is refused by the other within a second.
func TestRevokedKeyRefusedOnEveryReplica(t *testing.T) {
	t.Parallel()
	tenant := freshTenant(t, "replicas")
	one, two := replica(t, tenant, db.Options{}), replica(t, tenant, db.Options{})
	if one.actor.TenantID != two.actor.TenantID {
		t.Fatal("the replicas serve two tenants")
	}
	k, secret := one.createKeyOK(map[string]any{"name": "shared", "permissions": []string{"ORGANIZATION_READ"}})
	warm(t, one, secret, k["id"].(string))
	warm(t, two, secret, k["id"].(string))

	start := time.Now()
	if p := one.revokeKey(one.key, k["id"].(string)); len(userErrors(p)) != 0 {
		t.Fatalf("revoke: %v", p)
	}
	if st, _ := one.viewerStatus(secret); st != http.StatusUnauthorized {
		t.Errorf("the replica that revoked still takes the key: %d", st)
	}
	took := refusedWithin(t, two, secret, start, time.Second)
	t.Logf("the other replica refused the key %v after the revocation began", took)
}

// TestExpiredKeyRefused: a key is refused once expired, cached or not: by the clock, and within a second
// when its expiry is moved to the past in SQL.
func TestExpiredKeyRefused(t *testing.T) {
	t.Parallel()
	a := replica(t, freshTenant(t, "expiry"), db.Options{})
	k, secret := a.createKeyOK(map[string]any{"name": "expiring", "permissions": []string{"ORGANIZATION_READ"},
		"expiresAt": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	warm(t, a, secret, k["id"].(string))
	start := time.Now()
	a.store.DB().MustExec(`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1`, k["id"])
	took := refusedWithin(t, a, secret, start, time.Second)
	t.Logf("refused %v after its expiry moved to the past", took)

	expires := time.Now().Add(1500 * time.Millisecond).UTC().Truncate(time.Second).Add(time.Second)
	k, secret = a.createKeyOK(map[string]any{"name": "short", "permissions": []string{"ORGANIZATION_READ"},
		"expiresAt": expires.Format(time.RFC3339)})
	warm(t, a, secret, k["id"].(string))
	time.Sleep(time.Until(expires))
	if st, _ := a.viewerStatus(secret); st != http.StatusUnauthorized {
		t.Errorf("an expired key: %d", st)
	}
}

// TestLastUsedAt: using a key writes nothing; the replica's flush writes the last use of every key used
// in one statement, and apiKeys shows it.
func TestLastUsedAt(t *testing.T) {
	t.Parallel()
	updates, stop := dbtest.Watch("SET last_used_at")
	defer stop()
	s := dbtest.Open(t, packageURL, db.Options{Driver: dbtest.CountingDriver, AuthCacheTTL: time.Second})
	a := newAPIFor(t, s, freshTenant(t, "last used"))
	k1, s1 := a.createKeyOK(map[string]any{"name": "used", "permissions": []string{"ORGANIZATION_READ"}})
	k2, s2 := a.createKeyOK(map[string]any{"name": "used too", "permissions": []string{"ORGANIZATION_READ"}})
	start := time.Now().UTC().Truncate(time.Second)
	for range 10 {
		for _, key := range []string{s1, s2} {
			if st, _ := a.viewerStatus(key); st != http.StatusOK {
				t.Fatal(st)
			}
		}
	}
	lastUsed := func() map[string]any {
		out := map[string]any{}
		for _, n := range a.post(a.key, apiKeysQuery, nil).Data["apiKeys"].(map[string]any)["edges"].([]any) {
			node := n.(map[string]any)["node"].(map[string]any)
			out[node["id"].(string)] = node["lastUsedAt"]
		}
		return out
	}
	if got := lastUsed(); got[k1["id"].(string)] != nil || updates() != 0 {
		t.Fatalf("before a flush: %v, %d updates", got, updates())
	}
	if err := s.FlushLastUsed(context.Background()); err != nil {
		t.Fatal(err)
	}
	if updates() != 1 {
		t.Errorf("%d updates for the flush, want 1", updates())
	}
	got := lastUsed()
	for _, k := range []map[string]any{k1, k2} {
		at, err := time.Parse(time.RFC3339, got[k["id"].(string)].(string))
		if err != nil || at.Before(start) || at.After(time.Now()) {
			t.Errorf("lastUsedAt of %v: %v", k["name"], got[k["id"].(string)])
		}
	}
}
