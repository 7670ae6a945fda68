package graph_test

import (
	"testing"

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
