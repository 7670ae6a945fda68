package db_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	const later = time.Minute
	hash, otherHash := []byte("hash of the request"), []byte("hash of another request")

	// claim claims key for hash at at, and fails the test unless the claim reports want.
	claim := func(t *testing.T, tenantID, key string, hash []byte, at time.Time, want bool) {
		t.Helper()
		ok, err := store.ClaimIdempotencyKey(ctx, tenantID, key, hash, at)
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
			!k.ExpiresAt.Equal(now.Add(db.IdempotencyTTL)) {
			t.Errorf("claimed key = %+v, want running with hash, expiring at %s", k, now.Add(db.IdempotencyTTL))
		}
		// A second claim fails, whatever its input and time, as long as the key has not expired.
		claim(t, a.TenantID, "k", hash, now, false)
		claim(t, a.TenantID, "k", otherHash, now.Add(2*later), false)
		if k := get(t, a.TenantID, "k"); !bytes.Equal(k.RequestHash, hash) || !k.ExpiresAt.Equal(now.Add(db.IdempotencyTTL)) {
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
		if err := store.FinishIdempotencyKey(ctx, a.TenantID, "k", hash, now, domain.Violations{{Field: []string{"name"}, Code: domain.VBlank}}); err != nil {
			t.Fatal(err)
		}
		claim(t, a.TenantID, "k", otherHash, now, true)
		k := get(t, a.TenantID, "k")
		if !bytes.Equal(k.RequestHash, otherHash) || k.Done || k.Violations != nil || k.OrganizationID != nil ||
			!k.ExpiresAt.Equal(now.Add(db.IdempotencyTTL)) {
			t.Errorf("key claimed afresh = %+v", k)
		}
	})

	// A key is in use while, and only while, a live connection holds its lock: PostgreSQL drops the
	// lock with the connection (a crashed process, a restarted server), and the key is free at once,
	// with no lease to wait for.
	t.Run("InUseOnlyWhileALiveConnectionHoldsIt", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		lock := func(t *testing.T) *db.IdempotencyLock {
			t.Helper()
			l, err := store.LockIdempotencyKey(ctx, a.TenantID, "k")
			if err != nil {
				t.Fatalf("LockIdempotencyKey of a free key: %v", err)
			}
			return l
		}
		inUse := func(t *testing.T) {
			t.Helper()
			if l, err := store.LockIdempotencyKey(ctx, a.TenantID, "k"); !errors.Is(err, db.ErrIdempotencyKeyInUse) {
				if l != nil {
					l.Unlock()
				}
				t.Fatalf("LockIdempotencyKey of a held key = %v, want ErrIdempotencyKeyInUse", err)
			}
		}
		first := lock(t)
		inUse(t)
		// Another tenant's key of the same name is another key.
		b := newActor(t, "other tenant")
		if l, err := store.LockIdempotencyKey(ctx, b.TenantID, "k"); err != nil {
			t.Errorf("lock of another tenant's key: %v", err)
		} else {
			l.Unlock()
		}
		first.Unlock()
		second := lock(t)
		inUse(t)

		// The holder's connection dies, as in a crash: the key is free at once.
		pid, err := second.BackendPID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var killed bool
		if err := store.DB().GetContext(ctx, &killed, `SELECT pg_terminate_backend($1, 5000)`, pid); err != nil || !killed {
			t.Fatalf("terminate the holder's backend = %v, %v", killed, err)
		}
		third := lock(t)
		second.Unlock() // its connection is dead: discarded, not handed to anyone
		inUse(t)
		third.Unlock()
		lock(t).Unlock()
	})

	t.Run("OneOfConcurrentLocks", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		const lockers = 8
		var wg sync.WaitGroup
		locks := make([]*db.IdempotencyLock, lockers)
		errs := make([]error, lockers)
		start := make(chan struct{})
		for i := range lockers {
			wg.Go(func() {
				<-start
				locks[i], errs[i] = store.LockIdempotencyKey(ctx, a.TenantID, "k")
			})
		}
		close(start)
		wg.Wait()
		held := 0
		for i := range lockers {
			switch {
			case errs[i] == nil:
				held++
				defer locks[i].Unlock()
			case !errors.Is(errs[i], db.ErrIdempotencyKeyInUse):
				t.Errorf("lock %d: %v", i, errs[i])
			}
		}
		if held != 1 {
			t.Errorf("%d of %d concurrent locks held, want 1", held, lockers)
		}
	})

	// Should two requests ever create under one key (one that lost its lock with its connection, but
	// not yet its transaction), one outcome is recorded and one organization created.
	t.Run("OneOfConcurrentCreatesUnderAKey", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		claim(t, a.TenantID, "k", hash, now, true)
		const creators = 10
		var wg sync.WaitGroup
		ns := make([]db.NewOrganization, creators)
		errs := make([]error, creators)
		for i := range creators {
			ns[i] = newOrganization(t, a, domain.CreateOrganizationInput{Name: fmt.Sprintf("Acme %d", i)})
			ns[i].IdempotencyKey, ns[i].IdempotencyHash = "k", hash
			wg.Go(func() { errs[i] = store.CreateOrganization(ctx, ns[i]) })
		}
		wg.Wait()
		var winner string
		for i, err := range errs {
			switch {
			case err == nil && winner == "":
				winner = ns[i].Organization.ID
			case err == nil:
				t.Errorf("create %d succeeded too", i)
			case !errors.Is(err, db.ErrIdempotencyKeySettled):
				t.Errorf("create %d: %v, want ErrIdempotencyKeySettled", i, err)
			}
		}
		if c := counts(t, a.TenantID)["organizations"]; winner == "" || c != 1 {
			t.Errorf("%d organizations, winner %q; want exactly one", c, winner)
		}
		if k := get(t, a.TenantID, "k"); !k.Done || k.OrganizationID == nil || *k.OrganizationID != winner {
			t.Errorf("key = %+v, want done with the one organization %s", k, winner)
		}
	})

	t.Run("SettledKeyIsNotCreatedAgain", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		claim(t, a.TenantID, "k", hash, now, true)
		if err := store.FinishIdempotencyKey(ctx, a.TenantID, "k", hash, now, domain.Violations{{Field: []string{"name"}, Code: domain.VBlank}}); err != nil {
			t.Fatal(err)
		}
		before := counts(t, a.TenantID)
		n := newOrganization(t, a, domain.CreateOrganizationInput{Name: "Acme"})
		n.IdempotencyKey, n.IdempotencyHash = "k", hash
		if err := store.CreateOrganization(ctx, n); !errors.Is(err, db.ErrIdempotencyKeySettled) {
			t.Errorf("create under a done key = %v, want ErrIdempotencyKeySettled", err)
		}
		assertCounts(t, a.TenantID, before)
	})

	t.Run("FinishReplaysViolations", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		claim(t, a.TenantID, "k", hash, now, true)
		vs := domain.Violations{
			{Field: []string{"name"}, Code: domain.VBlank, Message: "name can't be blank"},
			{Field: []string{"slug"}, Code: domain.VTaken, Message: `slug "acme" is already taken`, Suggestions: []string{"acme-2", "acme-3", "acme-4"}},
		}
		if err := store.FinishIdempotencyKey(ctx, a.TenantID, "k", hash, now, vs); err != nil {
			t.Fatalf("FinishIdempotencyKey: %v", err)
		}
		k := get(t, a.TenantID, "k")
		if !k.Done || k.OrganizationID != nil || !bytes.Equal(k.RequestHash, hash) {
			t.Errorf("finished key = %+v, want done without organization", k)
		}
		if !reflect.DeepEqual(k.Violations, vs) {
			t.Errorf("replayed violations = %+v, want %+v", k.Violations, vs)
		}
		claim(t, a.TenantID, "k", hash, now.Add(2*later), false)
		// Settled once: a second outcome is refused.
		if err := store.FinishIdempotencyKey(ctx, a.TenantID, "k", hash, now, nil); !errors.Is(err, db.ErrIdempotencyKeySettled) {
			t.Errorf("FinishIdempotencyKey of a done key = %v, want ErrIdempotencyKeySettled", err)
		}
		if k := get(t, a.TenantID, "k"); !reflect.DeepEqual(k.Violations, vs) {
			t.Errorf("violations after a refused second outcome = %+v, want %+v", k.Violations, vs)
		}
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
		if err := store.FinishIdempotencyKey(ctx, a.TenantID, "refused", hash, now, domain.Violations{{Field: []string{"name"}, Code: domain.VBlank}}); err != nil {
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
		if err := store.FinishIdempotencyKey(ctx, a.TenantID, "expired-done", hash, now, domain.Violations{{Field: []string{"name"}, Code: domain.VBlank}}); err != nil {
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
