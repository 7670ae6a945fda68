package service_test

import (
	"context"
	"errors"
	"fmt"
	"os"
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
	url, drop, err := dbtest.NewDatabase("service")
	if err != nil {
		fmt.Fprintln(os.Stderr, "test database:", err)
		os.Exit(1)
	}
	store, err = db.Open(context.Background(), url, db.Options{MaxOpenConns: 40})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open test database:", err)
		drop()
		os.Exit(1)
	}
	code := m.Run()
	store.Close()
	drop()
	os.Exit(code)
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
	q := `SELECT count(*) FROM ` + table + ` WHERE tenant_id = $1`
	args := []any{tenantID}
	if len(where) > 0 {
		q += ` AND (` + where[0].(string) + `)`
		args = append(args, where[1:]...)
	}
	var n int
	if err := store.DB().Get(&n, q, args...); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
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
