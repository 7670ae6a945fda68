package graph_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestCreateWritesTimeOrderedIDs: every row createOrganization writes, whether the server or PostgreSQL
// makes its id, has a UUID of version 7 holding the time it was made, so that a tenant's new rows sit
// together at the right edge of their indexes (domain.NewID, migration 00018). Both paths of a create
// are covered: the one-statement create (projects, a primary domain) and the transaction of an invited
// primary administrator (a user, a second membership, the confirmation's email).
func TestCreateWritesTimeOrderedIDs(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	before := time.Now().Add(-time.Second)
	a.createOK(map[string]any{"name": "Acme", "primaryDomain": "acme.ids.example",
		"projects": []map[string]any{{"name": "API"}}})
	a.createOK(map[string]any{"name": "Administered", "emailConfirmationLandingPage": "https://app.example.com/c",
		"primaryAdministrator": map[string]any{"firstName": "Ada", "lastName": "L", "email": "ada@ids.example"}})
	after := time.Now().Add(time.Second)

	var rows []struct {
		Table string `db:"t"`
		ID    string `db:"id"`
	}
	if err := a.store.DB().Select(&rows, `
SELECT 'organizations' AS t, id FROM organizations WHERE tenant_id = $1
UNION ALL SELECT 'projects', id FROM projects WHERE tenant_id = $1
UNION ALL SELECT 'memberships', id FROM memberships WHERE tenant_id = $1
UNION ALL SELECT 'organization_domains', id FROM organization_domains WHERE tenant_id = $1
UNION ALL SELECT 'audit_events', id FROM audit_events WHERE tenant_id = $1
UNION ALL SELECT 'email_outbox', id FROM email_outbox WHERE tenant_id = $1
UNION ALL SELECT 'users', u.id FROM users u WHERE u.tenant_id = $1 AND u.email = 'ada@ids.example'`,
		a.actor.TenantID); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range rows {
		seen[r.Table]++
		u, err := uuid.Parse(r.ID)
		if err != nil {
			t.Fatalf("%s id %q: %v", r.Table, r.ID, err)
		}
		if u.Version() != 7 || u.Variant() != uuid.RFC4122 {
			t.Errorf("%s id %s: version %d, variant %s; want version 7 of RFC 9562", r.Table, u, u.Version(), u.Variant())
			continue
		}
		sec, nsec := u.Time().UnixTime()
		if at := time.Unix(sec, nsec); at.Before(before) || at.After(after) {
			t.Errorf("%s id %s holds the time %s, want between %s and %s", r.Table, u, at, before, after)
		}
	}
	for _, table := range []string{"organizations", "projects", "memberships", "organization_domains", "audit_events",
		"email_outbox", "users"} {
		if seen[table] == 0 {
			t.Errorf("no row of %s checked: %v", table, seen)
		}
	}
}
