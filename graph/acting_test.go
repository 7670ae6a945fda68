package graph_test

import (
	"context"
	"testing"

	"orgs/db"
	"orgs/domain"
)

func TestActingOrganization(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	parent := a.create(a.key, map[string]any{"name": "Parent"})["organization"].(map[string]any)["id"].(string)
	vars := map[string]any{"input": map[string]any{"name": "Child"}}

	r := a.postWithHeaders(a.key, map[string]string{"X-Organization-ID": parent}, createMutation, vars)
	o := r.Data["createOrganization"].(map[string]any)["organization"].(map[string]any)
	if got := o["details"].(map[string]any)["resourceOwner"]; got != parent {
		t.Errorf("resourceOwner = %v, want the acting organization %s", got, parent)
	}

	other, _ := a.newKey("outsider", domain.AllPermissions...)
	b := newAPIInOtherTenant(t)
	for name, tc := range map[string]struct{ key, org string }{
		"NotAMember":    {other, parent},
		"NotAnID":       {a.key, "parent"},
		"UnknownID":     {a.key, "00000000-0000-0000-0000-000000000000"},
		"AnotherTenant": {b.key, parent},
	} {
		before := a.count("organizations")
		r := a.postWithHeaders(tc.key, map[string]string{"X-Organization-ID": tc.org}, createMutation, vars)
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
			t.Errorf("%s: %s, want FORBIDDEN", name, r.Raw)
		}
		if after := a.count("organizations"); after != before {
			t.Errorf("%s: an organization was written", name)
		}
	}
}

// An ADMIN may act for the organization once active; while INVITED it may not.
func TestActingOrganizationAdmin(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	org := a.createOK(map[string]any{"name": "Administered", "emailConfirmationLandingPage": "https://app.example.com/c",
		"primaryAdministrator": map[string]any{"firstName": "Ad", "lastName": "Min", "email": "admin@administered.example"}})
	// A key whose principal is the administrator (keys find their user by email).
	key, actor, err := a.store.CreateAPIKey(context.Background(), db.NewAPIKey{Name: "admin key", Tenant: a.actor.TenantID,
		Email: "admin@administered.example", Permissions: domain.AllPermissions})
	if err != nil {
		t.Fatal(err)
	}
	if actor.UserID == a.actor.UserID {
		t.Fatal("the administrator's key acts as the owner")
	}
	vars := map[string]any{"input": map[string]any{"name": "Child of the administered"}}
	h := map[string]string{"X-Organization-ID": org["id"].(string)}
	if r := a.postWithHeaders(key, h, createMutation, vars); len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
		t.Errorf("an INVITED administrator acted: %s", r.Raw)
	}
	a.store.DB().MustExec(`UPDATE memberships SET status = 'ACTIVE' WHERE tenant_id = $1 AND role = 'ADMIN'`, a.actor.TenantID)
	r := a.postWithHeaders(key, h, createMutation, vars)
	if len(r.Errors) != 0 || r.Data["createOrganization"].(map[string]any)["organization"] == nil {
		t.Errorf("an ACTIVE administrator could not act: %s", r.Raw)
	}
}
