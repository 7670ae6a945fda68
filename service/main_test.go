package service_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"orgs/db"
	"orgs/db/dbtest"
	"orgs/domain"
	"orgs/service"
)

// store is the package's database: fresh, cloned from the migrated template. Tests share it and keep
// apart by tenant, so they can run in parallel.
var store *db.Store

func TestMain(m *testing.M) {
	dbtest.Main(m, "service", db.Options{MaxOpenConns: 40}, func(url string, s *db.Store) {
		store = s
	})
}

// newService returns a service over the package's database with cfg, generating domains under
// orgs.test.
func newService(cfg service.Config) *service.Service {
	cfg.DomainSuffix = "orgs.test"
	return service.New(store, cfg)
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

// violationsOf returns the violations of err, failing the test unless it is a *domain.ValidationError.
func violationsOf(t *testing.T, err error) domain.Violations {
	t.Helper()
	var verr *domain.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("error = %v, want violations", err)
	}
	return verr.Violations
}

// count returns the number of rows of table in the tenant that match the optional condition (whose
// parameters start at $2).
func count(t *testing.T, tenantID, table string, where ...any) int {
	t.Helper()
	return dbtest.Count(t, store.DB(), tenantID, table, where...)
}

// writtenTables are the tables a create writes to.
var writtenTables = []string{"organizations", "organization_domains", "projects", "memberships", "organization_attributes",
	"audit_events", "users", "email_confirmations", "email_outbox"}

// rows returns how many rows the tenant has in each of writtenTables.
func rows(t *testing.T, tenantID string) map[string]int {
	t.Helper()
	out := make(map[string]int, len(writtenTables))
	for _, table := range writtenTables {
		out[table] = count(t, tenantID, table)
	}
	return out
}

// assertUnchanged fails unless the tenant has the rows it had before.
func assertUnchanged(t *testing.T, tenantID string, before map[string]int) {
	t.Helper()
	for table, n := range rows(t, tenantID) {
		if n != before[table] {
			t.Errorf("%s: %d rows, had %d before", table, n, before[table])
		}
	}
}

func ptr[T any](v T) *T { return &v }

// withAdministrator adds to in a primary administrator at email, with the landing page of their link.
func withAdministrator(in domain.CreateOrganizationInput, email string) domain.CreateOrganizationInput {
	in.PrimaryAdministrator = &domain.AdministratorInput{FirstName: "Ada", LastName: "Admin", Email: email}
	in.EmailConfirmationLandingPage = ptr("https://app.example/confirm")
	return in
}
