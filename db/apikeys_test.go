package db_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"orgs/db"
	"orgs/db/dbtest"
	"orgs/domain"
)

func bootstrapKey(t *testing.T, s *db.Store, tenant string, perms ...domain.Permission) (string, *domain.Actor) {
	t.Helper()
	key, a, err := s.CreateAPIKey(context.Background(), db.NewAPIKey{Name: "boot", Tenant: tenant, Permissions: perms})
	if err != nil {
		t.Fatal(err)
	}
	return key, a
}

// TestRevocationNotifiesEveryStore shows that the notification alone empties the caches of the other
// stores: their TTL is an hour, yet a revoked key is refused within a second.
func TestRevocationNotifiesEveryStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.New(t)
	a, b := dbtest.Open(t, url, db.Options{AuthCacheTTL: time.Second}), dbtest.Open(t, url, db.Options{AuthCacheTTL: time.Second})
	a.SetAuthCacheTTL(time.Hour)
	b.SetAuthCacheTTL(time.Hour)
	admin, _ := bootstrapKey(t, a, "replicas", domain.AllPermissions...)
	caller, err := a.Authenticate(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	k, secret, err := a.CreateTenantAPIKey(ctx, caller, domain.NewAPIKeyInput{Name: "victim",
		Permissions: []domain.Permission{domain.PermOrganizationRead}}, time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*db.Store{a, b} {
		if _, err := s.Authenticate(ctx, secret); err != nil {
			t.Fatalf("a new key: %v", err)
		}
	}
	// b remembers the key: a change made in SQL does not reach it.
	a.DB().MustExec(`UPDATE api_keys SET name = 'renamed' WHERE id = $1`, k.ID)
	if got, err := b.Authenticate(ctx, secret); err != nil || got.KeyName != "victim" {
		t.Fatalf("the cache of b is not warm: %v %+v", err, got)
	}

	if _, err := a.RevokeAPIKey(ctx, caller, k.ID, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	if _, err := a.Authenticate(ctx, secret); domain.ErrorCodeOf(err) != domain.EUNAUTHENTICATED {
		t.Errorf("the revoking store still takes the key: %v", err)
	}
	for {
		_, err := b.Authenticate(ctx, secret)
		if domain.ErrorCodeOf(err) == domain.EUNAUTHENTICATED {
			break
		}
		if time.Since(revoked) > time.Second {
			t.Fatalf("b still takes the revoked key a second later (%v)", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("refused by the other store %v after the revocation", time.Since(revoked))
}

// TestCachedKeyExpires shows that a key's expiry is checked on every request, cached or not.
func TestCachedKeyExpires(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Open(t, dbtest.New(t), db.Options{AuthCacheTTL: time.Second})
	s.SetAuthCacheTTL(time.Hour)
	admin, _ := bootstrapKey(t, s, "expiry", domain.AllPermissions...)
	caller, err := s.Authenticate(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	expires := time.Now().UTC().Add(300 * time.Millisecond)
	_, secret, err := s.CreateTenantAPIKey(ctx, caller, domain.NewAPIKeyInput{Name: "short",
		Permissions: []domain.Permission{domain.PermOrganizationRead}, ExpiresAt: &expires}, time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, secret); err != nil {
		t.Fatalf("before its expiry: %v", err)
	}
	time.Sleep(time.Until(expires) + 10*time.Millisecond)
	if _, err := s.Authenticate(ctx, secret); domain.ErrorCodeOf(err) != domain.EUNAUTHENTICATED {
		t.Errorf("after its expiry the cached key still works: %v", err)
	}
}

// TestLastUsedBatched shows that using keys writes nothing until a flush, which writes every key used
// in one statement, and that closing the store flushes.
func TestLastUsedBatched(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.New(t)
	s, err := db.Open(ctx, url, db.Options{Driver: dbtest.CountingDriver, AuthCacheTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	reader := dbtest.Open(t, url, db.Options{})
	updates, stop := dbtest.Watch("SET last_used_at")
	defer stop()
	var keys []string
	for _, tenant := range []string{"used a", "used b", "used c"} {
		k, _ := bootstrapKey(t, s, tenant, domain.PermOrganizationRead)
		keys = append(keys, k)
	}
	for range 20 {
		for _, k := range keys {
			if _, err := s.Authenticate(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
	}
	lastUsed := func() (n int, latest time.Time) {
		var row struct {
			N      int        `db:"n"`
			Latest *time.Time `db:"latest"`
		}
		reader.DB().GetContext(ctx, &row, `SELECT count(last_used_at) AS n, max(last_used_at) AS latest FROM api_keys`)
		if row.Latest != nil {
			latest = *row.Latest
		}
		return row.N, latest
	}
	if n, _ := lastUsed(); n != 0 || updates() != 0 {
		t.Fatalf("before a flush: %d keys with lastUsedAt, %d updates", n, updates())
	}
	if err := s.FlushLastUsed(ctx); err != nil {
		t.Fatal(err)
	}
	n, first := lastUsed()
	if n != 3 || updates() != 1 {
		t.Errorf("after a flush: %d keys with lastUsedAt, %d updates; want 3 in 1", n, updates())
	}
	if err := s.FlushLastUsed(ctx); err != nil || updates() != 1 {
		t.Errorf("a flush with nothing new wrote: %d updates, %v", updates(), err)
	}
	time.Sleep(2 * time.Millisecond)
	if _, err := s.Authenticate(ctx, keys[0]); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, latest := lastUsed(); !latest.After(first) || updates() != 2 {
		t.Errorf("closing did not flush the last use: %v after %v, %d updates", latest, first, updates())
	}
}

// TestLastUsedFlushedEveryInterval shows the flush of a store's background work.
func TestLastUsedFlushedEveryInterval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Open(t, dbtest.New(t), db.Options{LastUsedFlushInterval: 50 * time.Millisecond})
	key, a := bootstrapKey(t, s, "interval", domain.PermOrganizationRead)
	if _, err := s.Authenticate(ctx, key); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var at *time.Time
		s.DB().GetContext(ctx, &at, `SELECT last_used_at FROM api_keys WHERE tenant_id = $1 AND id = $2`, a.TenantID, a.KeyID)
		if at != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("lastUsedAt not written by the background flush")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCreateAPIKeyCommandEvent shows that the bootstrap of the apikey create command writes the
// apikey.created event, without an actor, and keeps the key's prefix.
func TestCreateAPIKeyCommandEvent(t *testing.T) {
	t.Parallel()
	s := dbtest.Open(t, dbtest.New(t), db.Options{})
	key, a := bootstrapKey(t, s, "command", domain.PermOrganizationRead, domain.PermAPIKeyManage)
	var ev struct {
		Type   string  `db:"type"`
		KeyID  *string `db:"actor_key_id"`
		UserID *string `db:"actor_user_id"`
		Data   string  `db:"data"`
	}
	if err := s.DB().Get(&ev, `SELECT type, actor_key_id, actor_user_id, data FROM tenant_events WHERE tenant_id = $1`, a.TenantID); err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	json.Unmarshal([]byte(ev.Data), &data)
	if ev.Type != domain.EventAPIKeyCreated || ev.KeyID != nil || ev.UserID != nil || data["keyId"] != a.KeyID ||
		data["name"] != "boot" || len(data["permissions"].([]any)) != 2 {
		t.Errorf("event = %+v %v", ev, data)
	}
	var prefix string
	s.DB().Get(&prefix, `SELECT prefix FROM api_keys WHERE id = $1`, a.KeyID)
	if prefix != key[:len(domain.APIKeyPrefix)+4] {
		t.Errorf("prefix %q of key %q", prefix, key)
	}
}
