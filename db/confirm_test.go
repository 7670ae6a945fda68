package db_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"orgs/db"
	"orgs/domain"
)

func TestConfirmEmail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// invite creates an organization of a's tenant whose administrator's token is token, expiring at
	// expiresAt, and returns it.
	invite := func(t *testing.T, a *domain.Actor, token string, expiresAt time.Time) *domain.Organization {
		t.Helper()
		n := newOrganization(t, a, withAdministrator(domain.CreateOrganizationInput{Name: "Acme"}, "ada@example.com"))
		n.Confirmation = confirmationFor("ada@example.com", token, expiresAt)
		if err := store.CreateOrganization(ctx, n); err != nil {
			t.Fatalf("CreateOrganization: %v", err)
		}
		return n.Organization
	}

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		a, other := newActor(t, "tenant"), newActor(t, "other tenant")
		o := invite(t, a, "the token", time.Now().Add(time.Hour))
		// In order: what must fail leaves the token to the confirmation that follows, which spends it.
		for _, step := range []struct {
			name  string
			actor *domain.Actor
			token string
			want  error
		}{
			{"ErrInvalidTokenUnknown", a, "another token", db.ErrInvalidToken},
			{"ErrInvalidTokenOfAnotherTenant", other, "the token", db.ErrInvalidToken},
			{"OK", a, "the token", nil},
			{"ErrInvalidTokenUsed", a, "the token", db.ErrInvalidToken},
		} {
			m, err := store.ConfirmEmail(ctx, step.actor, hashOf(step.token))
			if !errors.Is(err, step.want) {
				t.Fatalf("%s: ConfirmEmail = %v, want %v", step.name, err, step.want)
			}
			if step.want != nil {
				continue
			}
			if m == nil || m.Email != "ada@example.com" || m.Role != "ADMIN" || m.Status != "ACTIVE" || m.JoinedAt == nil || !m.EmailVerified {
				t.Errorf("confirmed member = %+v, want ada@example.com, an ACTIVE ADMIN", m)
			}
		}
		if n := count(t, a.TenantID, "memberships", `organization_id = $2 AND role = 'ADMIN' AND status = 'ACTIVE' AND joined_at IS NOT NULL`, o.ID); n != 1 {
			t.Errorf("%d ACTIVE ADMIN memberships, want 1", n)
		}
		if n := count(t, a.TenantID, "users", `email = 'ada@example.com' AND email_verified_at IS NOT NULL`); n != 1 {
			t.Errorf("administrator's address not verified")
		}
		if n := count(t, a.TenantID, "email_confirmations", `used_at IS NOT NULL`); n != 1 {
			t.Errorf("%d used tokens, want 1", n)
		}
		// One member.joined event, the organization's second.
		if n := count(t, a.TenantID, "audit_events", `organization_id = $2 AND sequence = 2 AND type = $3`, o.ID, domain.EventMemberJoined); n != 1 {
			t.Errorf("%d member.joined events at sequence 2, want 1", n)
		}
		if n := count(t, a.TenantID, "organizations", `id = $2 AND sequence = 2`, o.ID); n != 1 {
			t.Errorf("organization's sequence is not 2")
		}
		if n := count(t, other.TenantID, "audit_events"); n != 0 {
			t.Errorf("%d events in the other tenant", n)
		}
	})

	t.Run("ErrInvalidTokenExpired", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		invite(t, a, "the token", time.Now().Add(-time.Second))
		before := counts(t, a.TenantID)
		if _, err := store.ConfirmEmail(ctx, a, hashOf("the token")); !errors.Is(err, db.ErrInvalidToken) {
			t.Fatalf("ConfirmEmail = %v, want ErrInvalidToken", err)
		}
		assertCounts(t, a.TenantID, before)
		if n := count(t, a.TenantID, "memberships", `status = 'INVITED'`); n != 1 {
			t.Errorf("%d INVITED memberships after an expired token, want 1", n)
		}
	})
}
