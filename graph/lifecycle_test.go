package graph_test

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"

	"orgs/domain"
	"orgs/graph"
	"orgs/httpapi"
	"orgs/service"
)

const lifecycleOrganization = `organization { id slug status statusChangedAt isDefault primaryDomain removedAt
  domains { domain isPrimary isGenerated } details { sequence } }
userErrors { field code message suggestions }`

var lifecycleMutations = map[string]string{
	"deactivateOrganization": `mutation($input: DeactivateOrganizationInput!) {
  deactivateOrganization(input: $input) { clientMutationId ` + lifecycleOrganization + ` } }`,
	"reactivateOrganization": `mutation($input: ReactivateOrganizationInput!) {
  reactivateOrganization(input: $input) { clientMutationId ` + lifecycleOrganization + ` } }`,
	"deleteOrganization": `mutation($input: DeleteOrganizationInput!) {
  deleteOrganization(input: $input) { clientMutationId deletedOrganizationId userErrors { field code message suggestions } } }`,
	"restoreOrganization": `mutation($input: RestoreOrganizationInput!) {
  restoreOrganization(input: $input) { clientMutationId ` + lifecycleOrganization + ` } }`,
}

// change runs one lifecycle mutation with key and returns its payload; a GraphQL error fails the test.
func (a *api) change(key, mutation string, input map[string]any) map[string]any {
	a.t.Helper()
	r := a.post(key, lifecycleMutations[mutation], map[string]any{"input": input})
	if len(r.Errors) > 0 || r.Status != 200 {
		a.t.Fatalf("%s: status %d, %s", mutation, r.Status, r.Raw)
	}
	return r.Data[mutation].(map[string]any)
}

// changeOK runs a lifecycle mutation that must succeed and returns the organization of its payload (nil
// for a delete).
func (a *api) changeOK(mutation string, input map[string]any) map[string]any {
	a.t.Helper()
	p := a.change(a.key, mutation, input)
	if errs := userErrors(p); len(errs) != 0 {
		a.t.Fatalf("%s %v: %+v", mutation, input, errs)
	}
	if mutation == "deleteOrganization" {
		if p["deletedOrganizationId"] != input["id"] {
			a.t.Fatalf("deletedOrganizationId = %v, want %v", p["deletedOrganizationId"], input["id"])
		}
		return nil
	}
	return p["organization"].(map[string]any)
}

// changeRefused runs a lifecycle mutation that must be refused with exactly one userError at
// input.<field> with code, and returns it.
func (a *api) changeRefused(mutation string, input map[string]any, field, code string) userError {
	a.t.Helper()
	p := a.change(a.key, mutation, input)
	errs := userErrors(p)
	if len(errs) != 1 || errs[0].Field != "input."+field || errs[0].Code != code {
		a.t.Fatalf("%s %v: userErrors %+v, want %s at input.%s", mutation, input, errs, code, field)
	}
	if p["organization"] != nil || p["deletedOrganizationId"] != nil {
		a.t.Errorf("%s refused, yet returned %v", mutation, p)
	}
	return errs[0]
}

// lookup returns organization(id) or organization(slug) as the API answers it (nil when null).
func (a *api) lookup(by, value string) map[string]any {
	a.t.Helper()
	q := fmt.Sprintf(`query($v: %s) { organization(%s: $v) { id slug status } }`, map[string]string{"id": "ID", "slug": "String"}[by], by)
	r := a.post(a.key, q, map[string]any{"v": value})
	if len(r.Errors) > 0 {
		a.t.Fatalf("organization(%s): %s", by, r.Raw)
	}
	o, _ := r.Data["organization"].(map[string]any)
	return o
}

// listedIDs returns the ids organizations(filter) lists.
func (a *api) listedIDs(filter map[string]any) []string {
	a.t.Helper()
	r := a.post(a.key, `query($f: OrganizationFilter) { organizations(first: 100, filter: $f) { totalCount nodes { id status removedAt } } }`,
		map[string]any{"f": filter})
	if len(r.Errors) > 0 {
		a.t.Fatalf("organizations: %s", r.Raw)
	}
	var ids []string
	for _, n := range r.Data["organizations"].(map[string]any)["nodes"].([]any) {
		o := n.(map[string]any)
		if (o["status"] == "REMOVED") != (o["removedAt"] != nil) {
			a.t.Errorf("organization %v: status %v with removedAt %v", o["id"], o["status"], o["removedAt"])
		}
		ids = append(ids, o["id"].(string))
	}
	return ids
}

type eventRead struct {
	Type     string
	Sequence int
	Changes  string // field:from>to, ...
	Data     map[string]any
}

// eventLog reads an organization's events back through Organization.events.
func (a *api) eventLog(id string) []eventRead {
	a.t.Helper()
	r := a.post(a.key, `query($id: ID) { organization(id: $id) { details { sequence }
  events(first: 100) { totalCount nodes { type sequence changes { field from to } data } } } }`, map[string]any{"id": id})
	if len(r.Errors) > 0 || r.Data["organization"] == nil {
		a.t.Fatalf("events: %s", r.Raw)
	}
	o := r.Data["organization"].(map[string]any)
	conn := o["events"].(map[string]any)
	var out []eventRead
	for _, n := range conn["nodes"].([]any) {
		e := n.(map[string]any)
		var changes []string
		for _, c := range e["changes"].([]any) {
			c := c.(map[string]any)
			changes = append(changes, fmt.Sprintf("%v:%v>%v", c["field"], c["from"], c["to"]))
		}
		data, _ := e["data"].(map[string]any)
		out = append(out, eventRead{Type: e["type"].(string), Sequence: int(e["sequence"].(float64)), Changes: strings.Join(changes, ", "), Data: data})
	}
	seq := o["details"].(map[string]any)["sequence"].(float64)
	if int(seq) != len(out) || conn["totalCount"].(float64) != seq {
		a.t.Errorf("%d events (totalCount %v), sequence %v", len(out), conn["totalCount"], seq)
	}
	return out
}

func TestDeactivateReactivate(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	o := a.createOK(map[string]any{"name": "Sleepy"})
	id := o["id"].(string)

	// The reason is checked before anything else, and nothing is written.
	a.changeRefused("deactivateOrganization", map[string]any{"id": id, "reason": strings.Repeat("é", 501)}, "reason", "TOO_LONG")
	// A stale expectedSequence writes nothing.
	e := a.changeRefused("deactivateOrganization", map[string]any{"id": id, "expectedSequence": 7}, "expectedSequence", "STALE_OBJECT")
	if !strings.Contains(e.Message, "1") {
		t.Errorf("STALE_OBJECT message %q does not give the current sequence", e.Message)
	}

	time.Sleep(2 * time.Millisecond)
	p := a.change(a.key, "deactivateOrganization", map[string]any{"clientMutationId": "d1", "id": id, "expectedSequence": 1,
		"reason": strings.Repeat("é", 500)})
	if errs := userErrors(p); len(errs) != 0 || p["clientMutationId"] != "d1" {
		t.Fatalf("deactivate: %v", p)
	}
	d := p["organization"].(map[string]any)
	if d["status"] != "INACTIVE" || sequenceOf(d) != 2 || d["statusChangedAt"].(string) <= o["statusChangedAt"].(string) {
		t.Errorf("deactivated: %v (created %v)", d, o["statusChangedAt"])
	}
	// Inactive, it stays readable, by id and by slug, and listed.
	if r := a.lookup("id", id); r == nil || r["status"] != "INACTIVE" {
		t.Errorf("organization(id) of an inactive organization = %v", r)
	}
	if r := a.lookup("slug", "sleepy"); r == nil || r["id"] != id {
		t.Errorf("organization(slug) of an inactive organization = %v", r)
	}
	if ids := a.listedIDs(map[string]any{"status": "INACTIVE"}); len(ids) != 1 || ids[0] != id {
		t.Errorf("organizations(status: INACTIVE) = %v", ids)
	}

	a.changeRefused("deactivateOrganization", map[string]any{"id": id}, "id", "INVALID_STATE")
	r := a.changeOK("reactivateOrganization", map[string]any{"id": id, "expectedSequence": 2})
	if r["status"] != "ACTIVE" || sequenceOf(r) != 3 || r["statusChangedAt"].(string) < d["statusChangedAt"].(string) {
		t.Errorf("reactivated: %v", r)
	}
	a.changeRefused("reactivateOrganization", map[string]any{"id": id}, "id", "INVALID_STATE")
	// Without a reason, the deactivation records none.
	a.changeOK("deactivateOrganization", map[string]any{"id": id})

	events := a.eventLog(id)
	var got []string
	for _, e := range events {
		got = append(got, fmt.Sprintf("%d %s [%s]", e.Sequence, e.Type, e.Changes))
	}
	want := []string{"1 organization.created []", "2 organization.deactivated [status:ACTIVE>INACTIVE]",
		"3 organization.reactivated [status:INACTIVE>ACTIVE]", "4 organization.deactivated [status:ACTIVE>INACTIVE]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events:\n%v\nwant\n%v", got, want)
	}
	if events[1].Data["reason"] != strings.Repeat("é", 500) || events[3].Data["reason"] != nil {
		t.Errorf("reasons: %v, %v", events[1].Data, events[3].Data)
	}
}

func TestInactiveOrganizationCannotAct(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	parent := a.createOK(map[string]any{"name": "Parent"})["id"].(string)
	acting := map[string]string{"X-Organization-ID": parent}
	createChild := func(name string) response {
		return a.postWithHeaders(a.key, acting, createMutation, map[string]any{"input": map[string]any{"name": name}})
	}
	if r := createChild("Child one"); len(r.Errors) != 0 || len(userErrors(r.Data["createOrganization"].(map[string]any))) != 0 {
		t.Fatalf("an active organization could not act: %s", r.Raw)
	}
	a.changeOK("deactivateOrganization", map[string]any{"id": parent})
	before := a.count("organizations")
	r := createChild("Child two")
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
		t.Errorf("an inactive organization acted: %s", r.Raw)
	}
	if n := a.count("organizations"); n != before {
		t.Errorf("%d organizations after a refused create, want %d", n, before)
	}
	a.changeOK("reactivateOrganization", map[string]any{"id": parent})
	if r := createChild("Child three"); len(r.Errors) != 0 {
		t.Errorf("a reactivated organization could not act: %s", r.Raw)
	}
	// A deleted organization cannot act either.
	a.changeOK("deleteOrganization", map[string]any{"id": parent})
	if r := createChild("Child four"); len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
		t.Errorf("a deleted organization acted: %s", r.Raw)
	}
}

func TestDeleteHidesOrganization(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	keep := a.createOK(map[string]any{"name": "Keeper"})["id"].(string)
	o := a.createOK(map[string]any{"name": "Doomed", "isDefault": true})
	id := o["id"].(string)
	a.changeRefused("deleteOrganization", map[string]any{"id": id, "expectedSequence": 2}, "expectedSequence", "STALE_OBJECT")
	p := a.change(a.key, "deleteOrganization", map[string]any{"clientMutationId": "bye", "id": id, "expectedSequence": 1})
	if errs := userErrors(p); len(errs) != 0 || p["deletedOrganizationId"] != id || p["clientMutationId"] != "bye" {
		t.Fatalf("delete: %v", p)
	}

	if r := a.lookup("id", id); r != nil {
		t.Errorf("organization(id) of a deleted organization = %v", r)
	}
	if r := a.lookup("slug", "doomed"); r != nil {
		t.Errorf("organization(slug) of a deleted organization = %v", r)
	}
	if ids := a.listedIDs(nil); len(ids) != 1 || ids[0] != keep {
		t.Errorf("organizations = %v, want only %s", ids, keep)
	}
	if ids := a.listedIDs(map[string]any{"status": "REMOVED"}); len(ids) != 1 || ids[0] != id {
		t.Errorf("organizations(status: REMOVED) = %v, want %s", ids, id)
	}
	var row struct {
		IsDefault bool `db:"is_default"`
		Released  int  `db:"released"`
		Sequence  int  `db:"sequence"`
	}
	if err := a.store.DB().Get(&row, `SELECT is_default, sequence,
  (SELECT count(*) FROM organization_domains d WHERE d.tenant_id = o.tenant_id AND d.organization_id = o.id AND d.released) AS released
FROM organizations o WHERE tenant_id = $1 AND id = $2`, a.actor.TenantID, id); err != nil {
		t.Fatal(err)
	}
	if row.IsDefault || row.Released != 1 || row.Sequence != 2 {
		t.Errorf("deleted row: %+v, want not default, its domain released, sequence 2", row)
	}

	// A deleted organization is not found by the other changes, nor deleted twice.
	for _, m := range []string{"deleteOrganization", "deactivateOrganization", "reactivateOrganization"} {
		a.changeRefused(m, map[string]any{"id": id}, "id", "NOT_FOUND")
	}
	// Restoring an organization that is not deleted is INVALID_STATE.
	a.changeRefused("restoreOrganization", map[string]any{"id": keep}, "id", "INVALID_STATE")

	// Restored, it is back with the status it had, not default any more.
	r := a.changeOK("restoreOrganization", map[string]any{"id": id})
	if r["status"] != "ACTIVE" || r["slug"] != "doomed" || r["isDefault"] != false || r["removedAt"] != nil || sequenceOf(r) != 3 ||
		r["primaryDomain"] != "doomed.orgs.test" {
		t.Errorf("restored: %v", r)
	}
	if r := a.lookup("slug", "doomed"); r == nil || r["id"] != id {
		t.Errorf("organization(slug) of a restored organization = %v", r)
	}
	a.changeRefused("restoreOrganization", map[string]any{"id": id}, "id", "INVALID_STATE")
	var got []string
	for _, e := range a.eventLog(id) {
		got = append(got, fmt.Sprintf("%s [%s]", e.Type, e.Changes))
	}
	want := []string{"organization.created []", "organization.deleted [status:ACTIVE>REMOVED, isDefault:true>false]",
		"organization.restored [status:REMOVED>ACTIVE]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events:\n%v\nwant\n%v", got, want)
	}
}

// An INACTIVE organization can be deleted; restored, it is INACTIVE again.
func TestDeleteInactiveOrganization(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := a.createOK(map[string]any{"name": "Dormant"})["id"].(string)
	a.changeOK("deactivateOrganization", map[string]any{"id": id})
	a.changeOK("deleteOrganization", map[string]any{"id": id})
	if ids := a.listedIDs(map[string]any{"status": "INACTIVE"}); len(ids) != 0 {
		t.Errorf("organizations(status: INACTIVE) lists a deleted organization: %v", ids)
	}
	if r := a.changeOK("restoreOrganization", map[string]any{"id": id}); r["status"] != "INACTIVE" {
		t.Errorf("restored as %v, want INACTIVE", r["status"])
	}
	events := a.eventLog(id)
	if last := events[len(events)-1]; last.Changes != "status:REMOVED>INACTIVE" {
		t.Errorf("restored event changes %q", last.Changes)
	}
}

func TestRestoreTakenSlug(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := a.createOK(map[string]any{"name": "Phoenix"})["id"].(string)
	a.changeOK("deleteOrganization", map[string]any{"id": id})

	// The slug and the generated domain are free at once.
	other := a.createOK(map[string]any{"name": "Phoenix", "slug": "phoenix"})
	if other["slug"] != "phoenix" || other["primaryDomain"] != "phoenix.orgs.test" {
		t.Fatalf("the new organization got %v, %v", other["slug"], other["primaryDomain"])
	}
	a.createOK(map[string]any{"name": "Phoenix Two", "slug": "phoenix-2"})

	e := a.changeRefused("restoreOrganization", map[string]any{"id": id}, "slug", "TAKEN")
	if fmt.Sprint(e.Suggestions) != "[phoenix-3 phoenix-4 phoenix-5]" {
		t.Errorf("suggestions %v", e.Suggestions)
	}
	e = a.changeRefused("restoreOrganization", map[string]any{"id": id, "slug": "phoenix-2"}, "slug", "TAKEN")
	if fmt.Sprint(e.Suggestions) != "[phoenix-2-2 phoenix-2-3 phoenix-2-4]" {
		t.Errorf("suggestions for a given slug %v", e.Suggestions)
	}
	a.changeRefused("restoreOrganization", map[string]any{"id": id, "slug": "Not A Slug"}, "slug", "INVALID_FORMAT")
	if ids := a.listedIDs(map[string]any{"status": "REMOVED"}); len(ids) != 1 || ids[0] != id {
		t.Errorf("a refused restore changed the organization: REMOVED = %v", ids)
	}

	r := a.changeOK("restoreOrganization", map[string]any{"clientMutationId": "again", "id": id, "slug": "phoenix-reborn"})
	if r["slug"] != "phoenix-reborn" || r["status"] != "ACTIVE" || r["primaryDomain"] != "phoenix-reborn.orgs.test" ||
		fmt.Sprint(r["domains"]) != "[map[domain:phoenix-reborn.orgs.test isGenerated:true isPrimary:true]]" {
		t.Errorf("restored: %v", r)
	}
	if r := a.lookup("slug", "phoenix-reborn"); r == nil || r["id"] != id {
		t.Errorf("organization(slug: phoenix-reborn) = %v", r)
	}
	if r := a.lookup("slug", "phoenix"); r == nil || r["id"] != other["id"] {
		t.Errorf("organization(slug: phoenix) = %v, want the new organization", r)
	}
	var got []string
	for _, e := range a.eventLog(id) {
		got = append(got, fmt.Sprintf("%d %s [%s]", e.Sequence, e.Type, e.Changes))
	}
	want := []string{"1 organization.created []", "2 organization.deleted [status:ACTIVE>REMOVED]",
		"3 organization.restored [status:REMOVED>ACTIVE, slug:phoenix>phoenix-reborn, " +
			"primaryDomain:phoenix.orgs.test>phoenix-reborn.orgs.test, domains:[phoenix.orgs.test]>[phoenix-reborn.orgs.test]]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events:\n%v\nwant\n%v", got, want)
	}
}

// A deleted organization's custom domain is free at once; when another organization takes it, the
// restore drops it and the generated domain becomes primary. An untaken custom domain comes back.
func TestRestoreReleasedDomain(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := a.createOK(map[string]any{"name": "Acme", "primaryDomain": "acme.example"})["id"].(string)
	kept := a.createOK(map[string]any{"name": "Kept", "primaryDomain": "kept.example"})["id"].(string)
	a.changeOK("deleteOrganization", map[string]any{"id": id})
	a.changeOK("deleteOrganization", map[string]any{"id": kept})
	taker := a.createOK(map[string]any{"name": "Acme Two", "primaryDomain": "acme.example"})
	if taker["primaryDomain"] != "acme.example" {
		t.Fatalf("the released domain was not taken: %v", taker["primaryDomain"])
	}

	r := a.changeOK("restoreOrganization", map[string]any{"id": id})
	if r["primaryDomain"] != "acme.orgs.test" || fmt.Sprint(r["domains"]) != "[map[domain:acme.orgs.test isGenerated:true isPrimary:true]]" {
		t.Errorf("restored with domains %v, primary %v", r["domains"], r["primaryDomain"])
	}
	events := a.eventLog(id)
	last := events[len(events)-1]
	if last.Changes != "status:REMOVED>ACTIVE, primaryDomain:acme.example>acme.orgs.test, domains:[acme.example acme.orgs.test]>[acme.orgs.test]" ||
		fmt.Sprint(last.Data["droppedDomains"]) != "[acme.example]" {
		t.Errorf("restored event: %+v", last)
	}
	// The taker keeps its domain.
	var owner string
	if err := a.store.DB().Get(&owner, `SELECT organization_id FROM organization_domains WHERE tenant_id = $1 AND domain = 'acme.example'`,
		a.actor.TenantID); err != nil || owner != taker["id"] {
		t.Errorf("acme.example belongs to %v (%v), want %v", owner, err, taker["id"])
	}

	r = a.changeOK("restoreOrganization", map[string]any{"id": kept})
	if r["primaryDomain"] != "kept.example" || len(r["domains"].([]any)) != 2 {
		t.Errorf("restored with domains %v, primary %v", r["domains"], r["primaryDomain"])
	}
	// Unreleased, the domain is taken again.
	p := a.create(a.key, map[string]any{"name": "Late", "primaryDomain": "kept.example"})
	if errs := userErrors(p); len(errs) != 1 || errs[0].Code != "TAKEN" {
		t.Errorf("a restored organization's domain could be taken: %+v", errs)
	}
}

var tokenParam = regexp.MustCompile(`https://app\.example\.com/confirm\?\S+`)

// The confirmation links of a deleted organization stop working, also after a restore.
func TestDeleteRevokesConfirmations(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := a.createOK(map[string]any{"name": "Invited", "emailConfirmationLandingPage": "https://app.example.com/confirm",
		"primaryAdministrator": map[string]any{"firstName": "Ad", "lastName": "Min", "email": "admin@invited.example"}})["id"].(string)
	var body string
	if err := a.store.DB().Get(&body, `SELECT text_body FROM email_outbox WHERE tenant_id = $1`, a.actor.TenantID); err != nil {
		t.Fatal(err)
	}
	link, err := url.Parse(tokenParam.FindString(body))
	if err != nil || link.Query().Get("token") == "" {
		t.Fatalf("no token in %q", body)
	}
	token := link.Query().Get("token")
	a.changeOK("deleteOrganization", map[string]any{"id": id})
	confirm := func() {
		t.Helper()
		r := a.post(a.key, `mutation($token: String!) { confirmEmail(token: $token) { member { id } userErrors { field code message } } }`,
			map[string]any{"token": token})
		p := r.Data["confirmEmail"].(map[string]any)
		if errs := userErrors(p); p["member"] != nil || len(errs) != 1 || errs[0].Field != "token" || errs[0].Code != "INVALID_VALUE" {
			t.Errorf("confirmEmail with a deleted organization's token: %s", r.Raw)
		}
	}
	confirm()
	a.changeOK("restoreOrganization", map[string]any{"id": id})
	confirm()
	var status string
	if err := a.store.DB().Get(&status, `SELECT status FROM memberships WHERE tenant_id = $1 AND role = 'ADMIN'`, a.actor.TenantID); err != nil || status != "INVITED" {
		t.Errorf("administrator %q (%v), want INVITED", status, err)
	}
}

// A restore works within ORG_RETENTION of the delete, and is NOT_FOUND after.
func TestRestoreRetention(t *testing.T) {
	t.Parallel()
	s := service.New(store, service.Config{DomainSuffix: "orgs.test", OrgRetention: time.Hour})
	a := newAPIServing(t, store, s, "tenant "+t.Name(), httpapi.DefaultOptions, graph.DefaultHandlerOptions)
	late := a.createOK(map[string]any{"name": "Late"})["id"].(string)
	early := a.createOK(map[string]any{"name": "Early"})["id"].(string)
	for _, id := range []string{late, early} {
		a.changeOK("deleteOrganization", map[string]any{"id": id})
	}
	backdate := func(id string, by time.Duration) {
		a.store.DB().MustExec(`UPDATE organizations SET removed_at = removed_at - $3 * interval '1 second' WHERE tenant_id = $1 AND id = $2`,
			a.actor.TenantID, id, by.Seconds())
	}
	backdate(late, time.Hour+time.Second)
	backdate(early, time.Hour-time.Minute)
	a.changeRefused("restoreOrganization", map[string]any{"id": late}, "id", "NOT_FOUND")
	if r := a.changeOK("restoreOrganization", map[string]any{"id": early}); r["status"] != "ACTIVE" {
		t.Errorf("restored within the retention: %v", r)
	}
	if ids := a.listedIDs(map[string]any{"status": "REMOVED"}); len(ids) != 1 || ids[0] != late {
		t.Errorf("REMOVED = %v, want only %s", ids, late)
	}
}

func TestLifecyclePermissions(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := a.createOK(map[string]any{"name": "Guarded"})["id"].(string)
	deleted := a.createOK(map[string]any{"name": "Gone"})["id"].(string)
	a.changeOK("deleteOrganization", map[string]any{"id": deleted})
	noDelete, _ := a.newKey("no delete", domain.PermOrganizationRead, domain.PermOrganizationUpdate, domain.PermOrganizationCreate)
	noUpdate, _ := a.newKey("no update", domain.PermOrganizationRead, domain.PermOrganizationDelete)
	events := a.count("audit_events")
	for _, tc := range []struct {
		key, mutation, id, permission string
	}{
		{noDelete, "deleteOrganization", id, "ORGANIZATION_DELETE"},
		{noDelete, "restoreOrganization", deleted, "ORGANIZATION_DELETE"},
		{noUpdate, "deactivateOrganization", id, "ORGANIZATION_UPDATE"},
		{noUpdate, "reactivateOrganization", id, "ORGANIZATION_UPDATE"},
	} {
		r := a.post(tc.key, lifecycleMutations[tc.mutation], map[string]any{"input": map[string]any{"id": tc.id}})
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" || r.Errors[0].Extensions["permission"] != tc.permission {
			t.Errorf("%s without %s: %s", tc.mutation, tc.permission, r.Raw)
		}
	}
	if r := a.lookup("id", id); r == nil || r["status"] != "ACTIVE" {
		t.Errorf("after refused changes: %v", r)
	}
	if ids := a.listedIDs(map[string]any{"status": "REMOVED"}); len(ids) != 1 || ids[0] != deleted {
		t.Errorf("REMOVED = %v", ids)
	}
	if n := a.count("audit_events"); n != events {
		t.Errorf("%d audit events after refused changes, want %d", n, events)
	}

	// Another tenant's organizations, and ids that are none, are NOT_FOUND.
	b := newAPIInOtherTenant(t)
	for _, m := range []string{"deactivateOrganization", "reactivateOrganization", "deleteOrganization", "restoreOrganization"} {
		for _, other := range []string{id, deleted, "00000000-0000-0000-0000-000000000000", "not-an-id"} {
			b.changeRefused(m, map[string]any{"id": other}, "id", "NOT_FOUND")
		}
	}
	if n := a.count("audit_events"); n != events {
		t.Errorf("another tenant changed the organizations: %d audit events, want %d", n, events)
	}
}

// organizationRows counts the rows of the organization id in each table that hangs off it.
func (a *api) organizationRows(id string) map[string]int {
	a.t.Helper()
	out := map[string]int{}
	for _, table := range []string{"organizations", "projects", "memberships", "organization_domains", "organization_attributes",
		"email_confirmations", "idempotency_keys", "audit_events"} {
		col := "organization_id"
		if table == "organizations" {
			col = "id"
		}
		var n int
		if err := a.store.DB().Get(&n, `SELECT count(*) FROM `+table+` WHERE tenant_id = $1 AND `+col+` = $2`, a.actor.TenantID, id); err != nil {
			a.t.Fatalf("count %s: %v", table, err)
		}
		out[table] = n
	}
	return out
}

func TestPurge(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	full := map[string]any{"name": "Old", "idempotencyKey": "purge-old", "emailConfirmationLandingPage": "https://app.example.com/confirm",
		"primaryAdministrator": map[string]any{"firstName": "Ad", "lastName": "Min", "email": "admin@old.example"},
		"primaryDomain":        "old.example", "customAttributes": []map[string]any{{"key": "tier", "value": "gold"}},
		"projects": []map[string]any{{"name": "Main"}, {"name": "Side"}}}
	old := a.createOK(full)["id"].(string)
	recent := a.createOK(map[string]any{"name": "Recent"})["id"].(string)
	alive := a.createOK(map[string]any{"name": "Alive"})["id"].(string)
	for _, id := range []string{old, recent} {
		a.changeOK("deleteOrganization", map[string]any{"id": id})
	}
	rows := a.organizationRows(old)
	if fmt.Sprint(rows) != "map[audit_events:2 email_confirmations:1 idempotency_keys:1 memberships:2 organization_attributes:1 organization_domains:2 organizations:1 projects:3]" {
		t.Fatalf("the organization to purge has rows %v", rows)
	}
	keptRecent, keptAlive := a.organizationRows(recent), a.organizationRows(alive)
	a.store.DB().MustExec(`UPDATE organizations SET removed_at = removed_at - interval '721 hours' WHERE tenant_id = $1 AND id = $2`,
		a.actor.TenantID, old)

	n, err := a.service.PurgeRemovedOrganizations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Other tests may have organizations due too: at least this one was purged.
	if n.Organizations < 1 || n.Projects < 3 || n.Memberships < 2 || n.Domains < 2 || n.Attributes < 1 || n.Confirmations < 1 || n.IdempotencyKeys < 1 {
		t.Errorf("purge counts %+v", n)
	}
	rows = a.organizationRows(old)
	if fmt.Sprint(rows) != "map[audit_events:3 email_confirmations:0 idempotency_keys:0 memberships:0 organization_attributes:0 organization_domains:0 organizations:0 projects:0]" {
		t.Errorf("after the purge, the organization has rows %v", rows)
	}
	var last struct {
		Type     string  `db:"type"`
		Sequence int     `db:"sequence"`
		Actor    *string `db:"actor_key_id"`
		Projects int     `db:"projects"`
	}
	if err := a.store.DB().Get(&last, `SELECT type, sequence, actor_key_id, (payload->>'projects')::int AS projects FROM audit_events
WHERE tenant_id = $1 AND organization_id = $2 ORDER BY sequence DESC LIMIT 1`, a.actor.TenantID, old); err != nil {
		t.Fatal(err)
	}
	if last.Type != "organization.purged" || last.Sequence != 3 || last.Actor != nil || last.Projects != 3 {
		t.Errorf("last event %+v, want organization.purged by the system, sequence 3, 3 projects", last)
	}
	// Within its retention, a deleted organization is left alone, and so is a living one.
	if got := a.organizationRows(recent); fmt.Sprint(got) != fmt.Sprint(keptRecent) {
		t.Errorf("the recently deleted organization: %v, want %v", got, keptRecent)
	}
	if got := a.organizationRows(alive); fmt.Sprint(got) != fmt.Sprint(keptAlive) {
		t.Errorf("the living organization: %v, want %v", got, keptAlive)
	}
	// The idempotency key that named the purged organization is gone: a retry creates afresh.
	if o := a.createOK(full); o["id"] == old {
		t.Errorf("the purged organization came back")
	}
	// Restoring a purged organization is NOT_FOUND.
	a.changeRefused("restoreOrganization", map[string]any{"id": old}, "id", "NOT_FOUND")
}

// Two purges at once (two replicas) share the work: neither fails and each organization is purged once.
func TestPurgeConcurrently(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	var ids []string
	for i := range 12 {
		id := a.createOK(map[string]any{"name": fmt.Sprintf("Due %02d", i), "projects": []map[string]any{{"name": "P"}}})["id"].(string)
		a.changeOK("deleteOrganization", map[string]any{"id": id})
		ids = append(ids, id)
	}
	a.store.DB().MustExec(`UPDATE organizations SET removed_at = removed_at - interval '1000 hours' WHERE tenant_id = $1`, a.actor.TenantID)
	before := time.Now().Add(-720 * time.Hour)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = a.store.PurgeRemovedOrganizations(context.Background(), before, 2)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("purge %d: %v", i, err)
		}
	}
	if n := a.count("organizations"); n != 0 {
		t.Errorf("%d organizations left", n)
	}
	if n := a.count("projects"); n != 0 {
		t.Errorf("%d projects left", n)
	}
	var purged int
	a.store.DB().Get(&purged, `SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND type = 'organization.purged'`, a.actor.TenantID)
	if n := a.count("audit_events"); purged != len(ids) || n != 3*len(ids) {
		t.Errorf("%d purge events and %d events in all, want %d and %d", purged, n, len(ids), 3*len(ids))
	}
}

// A delete and the confirmation of the same organization's administrator, at once, both answer: the
// confirmation either happens before the delete or is refused, never an error.
func TestDeleteWhileConfirming(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	const n = 8
	ids, tokens := make([]string, n), make([]string, n)
	for i := range n {
		email := fmt.Sprintf("admin%d@racing.example", i)
		ids[i] = a.createOK(map[string]any{"name": fmt.Sprintf("Racing %d", i), "emailConfirmationLandingPage": "https://app.example.com/confirm",
			"primaryAdministrator": map[string]any{"firstName": "Ad", "lastName": "Min", "email": email}})["id"].(string)
		var body string
		if err := a.store.DB().Get(&body, `SELECT text_body FROM email_outbox WHERE tenant_id = $1 AND to_address = $2`, a.actor.TenantID, email); err != nil {
			t.Fatal(err)
		}
		link, _ := url.Parse(tokenParam.FindString(body))
		tokens[i] = link.Query().Get("token")
	}
	const confirm = `mutation($token: String!) { confirmEmail(token: $token) { member { id } userErrors { field code message } } }`
	var wg sync.WaitGroup
	answers := make([]response, 2*n)
	for i := range n {
		wg.Go(func() { answers[2*i] = a.post(a.key, confirm, map[string]any{"token": tokens[i]}) })
		wg.Go(func() {
			answers[2*i+1] = a.post(a.key, lifecycleMutations["deleteOrganization"], map[string]any{"input": map[string]any{"id": ids[i]}})
		})
	}
	wg.Wait()
	for i, r := range answers {
		if len(r.Errors) > 0 || r.Status != 200 {
			t.Errorf("answer %d: status %d, %s", i, r.Status, r.Raw)
		}
	}
	var removed int
	a.store.DB().Get(&removed, `SELECT count(*) FROM organizations WHERE tenant_id = $1 AND id = ANY($2) AND status = 'REMOVED'`,
		a.actor.TenantID, pq.Array(ids))
	if removed != n {
		t.Errorf("%d organizations deleted, want %d", removed, n)
	}
	// Events stay numbered without gaps or duplicates.
	var bad int
	a.store.DB().Get(&bad, `SELECT count(*) FROM organizations o WHERE tenant_id = $1 AND sequence <>
  (SELECT count(*) FROM audit_events e WHERE e.tenant_id = o.tenant_id AND e.organization_id = o.id)`, a.actor.TenantID)
	if bad != 0 {
		t.Errorf("%d organizations whose sequence is not their number of events", bad)
	}
}

// TestDeleteRevokesInvitations: deleting an organization revokes its pending invitations, so that the
// link of an invitation email sent before the delete is refused, also after a restore.
func TestDeleteRevokesInvitations(t *testing.T) {
	t.Parallel()
	a, smtpServer := newAPIWithMail(t)
	id := a.createOK(map[string]any{"name": "Short Lived"})["id"].(string)
	inv := a.inviteOK(id, "late@short.test", nil)
	token := invitationToken(t, smtpServer.WaitForMessages(t, 1, 10*time.Second)[0])

	a.changeOK("deleteOrganization", map[string]any{"id": id}) // checks deletedOrganizationId
	var status string
	if err := a.store.DB().Get(&status, `SELECT status FROM invitations WHERE tenant_id = $1 AND id = $2`, a.actor.TenantID, inv["id"]); err != nil || status != "REVOKED" {
		t.Errorf("invitation status %q (%v), want REVOKED", status, err)
	}
	a.wantInvalidToken(a.key, token, "after the delete")

	a.changeOK("restoreOrganization", map[string]any{"id": id})
	a.wantInvalidToken(a.key, token, "after the restore")
	events := a.eventLog(id)
	deleted := events[len(events)-2]
	if deleted.Type != "organization.deleted" || fmt.Sprint(deleted.Data["revokedInvitations"]) != fmt.Sprint([]any{inv["id"]}) {
		t.Errorf("deleted event %+v, want the revoked invitation in its data", deleted)
	}
}
