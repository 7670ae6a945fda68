package db_test

import (
	"bytes"
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"orgs/db"
	"orgs/domain"
)

// The idempotency keys' times are the parameters of the calls: the tests move time, they never wait.

func TestIdempotencyKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	const lease = time.Minute
	hash, otherHash := []byte("hash of the request"), []byte("hash of another request")

	// claim claims key for hash at at, and fails the test unless the claim reports want.
	claim := func(t *testing.T, tenantID, key string, hash []byte, at time.Time, want bool) {
		t.Helper()
		ok, err := store.ClaimIdempotencyKey(ctx, tenantID, key, hash, at, lease)
		if err != nil || ok != want {
			t.Fatalf("ClaimIdempotencyKey(%q) at %s = %v, %v; want %v", key, at, ok, err, want)
		}
	}
	get := func(t *testing.T, tenantID, key string) *db.IdempotencyKey {
		t.Helper()
		k, err := store.GetIdempotencyKey(ctx, tenantID, key)
		if err != nil {
			t.Fatalf("GetIdempotencyKey(%q): %v", key, err)
		}
		return k
	}

	t.Run("Claim", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		claim(t, a.TenantID, "k", hash, now, true)
		k := get(t, a.TenantID, "k")
		if k == nil || !bytes.Equal(k.RequestHash, hash) || k.Done || k.OrganizationID != nil || k.Violations != nil ||
			!k.LockedUntil.Equal(now.Add(lease)) || !k.ExpiresAt.Equal(now.Add(db.IdempotencyTTL)) {
			t.Errorf("claimed key = %+v, want running with hash, locked until %s, expiring at %s", k, now.Add(lease), now.Add(db.IdempotencyTTL))
		}
		// A second claim fails, whatever its input and time, as long as the key has not expired.
		claim(t, a.TenantID, "k", hash, now, false)
		claim(t, a.TenantID, "k", otherHash, now.Add(2*lease), false)
		if k := get(t, a.TenantID, "k"); !bytes.Equal(k.RequestHash, hash) || !k.LockedUntil.Equal(now.Add(lease)) {
			t.Errorf("key after refused claims = %+v", k)
		}
	})

	t.Run("ClaimPerTenant", func(t *testing.T) {
		t.Parallel()
		a, b := newActor(t, "tenant"), newActor(t, "other tenant")
		claim(t, a.TenantID, "k", hash, now, true)
		claim(t, b.TenantID, "k", otherHash, now, true)
		if k := get(t, a.TenantID, "k"); !bytes.Equal(k.RequestHash, hash) {
			t.Errorf("key of the first tenant has hash %q", k.RequestHash)
		}
	})

	t.Run("GetUnknown", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		if k := get(t, a.TenantID, "unknown"); k != nil {
			t.Errorf("GetIdempotencyKey of an unknown key = %+v, want nil", k)
		}
	})

	t.Run("ClaimExpired", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		claim(t, a.TenantID, "k", hash, now.Add(-db.IdempotencyTTL-time.Hour), true)
		if err := store.FinishIdempotencyKey(ctx, a.TenantID, "k", domain.Violations{{Field: []string{"name"}, Code: domain.VBlank}}); err != nil {
			t.Fatal(err)
		}
		claim(t, a.TenantID, "k", otherHash, now, true)
		k := get(t, a.TenantID, "k")
		if !bytes.Equal(k.RequestHash, otherHash) || k.Done || k.Violations != nil || k.OrganizationID != nil ||
			!k.LockedUntil.Equal(now.Add(lease)) || !k.ExpiresAt.Equal(now.Add(db.IdempotencyTTL)) {
			t.Errorf("key claimed afresh = %+v", k)
		}
	})

	t.Run("TakeOver", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		claim(t, a.TenantID, "k", hash, now, true)
		for _, tc := range []struct {
			at   time.Time
			want bool
		}{
			{now, false},
			{now.Add(lease - time.Microsecond), false},
			{now.Add(lease), true},                // the lease has ended: locked until now + 2 leases
			{now.Add(lease + time.Second), false}, // the new lease holds
			{now.Add(2 * lease), true},
		} {
			took, err := store.TakeOverIdempotencyKey(ctx, a.TenantID, "k", tc.at, lease)
			if err != nil || took != tc.want {
				t.Fatalf("TakeOverIdempotencyKey at now+%s = %v, %v; want %v", tc.at.Sub(now), took, err, tc.want)
			}
		}
		if k := get(t, a.TenantID, "k"); !k.LockedUntil.Equal(now.Add(3*lease)) || k.Done || !bytes.Equal(k.RequestHash, hash) {
			t.Errorf("key taken over = %+v, want running locked until now+%s", k, 3*lease)
		}
	})

	t.Run("TakeOverOnceOfConcurrent", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		claim(t, a.TenantID, "k", hash, now, true)
		const takers = 10
		var wg sync.WaitGroup
		took := make([]bool, takers)
		errs := make([]error, takers)
		for i := range takers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				took[i], errs[i] = store.TakeOverIdempotencyKey(ctx, a.TenantID, "k", now.Add(2*lease), lease)
			}()
		}
		wg.Wait()
		wins := 0
		for i := range takers {
			if errs[i] != nil {
				t.Errorf("takeover %d: %v", i, errs[i])
			}
			if took[i] {
				wins++
			}
		}
		if wins != 1 {
			t.Errorf("%d of %d concurrent takeovers won, want 1", wins, takers)
		}
	})

	t.Run("TakeOverDone", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		claim(t, a.TenantID, "k", hash, now, true)
		if err := store.FinishIdempotencyKey(ctx, a.TenantID, "k", domain.Violations{{Field: []string{"name"}, Code: domain.VBlank}}); err != nil {
			t.Fatal(err)
		}
		if took, err := store.TakeOverIdempotencyKey(ctx, a.TenantID, "k", now.Add(2*lease), lease); err != nil || took {
			t.Errorf("TakeOverIdempotencyKey of a done key = %v, %v; want false", took, err)
		}
	})

	t.Run("FinishReplaysViolations", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		claim(t, a.TenantID, "k", hash, now, true)
		vs := domain.Violations{
			{Field: []string{"name"}, Code: domain.VBlank, Message: "name can't be blank"},
			{Field: []string{"slug"}, Code: domain.VTaken, Message: `slug "acme" is already taken`, Suggestions: []string{"acme-2", "acme-3", "acme-4"}},
		}
		if err := store.FinishIdempotencyKey(ctx, a.TenantID, "k", vs); err != nil {
			t.Fatalf("FinishIdempotencyKey: %v", err)
		}
		k := get(t, a.TenantID, "k")
		if !k.Done || k.OrganizationID != nil || !bytes.Equal(k.RequestHash, hash) {
			t.Errorf("finished key = %+v, want done without organization", k)
		}
		if !reflect.DeepEqual(k.Violations, vs) {
			t.Errorf("replayed violations = %+v, want %+v", k.Violations, vs)
		}
		claim(t, a.TenantID, "k", hash, now.Add(2*lease), false)
	})

	t.Run("ReleaseRunning", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		claim(t, a.TenantID, "k", hash, now, true)
		if err := store.ReleaseIdempotencyKey(ctx, a.TenantID, "k"); err != nil {
			t.Fatalf("ReleaseIdempotencyKey: %v", err)
		}
		if k := get(t, a.TenantID, "k"); k != nil {
			t.Errorf("released key = %+v, want none", k)
		}
		claim(t, a.TenantID, "k", otherHash, now, true)
	})

	t.Run("ReleaseNeverDone", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		o := create(t, a, domain.CreateOrganizationInput{Name: "Acme"})
		claim(t, a.TenantID, "created", hash, now, true)
		claim(t, a.TenantID, "refused", hash, now, true)
		if _, err := store.DB().Exec(`UPDATE idempotency_keys SET state = 'done', organization_id = $2 WHERE tenant_id = $1 AND key = 'created'`,
			a.TenantID, o.ID); err != nil {
			t.Fatal(err)
		}
		if err := store.FinishIdempotencyKey(ctx, a.TenantID, "refused", domain.Violations{{Field: []string{"name"}, Code: domain.VBlank}}); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"created", "refused"} {
			if err := store.ReleaseIdempotencyKey(ctx, a.TenantID, key); err != nil {
				t.Fatalf("ReleaseIdempotencyKey(%q): %v", key, err)
			}
			if k := get(t, a.TenantID, key); k == nil || !k.Done {
				t.Errorf("done key %q after release = %+v, want kept", key, k)
			}
		}
	})

	t.Run("Purge", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		// Keys claimed a day and an hour ago, a day less a second ago, and now; "expired" keys of other
		// tests may be purged too, so only this tenant's keys are counted.
		expired := []string{"expired-running", "expired-done"}
		claim(t, a.TenantID, "expired-running", hash, now.Add(-db.IdempotencyTTL-time.Hour), true)
		claim(t, a.TenantID, "expired-done", hash, now.Add(-db.IdempotencyTTL-time.Hour), true)
		if err := store.FinishIdempotencyKey(ctx, a.TenantID, "expired-done", domain.Violations{{Field: []string{"name"}, Code: domain.VBlank}}); err != nil {
			t.Fatal(err)
		}
		claim(t, a.TenantID, "almost-expired", hash, now.Add(-db.IdempotencyTTL+time.Second), true)
		claim(t, a.TenantID, "fresh", hash, now, true)
		n, err := store.PurgeIdempotencyKeys(ctx, now)
		if err != nil {
			t.Fatalf("PurgeIdempotencyKeys: %v", err)
		}
		if n < int64(len(expired)) {
			t.Errorf("PurgeIdempotencyKeys = %d, want at least %d", n, len(expired))
		}
		var left []string
		if err := store.DB().Select(&left, `SELECT key FROM idempotency_keys WHERE tenant_id = $1 ORDER BY key`, a.TenantID); err != nil {
			t.Fatal(err)
		}
		if want := []string{"almost-expired", "fresh"}; !reflect.DeepEqual(left, want) {
			t.Errorf("keys left after the purge = %q, want %q", left, want)
		}
	})
}
