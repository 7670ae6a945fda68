package db_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"orgs/db"
	"orgs/db/dbtest"
	"orgs/domain"
)

// store is the package's database: fresh, cloned from the migrated template. Tests share it and keep
// apart by tenant, so they can run in parallel; the outbox, which every tenant shares, is kept apart by
// time (see outbox_test.go).
var store *db.Store

// packageURL is the URL of the package's database.
var packageURL string

func TestMain(m *testing.M) {
	dbtest.Main(m, "db", db.Options{MaxOpenConns: 40}, func(url string, s *db.Store) {
		packageURL, store = url, s
	})
}

// newActor creates an API key in a new tenant of its own, named after the test and label (and unique,
// so that go test -count=2 makes new ones), and returns the actor it authenticates.
func newActor(t *testing.T, label string) *domain.Actor {
	t.Helper()
	_, a, err := store.CreateAPIKey(context.Background(), db.NewAPIKey{
		Name: "key " + t.Name(), Tenant: label + " " + t.Name() + " " + uuid.NewString(),
		Email: "owner@example.com", UserName: "Owner", Permissions: domain.AllPermissions,
	})
	if err != nil {
		t.Fatalf("create api key: %v", err)
	}
	return a
}

// testSuffix is the suffix of the generated domains of the tests.
const testSuffix = "orgs.test"

// newOrganization returns what the service would hand the store to create the organization in: in
// validated, the record made from it under slug (the requested one, or the one generated from the name).
func newOrganization(t *testing.T, a *domain.Actor, in domain.CreateOrganizationInput) db.NewOrganization {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	o, err := domain.NewOrganizationFrom(in, domain.Rules{Regions: []string{"us", "eu"}, DomainSuffix: testSuffix, Now: now}, nil)
	if err != nil {
		t.Fatalf("invalid test input %+v: %v", in, err)
	}
	slug := o.Slug
	if slug == "" {
		slug = domain.SlugBase(o.Name)
	}
	generated := domain.GeneratedDomain(slug, testSuffix)
	rec := &domain.Organization{
		TenantID: a.TenantID, ID: uuid.NewString(), Name: o.Name, Slug: slug, Description: o.Description,
		ContactEmails: o.ContactEmails, BillingEmails: o.BillingEmails, Coupons: o.Coupons,
		IsPrivate: o.IsPrivate, IsDefault: o.IsDefault, Status: o.Status, StatusChangedAt: now,
		CreatedBy: a.UserID, CreatedAt: now, UpdatedAt: now, Sequence: 1, ResourceOwner: a.TenantID,
		TotalMembers: 1, PrimaryDomain: generated,
	}
	if o.PrimaryDomain != nil {
		rec.PrimaryDomain = *o.PrimaryDomain
	}
	n := db.NewOrganization{Actor: a, Organization: rec, Input: o, GeneratedDomain: generated, Now: now}
	if o.Administrator != nil {
		n.Confirmation = confirmationFor(o.Administrator.Email, "token "+uuid.NewString(), now.Add(time.Hour))
	}
	return n
}

// confirmationFor is the confirmation of an administrator at email with token.
func confirmationFor(email, token string, expiresAt time.Time) *db.Confirmation {
	return &db.Confirmation{
		TokenHash: hashOf(token),
		ExpiresAt: expiresAt,
		Email: domain.Email{Kind: domain.EmailKindConfirmation, To: email, Subject: "Confirm your email address",
			TextBody: "Open the link", HTMLBody: "<p>Open the link</p>"},
	}
}

func hashOf(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// create creates an organization that must be valid, and returns its record.
func create(t *testing.T, a *domain.Actor, in domain.CreateOrganizationInput) *domain.Organization {
	t.Helper()
	n := newOrganization(t, a, in)
	if err := store.CreateOrganization(context.Background(), n); err != nil {
		t.Fatalf("create %q: %v", in.Name, err)
	}
	return n.Organization
}

// count returns the number of rows of table in the tenant that match the optional condition (whose
// parameters start at $2).
func count(t *testing.T, tenantID, table string, where ...any) int {
	t.Helper()
	return dbtest.Count(t, store.DB(), tenantID, table, where...)
}

// tenantTables are the tables a create writes to, with the users a create may add.
var tenantTables = []string{"organizations", "organization_domains", "projects", "memberships", "organization_attributes",
	"audit_events", "users", "email_confirmations", "email_outbox", "idempotency_keys"}

// counts returns the rows of every table of tenantTables in the tenant.
func counts(t *testing.T, tenantID string) map[string]int {
	t.Helper()
	out := make(map[string]int, len(tenantTables))
	for _, table := range tenantTables {
		out[table] = count(t, tenantID, table)
	}
	return out
}

// assertCounts fails unless the tenant has the rows of want in each of its tables.
func assertCounts(t *testing.T, tenantID string, want map[string]int) {
	t.Helper()
	got := counts(t, tenantID)
	var diff []string
	for _, table := range tenantTables {
		if got[table] != want[table] {
			diff = append(diff, fmt.Sprintf("%s: %d rows, want %d", table, got[table], want[table]))
		}
	}
	if len(diff) > 0 {
		t.Errorf("rows of the tenant:\n%s", strings.Join(diff, "\n"))
	}
}

func ptr[T any](v T) *T { return &v }
