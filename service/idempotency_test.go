package service_test

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"orgs/domain"
	"orgs/service"
)

func TestCreateOrganizationIdempotency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newService(service.Config{})
	withKey := func(key string) service.CreateOptions { return service.CreateOptions{IdempotencyKey: &key} }

	t.Run("Replay", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		in := domain.CreateOrganizationInput{Name: "Once", Projects: []domain.ProjectInput{{Name: ptr("API")}}}
		first, err := s.CreateOrganization(ctx, a, in, withKey("order-42"))
		if err != nil {
			t.Fatalf("first: %v", err)
		}
		second, err := s.CreateOrganization(ctx, a, in, withKey("order-42"))
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		if second.ID != first.ID || second.Slug != "once" {
			t.Errorf("replay = %s (%s), want %s (once)", second.ID, second.Slug, first.ID)
		}
		if n := count(t, a.TenantID, "organizations"); n != 1 {
			t.Errorf("%d organizations, want 1", n)
		}
		// Another key is another request.
		third, err := s.CreateOrganization(ctx, a, in, withKey("order-43"))
		if err != nil || third.ID == first.ID || third.Slug != "once-2" {
			t.Errorf("another key = %+v, %v; want a new organization once-2", third, err)
		}
	})

	t.Run("ErrReused", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		if _, err := s.CreateOrganization(ctx, a, domain.CreateOrganizationInput{Name: "First"}, withKey("k")); err != nil {
			t.Fatal(err)
		}
		before := rows(t, a.TenantID)
		for _, in := range []domain.CreateOrganizationInput{
			{Name: "Second"},
			{Name: "First", Description: ptr("the same name, another input")},
		} {
			_, err := s.CreateOrganization(ctx, a, in, withKey("k"))
			vs := violationsOf(t, err)
			if len(vs) != 1 || vs[0].Code != domain.VIdempotencyReused || !slices.Equal(vs[0].Field, []string{"idempotencyKey"}) {
				t.Errorf("reused key with %+v: violations = %+v, want IDEMPOTENCY_KEY_REUSED at [idempotencyKey]", in, vs)
			}
		}
		assertUnchanged(t, a.TenantID, before)
	})

	// A refused request records its violations: a retry gets the same ones, even when the tenant changed
	// meanwhile (here the suggestions of a taken slug would be others).
	t.Run("ViolationsReplayed", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		if _, err := s.CreateOrganization(ctx, a, domain.CreateOrganizationInput{Name: "Acme"}, service.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		in := domain.CreateOrganizationInput{Name: "Other", Slug: ptr("acme")}
		_, err := s.CreateOrganization(ctx, a, in, withKey("k"))
		first := violationsOf(t, err)
		if len(first) != 1 || first[0].Code != domain.VTaken || !slices.Equal(first[0].Suggestions, []string{"acme-2", "acme-3", "acme-4"}) {
			t.Fatalf("first violations = %+v, want TAKEN suggesting acme-2...", first)
		}
		if _, err := s.CreateOrganization(ctx, a, domain.CreateOrganizationInput{Name: "Acme 2", Slug: ptr("acme-2")}, service.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		before := rows(t, a.TenantID)
		_, err = s.CreateOrganization(ctx, a, in, withKey("k"))
		if replayed := violationsOf(t, err); !reflect.DeepEqual(replayed, first) {
			t.Errorf("replayed violations = %+v, want the first ones %+v", replayed, first)
		}
		assertUnchanged(t, a.TenantID, before)
	})

	t.Run("InvalidInputReplayed", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		in := domain.CreateOrganizationInput{Name: "", PrimaryDomain: ptr("not a domain")}
		_, err := s.CreateOrganization(ctx, a, in, withKey("k"))
		first := violationsOf(t, err)
		k, err := store.GetIdempotencyKey(ctx, a.TenantID, "k")
		if err != nil || k == nil || !k.Done || !reflect.DeepEqual(k.Violations, first) {
			t.Fatalf("key = %+v, %v; want done with the violations", k, err)
		}
		_, err = s.CreateOrganization(ctx, a, in, withKey("k"))
		if replayed := violationsOf(t, err); !reflect.DeepEqual(replayed, first) {
			t.Errorf("replayed violations = %+v, want %+v", replayed, first)
		}
	})

	// While the request that claimed a key runs, a retry is told to wait; once it has finished, the
	// retry replays it. The first request is held inside its transaction by a lock on the caller's user
	// row, which the organization refers to.
	t.Run("ErrInUse", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		tx, err := store.DB().Beginx()
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.Exec(`SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, a.TenantID, a.UserID); err != nil {
			t.Fatal(err)
		}
		in := domain.CreateOrganizationInput{Name: "Slow"}
		type result struct {
			o   *domain.Organization
			err error
		}
		done := make(chan result, 1)
		go func() {
			o, err := s.CreateOrganization(ctx, a, in, withKey("k"))
			done <- result{o, err}
		}()
		deadline := time.Now().Add(5 * time.Second)
		for {
			k, err := store.GetIdempotencyKey(ctx, a.TenantID, "k")
			if err != nil {
				t.Fatal(err)
			}
			if k != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the first request never claimed its key")
			}
			time.Sleep(2 * time.Millisecond)
		}

		// Bounded: a retry that went on to create would wait for the lock too.
		retryCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err = s.CreateOrganization(retryCtx, a, in, withKey("k"))
		vs := violationsOf(t, err)
		if len(vs) != 1 || vs[0].Code != domain.VIdempotencyInUse || !slices.Equal(vs[0].Field, []string{"idempotencyKey"}) {
			t.Errorf("retry while running: violations = %+v, want IDEMPOTENCY_KEY_IN_USE at [idempotencyKey]", vs)
		}

		tx.Rollback()
		first := <-done
		if first.err != nil {
			t.Fatalf("first request: %v", first.err)
		}
		again, err := s.CreateOrganization(ctx, a, in, withKey("k"))
		if err != nil || again.ID != first.o.ID {
			t.Errorf("retry after the first finished = %+v, %v; want %s", again, err, first.o.ID)
		}
		if n := count(t, a.TenantID, "organizations"); n != 1 {
			t.Errorf("%d organizations, want 1", n)
		}
	})

	t.Run("ValidateOnlyClaimsNothing", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		in := domain.CreateOrganizationInput{Name: "Acme"}
		if _, err := s.CreateOrganization(ctx, a, in, service.CreateOptions{IdempotencyKey: ptr("k"), ValidateOnly: true}); err != nil {
			t.Fatalf("validateOnly: %v", err)
		}
		if k, err := store.GetIdempotencyKey(ctx, a.TenantID, "k"); err != nil || k != nil {
			t.Errorf("key after validateOnly = %+v, %v; want none", k, err)
		}
		if o, err := s.CreateOrganization(ctx, a, in, withKey("k")); err != nil || o.Slug != "acme" {
			t.Errorf("create after validateOnly = %+v, %v", o, err)
		}
	})
}
