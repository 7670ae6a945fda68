package db_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"orgs/db"
	"orgs/domain"
)

// withAdministrator adds to in a primary administrator with the landing page of their confirmation link.
func withAdministrator(in domain.CreateOrganizationInput, email string) domain.CreateOrganizationInput {
	in.PrimaryAdministrator = &domain.AdministratorInput{FirstName: "Ada", LastName: "Admin", Email: email}
	in.EmailConfirmationLandingPage = ptr("https://app.example/confirm")
	return in
}

func TestCreateOrganization(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		o := create(t, a, domain.CreateOrganizationInput{
			Name: "Acme", PrimaryDomain: ptr("acme.example"),
			Projects:         []domain.ProjectInput{{Name: ptr("API")}},
			CustomAttributes: []domain.AttributeInput{{Key: "tier", Value: "gold"}},
		})
		assertCounts(t, a.TenantID, map[string]int{"organizations": 1, "organization_domains": 2, "projects": 2,
			"memberships": 1, "organization_attributes": 1, "audit_events": 1, "users": 1})

		var org struct {
			Slug        string `db:"slug"`
			CreatedBy   string `db:"created_by"`
			Sequence    int64  `db:"sequence"`
			MemberCount int    `db:"member_count"`
			IsDefault   bool   `db:"is_default"`
		}
		if err := store.DB().Get(&org, `SELECT slug, created_by, sequence, member_count, is_default FROM organizations
			WHERE tenant_id = $1 AND id = $2`, a.TenantID, o.ID); err != nil {
			t.Fatal(err)
		}
		if org.Slug != "acme" || org.CreatedBy != a.UserID || org.Sequence != 1 || org.MemberCount != 1 || org.IsDefault {
			t.Errorf("organization row = %+v", org)
		}
		type domainRow struct {
			Domain      string `db:"domain"`
			IsPrimary   bool   `db:"is_primary"`
			IsGenerated bool   `db:"is_generated"`
		}
		var domains []domainRow
		if err := store.DB().Select(&domains, `SELECT domain, is_primary, is_generated FROM organization_domains
			WHERE tenant_id = $1 AND organization_id = $2 ORDER BY domain`, a.TenantID, o.ID); err != nil {
			t.Fatal(err)
		}
		if want := []domainRow{{"acme.example", true, false}, {"acme.orgs.test", false, true}}; !slices.Equal(domains, want) {
			t.Errorf("domains = %+v, want %+v", domains, want)
		}
		type projectRow struct {
			Name      string `db:"name"`
			IsDefault bool   `db:"is_default"`
			Position  int    `db:"position"`
		}
		var projects []projectRow
		if err := store.DB().Select(&projects, `SELECT name, is_default, position FROM projects
			WHERE tenant_id = $1 AND organization_id = $2 ORDER BY position`, a.TenantID, o.ID); err != nil {
			t.Fatal(err)
		}
		if want := []projectRow{{domain.DefaultProjectName, true, 0}, {"API", false, 1}}; !slices.Equal(projects, want) {
			t.Errorf("projects = %+v, want %+v", projects, want)
		}
		if n := count(t, a.TenantID, "memberships", `organization_id = $2 AND user_id = $3 AND role = 'OWNER' AND status = 'ACTIVE'`,
			o.ID, a.UserID); n != 1 {
			t.Errorf("%d OWNER memberships of the caller, want 1", n)
		}
		if n := count(t, a.TenantID, "organization_attributes", `organization_id = $2 AND key = 'tier' AND type = 'STRING' AND value = '"gold"'`,
			o.ID); n != 1 {
			t.Errorf("%d attributes tier = gold, want 1", n)
		}
		if n := count(t, a.TenantID, "audit_events", `organization_id = $2 AND sequence = 1 AND type = $3 AND actor_key_id = $4`,
			o.ID, domain.EventOrganizationCreated, a.KeyID); n != 1 {
			t.Errorf("%d organization.created events, want 1", n)
		}
	})

	// A create that breaks a unique constraint writes nothing: each case creates "Acme" (slug acme,
	// domain acme.example), then tries the second input.
	for _, tc := range []struct {
		name   string
		second domain.CreateOrganizationInput
		// primaryDomain, when set, replaces the primary domain of the second organization.
		primaryDomain string
		want          error
	}{
		{"ErrSlugTaken", domain.CreateOrganizationInput{Name: "Other", Slug: ptr("acme")}, "", db.ErrSlugTaken},
		{"ErrSlugTakenByAGeneratedSlug", domain.CreateOrganizationInput{Name: "ACME"}, "", db.ErrSlugTaken},
		{"ErrSlugTakenInATransaction", domain.CreateOrganizationInput{Name: "Other", Slug: ptr("acme"), IsDefault: ptr(true)}, "", db.ErrSlugTaken},
		{"ErrDomainTaken", domain.CreateOrganizationInput{Name: "Other", PrimaryDomain: ptr("acme.example")}, "", db.ErrDomainTaken},
		{"ErrDomainTakenByAGeneratedDomain", domain.CreateOrganizationInput{Name: "Other"}, "acme.orgs.test", db.ErrDomainTaken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newActor(t, "tenant")
			create(t, a, domain.CreateOrganizationInput{Name: "Acme", PrimaryDomain: ptr("acme.example")})
			before := counts(t, a.TenantID)
			n := newOrganization(t, a, tc.second)
			if tc.primaryDomain != "" {
				n.Organization.PrimaryDomain = tc.primaryDomain
			}
			err := store.CreateOrganization(ctx, n)
			if !errors.Is(err, tc.want) {
				t.Fatalf("CreateOrganization = %v, want %v", err, tc.want)
			}
			assertCounts(t, a.TenantID, before)
		})
	}

	t.Run("SameSlugAndDomainInAnotherTenant", func(t *testing.T) {
		t.Parallel()
		a, b := newActor(t, "tenant"), newActor(t, "other tenant")
		in := domain.CreateOrganizationInput{Name: "Acme", PrimaryDomain: ptr("acme.example")}
		create(t, a, in)
		o := create(t, b, in)
		if o.Slug != "acme" || count(t, b.TenantID, "organizations", `slug = 'acme'`) != 1 {
			t.Errorf("slug %q in the other tenant", o.Slug)
		}
	})

	t.Run("ValidateOnly", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		before := counts(t, a.TenantID)
		n := newOrganization(t, a, withAdministrator(domain.CreateOrganizationInput{Name: "Acme", IsDefault: ptr(true)}, "ada@example.com"))
		n.ValidateOnly = true
		if err := store.CreateOrganization(ctx, n); err != nil {
			t.Fatalf("CreateOrganization: %v", err)
		}
		assertCounts(t, a.TenantID, before)
	})

	t.Run("ValidateOnlyErrSlugTaken", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		create(t, a, domain.CreateOrganizationInput{Name: "Acme"})
		before := counts(t, a.TenantID)
		n := newOrganization(t, a, domain.CreateOrganizationInput{Name: "Acme"})
		n.ValidateOnly = true
		if err := store.CreateOrganization(ctx, n); !errors.Is(err, db.ErrSlugTaken) {
			t.Fatalf("CreateOrganization = %v, want ErrSlugTaken", err)
		}
		assertCounts(t, a.TenantID, before)
	})

	t.Run("Administrator", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		n := newOrganization(t, a, withAdministrator(domain.CreateOrganizationInput{Name: "Acme"}, "ada@example.com"))
		if err := store.CreateOrganization(ctx, n); err != nil {
			t.Fatalf("CreateOrganization: %v", err)
		}
		o := n.Organization
		assertCounts(t, a.TenantID, map[string]int{"organizations": 1, "organization_domains": 1, "projects": 1,
			"memberships": 2, "audit_events": 1, "users": 2, "email_confirmations": 1, "email_outbox": 1})

		var adminID string
		if err := store.DB().Get(&adminID, `SELECT id FROM users WHERE tenant_id = $1 AND email = 'ada@example.com'
			AND first_name = 'Ada' AND last_name = 'Admin'`, a.TenantID); err != nil {
			t.Fatalf("administrator user: %v", err)
		}
		if n := count(t, a.TenantID, "organizations", `id = $2 AND primary_administrator_id = $3 AND member_count = 2`, o.ID, adminID); n != 1 {
			t.Errorf("organization does not name the administrator with 2 members")
		}
		if n := count(t, a.TenantID, "memberships", `organization_id = $2 AND user_id = $3 AND role = 'ADMIN' AND status = 'INVITED'
			AND joined_at IS NULL`, o.ID, adminID); n != 1 {
			t.Errorf("%d INVITED ADMIN memberships of the administrator, want 1", n)
		}
		if n := count(t, a.TenantID, "email_confirmations", `token_hash = $2 AND organization_id = $3 AND user_id = $4
			AND email = 'ada@example.com' AND expires_at = $5 AND used_at IS NULL`,
			n.Confirmation.TokenHash, o.ID, adminID, n.Confirmation.ExpiresAt); n != 1 {
			t.Errorf("%d confirmations with the token's hash, want 1", n)
		}
		if n := count(t, a.TenantID, "email_outbox", `to_address = 'ada@example.com' AND kind = $2 AND subject = $3
			AND sent_at IS NULL AND failed_at IS NULL`, domain.EmailKindConfirmation, n.Confirmation.Email.Subject); n != 1 {
			t.Errorf("%d confirmation emails queued, want 1", n)
		}
	})

	t.Run("AdministratorNotWrittenWhenTheCreateFails", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		create(t, a, domain.CreateOrganizationInput{Name: "Acme"})
		before := counts(t, a.TenantID)
		n := newOrganization(t, a, withAdministrator(domain.CreateOrganizationInput{Name: "Acme"}, "ada@example.com"))
		if err := store.CreateOrganization(ctx, n); !errors.Is(err, db.ErrSlugTaken) {
			t.Fatalf("CreateOrganization = %v, want ErrSlugTaken", err)
		}
		assertCounts(t, a.TenantID, before)
	})

	t.Run("ErrAdministratorWithoutConfirmation", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		before := counts(t, a.TenantID)
		n := newOrganization(t, a, withAdministrator(domain.CreateOrganizationInput{Name: "Acme"}, "ada@example.com"))
		n.Confirmation = nil
		if err := store.CreateOrganization(ctx, n); err == nil {
			t.Fatal("CreateOrganization of an administrator without confirmation succeeded")
		}
		assertCounts(t, a.TenantID, before)
	})

	t.Run("IdempotencyKey", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		now := time.Now().UTC().Truncate(time.Microsecond)
		if ok, err := store.ClaimIdempotencyKey(ctx, a.TenantID, "k1", []byte("hash"), now); err != nil || !ok {
			t.Fatalf("ClaimIdempotencyKey = %v, %v", ok, err)
		}
		n := newOrganization(t, a, domain.CreateOrganizationInput{Name: "Acme"})
		n.IdempotencyKey = "k1"
		if err := store.CreateOrganization(ctx, n); err != nil {
			t.Fatalf("CreateOrganization: %v", err)
		}
		k, err := store.GetIdempotencyKey(ctx, a.TenantID, "k1")
		if err != nil || k == nil {
			t.Fatalf("GetIdempotencyKey = %+v, %v", k, err)
		}
		if !k.Done || k.OrganizationID == nil || *k.OrganizationID != n.Organization.ID || k.Violations != nil {
			t.Errorf("key after the create = %+v, want done with organization %s", k, n.Organization.ID)
		}
	})

	t.Run("IdempotencyKeyStaysRunningWhenTheCreateFails", func(t *testing.T) {
		t.Parallel()
		a := newActor(t, "tenant")
		create(t, a, domain.CreateOrganizationInput{Name: "Acme"})
		now := time.Now().UTC().Truncate(time.Microsecond)
		if ok, err := store.ClaimIdempotencyKey(ctx, a.TenantID, "k1", []byte("hash"), now); err != nil || !ok {
			t.Fatalf("ClaimIdempotencyKey = %v, %v", ok, err)
		}
		n := newOrganization(t, a, domain.CreateOrganizationInput{Name: "Acme"})
		n.IdempotencyKey = "k1"
		if err := store.CreateOrganization(ctx, n); !errors.Is(err, db.ErrSlugTaken) {
			t.Fatalf("CreateOrganization = %v, want ErrSlugTaken", err)
		}
		k, err := store.GetIdempotencyKey(ctx, a.TenantID, "k1")
		if err != nil || k == nil || k.Done || k.OrganizationID != nil {
			t.Errorf("key after a failed create = %+v, %v; want running", k, err)
		}
	})
}

// TestFreeSlugs creates organizations with the taken slugs in a tenant of each case, then asks for n
// free slugs.
func TestFreeSlugs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		taken []string
		base  string
		n     int
		want  []string
	}{
		{"BaseFree", nil, "acme", 3, []string{"acme", "acme-2", "acme-3"}},
		{"BaseTaken", []string{"acme"}, "acme", 3, []string{"acme-2", "acme-3", "acme-4"}},
		{"GapsFirst", []string{"acme", "acme-2", "acme-4"}, "acme", 3, []string{"acme-3", "acme-5", "acme-6"}},
		{"SuffixTakenButNotBase", []string{"acme-2"}, "acme", 2, []string{"acme", "acme-3"}},
		{"OtherSlugsDoNotCount", []string{"acme-corp", "acme2", "xacme"}, "acme", 2, []string{"acme", "acme-2"}},
		{"One", []string{"acme"}, "acme", 1, []string{"acme-2"}},
		{"None", []string{"acme"}, "acme", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newActor(t, "tenant")
			for _, s := range tc.taken {
				create(t, a, domain.CreateOrganizationInput{Name: "Org " + s, Slug: ptr(s)})
			}
			got, err := store.FreeSlugs(context.Background(), a.TenantID, tc.base, tc.n)
			if err != nil {
				t.Fatalf("FreeSlugs: %v", err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("FreeSlugs(%q, %d) = %q, want %q", tc.base, tc.n, got, tc.want)
			}
		})
	}
	t.Run("PerTenant", func(t *testing.T) {
		t.Parallel()
		a, b := newActor(t, "tenant"), newActor(t, "other tenant")
		create(t, a, domain.CreateOrganizationInput{Name: "Acme"})
		got, err := store.FreeSlugs(context.Background(), b.TenantID, "acme", 1)
		if err != nil || !slices.Equal(got, []string{"acme"}) {
			t.Errorf("FreeSlugs in another tenant = %q, %v; want [acme]", got, err)
		}
	})
}

// TestDefaultDemotion creates default organizations of one tenant at once: each demotes the one
// before, so exactly one is left default and every other one records its demotion.
func TestDefaultDemotion(t *testing.T) {
	t.Parallel()
	const creates = 10
	a := newActor(t, "tenant")
	var wg sync.WaitGroup
	errs := make([]error, creates)
	for i := range creates {
		n := newOrganization(t, a, domain.CreateOrganizationInput{Name: fmt.Sprintf("Default %d", i), IsDefault: ptr(true)})
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = store.CreateOrganization(context.Background(), n)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("create %d: %v", i, err)
		}
	}
	if n := count(t, a.TenantID, "organizations", `is_default`); n != 1 {
		t.Errorf("%d default organizations, want 1", n)
	}
	if n := count(t, a.TenantID, "audit_events", `type = $2`, domain.EventOrganizationDefaultRevoked); n != creates-1 {
		t.Errorf("%d %s events, want %d", n, domain.EventOrganizationDefaultRevoked, creates-1)
	}
	// Each demoted organization records its demotion once, as its second event.
	if n := count(t, a.TenantID, "organizations", `NOT is_default AND sequence = 2 AND EXISTS (SELECT 1 FROM audit_events e
		WHERE e.tenant_id = organizations.tenant_id AND e.organization_id = organizations.id AND e.sequence = 2 AND e.type = $2)`,
		domain.EventOrganizationDefaultRevoked); n != creates-1 {
		t.Errorf("%d demoted organizations with their event, want %d", n, creates-1)
	}
}
