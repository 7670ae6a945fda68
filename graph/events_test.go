package graph_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// mutate runs mutation name with input through real HTTP, fails the test on a GraphQL error or a
// userError, and returns the payload.
func (a *api) mutate(name, inputType, selection string, input map[string]any) map[string]any {
	a.t.Helper()
	q := fmt.Sprintf(`mutation($input: %s!) { %s(input: $input) { %s userErrors { field code message } } }`, inputType, name, selection)
	r := a.post(a.key, q, map[string]any{"input": input})
	p, ok := r.Data[name].(map[string]any)
	if len(r.Errors) > 0 || !ok {
		a.t.Fatalf("%s: %s", name, r.Raw)
	}
	if errs := p["userErrors"].([]any); len(errs) > 0 {
		a.t.Fatalf("%s %v: %v", name, input, errs)
	}
	return p
}

// auditEvent is an event as Organization.events answers it.
type auditEvent struct {
	ID       string `json:"id"`
	Sequence int    `json:"sequence"`
	Type     string `json:"type"`
	Actor    struct {
		APIKeyID string `json:"apiKeyId"`
		UserID   string `json:"userId"`
		TenantID string `json:"tenantId"`
	} `json:"actor"`
	Changes []struct {
		Field string `json:"field"`
		From  any    `json:"from"`
		To    any    `json:"to"`
	} `json:"changes"`
	OrganizationID string `json:"organizationId"`
}

// auditLog reads every event of the organization page by page (size each), following the cursors, and
// returns them with the organization's details.sequence and the connection's totalCount.
func (a *api) auditLog(id string, size int, types []string) (events []auditEvent, sequence, total int) {
	a.t.Helper()
	const q = `query($id: ID!, $first: Int, $after: String, $types: [String!]) { organization(id: $id) {
  details { sequence }
  events(first: $first, after: $after, types: $types) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id sequence type organizationId actor { apiKeyId userId tenantId } changes { field from to } } } } }`
	var after any
	for page := 0; ; page++ {
		if page > 100 {
			a.t.Fatal("the events' pages do not end")
		}
		r := a.post(a.key, q, map[string]any{"id": id, "first": size, "after": after, "types": types})
		if len(r.Errors) > 0 || r.Data["organization"] == nil {
			a.t.Fatalf("events: %s", r.Raw)
		}
		var o struct {
			Details struct{ Sequence int } `json:"details"`
			Events  struct {
				TotalCount int `json:"totalCount"`
				PageInfo   struct {
					HasNextPage bool   `json:"hasNextPage"`
					EndCursor   string `json:"endCursor"`
				} `json:"pageInfo"`
				Nodes []auditEvent `json:"nodes"`
			} `json:"events"`
		}
		b, _ := json.Marshal(r.Data["organization"])
		if err := json.Unmarshal(b, &o); err != nil {
			a.t.Fatal(err)
		}
		events = append(events, o.Events.Nodes...)
		sequence, total = o.Details.Sequence, o.Events.TotalCount
		if !o.Events.PageInfo.HasNextPage {
			return events, sequence, total
		}
		after = o.Events.PageInfo.EndCursor
	}
}

// TestEventsReadBackTheMutations makes every kind of change to one organization and reads its audit log
// back: exactly one event per mutation that changed something, in order, numbered 1..details.sequence
// without a gap, each with its actor and the fields it changed; paging and the type filter agree.
func TestEventsReadBackTheMutations(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	o := a.createOK(map[string]any{"name": "Chronicle", "customAttributes": []any{map[string]any{"key": "tier", "value": "gold"}}})
	id := o["id"].(string)
	org := "organization { id }"

	a.mutate("updateOrganization", "UpdateOrganizationInput", org, map[string]any{"id": id, "name": "Chronicle Inc", "phone": "+14155552671"})
	// Changes nothing: no event.
	a.mutate("updateOrganization", "UpdateOrganizationInput", org, map[string]any{"id": id, "name": "Chronicle Inc"})
	a.mutate("setCustomAttributes", "SetCustomAttributesInput", org, map[string]any{"organizationId": id,
		"attributes": []any{map[string]any{"key": "tier", "value": "platinum"}, map[string]any{"key": "limits", "value": map[string]any{"seats": 10}}}})
	p := a.mutate("createProject", "CreateProjectInput", "project { id }", map[string]any{"organizationId": id, "name": "Mobile"})
	project := p["project"].(map[string]any)["id"].(string)
	a.mutate("updateProject", "UpdateProjectInput", "project { id }", map[string]any{"id": project, "isDefault": true})
	a.mutate("removeCustomAttributes", "RemoveCustomAttributesInput", org, map[string]any{"organizationId": id, "keys": []any{"limits"}})
	a.mutate("deactivateOrganization", "DeactivateOrganizationInput", org, map[string]any{"id": id, "reason": "audit"})
	a.mutate("reactivateOrganization", "ReactivateOrganizationInput", org, map[string]any{"id": id})
	a.mutate("deleteOrganization", "DeleteOrganizationInput", "deletedOrganizationId", map[string]any{"id": id})
	a.mutate("restoreOrganization", "RestoreOrganizationInput", org, map[string]any{"id": id})

	want := []string{"organization.created", "organization.updated", "organization.attributes_changed",
		"project.created", "project.updated", "organization.attributes_changed", "organization.deactivated",
		"organization.reactivated", "organization.deleted", "organization.restored"}
	for _, size := range []int{100, 3, 1} {
		events, sequence, total := a.auditLog(id, size, nil)
		var types []string
		for i, e := range events {
			types = append(types, e.Type)
			if e.Sequence != i+1 || e.OrganizationID != id || e.Actor.TenantID != a.actor.TenantID ||
				(i > 0 && (e.Actor.APIKeyID != a.actor.KeyID || e.Actor.UserID != a.actor.UserID)) {
				t.Errorf("page size %d: event %d = %+v", size, i, e)
			}
		}
		if strings.Join(types, " ") != strings.Join(want, " ") {
			t.Errorf("page size %d: events\n%v\nwant\n%v", size, types, want)
		}
		if sequence != len(want) || total != len(want) {
			t.Errorf("page size %d: details.sequence %d, totalCount %d, want %d", size, sequence, total, len(want))
		}
	}

	events, _, _ := a.auditLog(id, 100, nil)
	changes := func(i int) string {
		var out []string
		for _, c := range events[i].Changes {
			b, _ := json.Marshal([]any{c.From, c.To})
			out = append(out, c.Field+"="+string(b))
		}
		return strings.Join(out, " ")
	}
	for i, want := range map[int]string{
		1: `name=["Chronicle","Chronicle Inc"] phone=[null,"+14155552671"]`,
		2: `customAttributes.tier=["gold","platinum"] customAttributes.limits=[null,{"seats":10}]`,
		5: `customAttributes.limits=[{"seats":10},null]`,
		6: `status=["ACTIVE","INACTIVE"]`,
		7: `status=["INACTIVE","ACTIVE"]`,
	} {
		if got := changes(i); got != want {
			t.Errorf("event %d (%s) changes %s, want %s", i+1, events[i].Type, got, want)
		}
	}
	if got := changes(4); !strings.Contains(got, "isDefault=[false,true]") {
		t.Errorf("project.updated changes %s, want isDefault false → true", got)
	}

	// The type filter keeps the order and the sequence numbers; its totalCount counts the matches.
	filtered, _, total := a.auditLog(id, 2, []string{"organization.attributes_changed", "organization.deleted"})
	var got []string
	for _, e := range filtered {
		got = append(got, fmt.Sprintf("%d %s", e.Sequence, e.Type))
	}
	if strings.Join(got, ", ") != "3 organization.attributes_changed, 6 organization.attributes_changed, 9 organization.deleted" || total != 3 {
		t.Errorf("filtered events %v (totalCount %d)", got, total)
	}
}

// TestEventsOfAnotherTenant: an organization of another tenant, and so its events, is not found, and a
// forged cursor is refused.
func TestEventsOfAnotherTenant(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	b := newAPIInOtherTenant(t)
	id := a.createOK(map[string]any{"name": "Private Log"})["id"].(string)
	r := b.post(b.key, `query($id: ID!) { organization(id: $id) { events { totalCount } } }`, map[string]any{"id": id})
	if len(r.Errors) > 0 || r.Data["organization"] != nil {
		t.Errorf("another tenant reads %s", r.Raw)
	}
	r = a.post(a.key, `query($id: ID!) { organization(id: $id) { events(after: "bm90LWEtY3Vyc29y") { totalCount } } }`, map[string]any{"id": id})
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
		t.Errorf("a forged cursor: %s", r.Raw)
	}
}
