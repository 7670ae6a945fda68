package graph_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"

	"orgs/domain"
)

// validationCase is an input with the one violation it must get.
type validationCase struct {
	name  string
	input map[string]any
	field string
	code  string
}

const updateMutation = `mutation($input: UpdateOrganizationInput!) {
  updateOrganization(input: $input) {
    clientMutationId
    organization {` + fullOrganizationFields + `}
    userErrors { field message code suggestions }
  }
}`

// tryUpdate runs updateOrganization with input; it is safe in any goroutine.
func (a *api) tryUpdate(key string, input map[string]any) (map[string]any, error) {
	r := a.post(key, updateMutation, map[string]any{"input": input})
	if len(r.Errors) > 0 || r.Data["updateOrganization"] == nil {
		return nil, fmt.Errorf("updateOrganization: status %d, %s", r.Status, r.Raw)
	}
	return r.Data["updateOrganization"].(map[string]any), nil
}

// update runs updateOrganization on the organization id with the fields of input.
func (a *api) update(id string, input map[string]any) map[string]any {
	a.t.Helper()
	in := maps.Clone(input)
	in["id"] = id
	p, err := a.tryUpdate(a.key, in)
	if err != nil {
		a.t.Fatal(err)
	}
	return p
}

// updateOK runs an update that must be valid and returns the organization it answers.
func (a *api) updateOK(id string, input map[string]any) map[string]any {
	a.t.Helper()
	p := a.update(id, input)
	if errs := userErrors(p); len(errs) != 0 {
		a.t.Fatalf("update %v: %+v", input, errs)
	}
	return p["organization"].(map[string]any)
}

// read returns the organization id with every field, as organization(id) answers it.
func (a *api) read(id string) map[string]any {
	a.t.Helper()
	r := a.post(a.key, `query($id: ID!) { organization(id: $id) {`+fullOrganizationFields+`} }`, map[string]any{"id": id})
	if len(r.Errors) != 0 || r.Data["organization"] == nil {
		a.t.Fatalf("organization(%s): %s", id, r.Raw)
	}
	return r.Data["organization"].(map[string]any)
}

// events returns the organization's audit events, oldest first, as {type, sequence, changes, data}.
func (a *api) events(id string) []map[string]any {
	a.t.Helper()
	r := a.post(a.key, `query($id: ID!) { organization(id: $id) { events(first: 100) { nodes { type sequence changes { field from to } data } } } }`,
		map[string]any{"id": id})
	if len(r.Errors) != 0 {
		a.t.Fatalf("events: %s", r.Raw)
	}
	var out []map[string]any
	for _, n := range r.Data["organization"].(map[string]any)["events"].(map[string]any)["nodes"].([]any) {
		out = append(out, n.(map[string]any))
	}
	return out
}

// changesOf returns the changes of an event as JSON, to compare.
func changesOf(t *testing.T, event map[string]any) string {
	t.Helper()
	b, err := json.Marshal(event["changes"])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withoutChangeStamps is an organization without what every change moves: updatedAt and details.
func withoutChangeStamps(o map[string]any) map[string]any {
	out := maps.Clone(o)
	delete(out, "updatedAt")
	delete(out, "details")
	return out
}

func sequenceOf(o map[string]any) int {
	return int(o["details"].(map[string]any)["sequence"].(float64))
}

// assertUnchanged fails unless the organization id reads back exactly as before, details included.
func (a *api) assertUnchanged(id string, before map[string]any) {
	a.t.Helper()
	if after := a.read(id); fmt.Sprint(after) != fmt.Sprint(before) {
		a.t.Errorf("organization changed:\n%v\nwas\n%v", after, before)
	}
}

// everyFieldInput is a create input with every descriptive field set.
func everyFieldInput(name string) map[string]any {
	return map[string]any{
		"name": name, "description": "Widgets", "avatarUrl": "https://cdn.example.com/a.png",
		"countryCode": "CA", "languageCode": "fr", "locale": "fr-CA", "timezone": "America/Montreal",
		"phone": "+14155552671", "headquarters": map[string]any{"countryCode": "CA", "city": "Montréal"},
		"contactEmails": []string{"ops@globex.test"}, "billingEmails": []string{"billing@globex.test"},
		"privacyPolicyUrl": "https://globex.test/privacy", "termsOfServiceUrl": "https://globex.test/terms",
		"coupons": []string{"WELCOME"}, "regionTemplate": "eu",
		"subscription": map[string]any{"plan": "pro", "billingCycle": "YEARLY"}, "isPrivate": true, "isDefault": true,
	}
}

func (a *api) createEveryField(name string) map[string]any {
	a.t.Helper()
	p := a.createFull(a.key, everyFieldInput(name))
	if errs := userErrors(p); len(errs) != 0 {
		a.t.Fatalf("create %s: %+v", name, errs)
	}
	return p["organization"].(map[string]any)
}

func TestUpdateOrganizationPartial(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := a.createEveryField("Globex")["id"].(string)
	before := a.read(id)
	p := a.update(id, map[string]any{"clientMutationId": "u-1", "name": "  Globex Corp ", "expectedSequence": 1})
	if errs := userErrors(p); len(errs) != 0 || p["clientMutationId"] != "u-1" {
		t.Fatalf("userErrors %+v, clientMutationId %v", errs, p["clientMutationId"])
	}
	after := a.read(id)
	if fmt.Sprint(p["organization"]) != fmt.Sprint(after) {
		t.Errorf("the payload's organization is not the organization as read:\n%v\n%v", p["organization"], after)
	}
	if after["name"] != "Globex Corp" {
		t.Errorf("name = %v, want Globex Corp", after["name"])
	}
	want := withoutChangeStamps(before)
	want["name"] = "Globex Corp"
	if got := withoutChangeStamps(after); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("other fields changed:\n%v\nwant\n%v", got, want)
	}
	if sequenceOf(after) != 2 || after["updatedAt"] == before["updatedAt"] ||
		after["details"].(map[string]any)["changeDate"] != after["updatedAt"] {
		t.Errorf("details = %v, updatedAt %v (was %v); want sequence 2 and a new change date", after["details"], after["updatedAt"], before["updatedAt"])
	}
	events := a.events(id)
	if len(events) != 2 || events[1]["type"] != "organization.updated" || events[1]["sequence"] != float64(2) {
		t.Fatalf("events = %v, want created then updated", events)
	}
	if got := changesOf(t, events[1]); got != `[{"field":"name","from":"Globex","to":"Globex Corp"}]` {
		t.Errorf("changes = %s", got)
	}
}

func TestUpdateOrganizationEveryField(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := a.createOK(map[string]any{"name": "Plain"})["id"].(string)
	input := everyFieldInput("Fancy")
	input["slug"] = "fancy"
	o := a.updateOK(id, input)
	for k, v := range map[string]string{
		"name": "Fancy", "slug": "fancy", "description": "Widgets", "avatarUrl": "https://cdn.example.com/a.png",
		"countryCode": "CA", "languageCode": "fr", "locale": "fr-CA", "timezone": "America/Montreal", "phone": "+14155552671",
		"headquarters":  "map[address1:<nil> address2:<nil> city:Montréal countryCode:CA state:<nil> zipCode:<nil>]",
		"contactEmails": "[ops@globex.test]", "billingEmails": "[billing@globex.test]",
		"privacyPolicyUrl": "https://globex.test/privacy", "termsOfServiceUrl": "https://globex.test/terms",
		"coupons": "[WELCOME]", "regionTemplate": "eu", "subscription": "map[billingCycle:YEARLY plan:pro]",
		"isPrivate": "true", "isDefault": "true", "primaryDomain": "fancy.orgs.test",
	} {
		if got := fmt.Sprint(o[k]); got != v {
			t.Errorf("%s = %s, want %s", k, got, v)
		}
	}
	events := a.events(id)
	if len(events) != 2 || sequenceOf(o) != 2 {
		t.Fatalf("events = %v, sequence %d; want one update event", events, sequenceOf(o))
	}
	want := `[{"field":"name","from":"Plain","to":"Fancy"},{"field":"slug","from":"plain","to":"fancy"},` +
		`{"field":"description","from":null,"to":"Widgets"},{"field":"avatarUrl","from":null,"to":"https://cdn.example.com/a.png"},` +
		`{"field":"countryCode","from":null,"to":"CA"},{"field":"languageCode","from":null,"to":"fr"},` +
		`{"field":"locale","from":null,"to":"fr-CA"},{"field":"timezone","from":null,"to":"America/Montreal"},` +
		`{"field":"phone","from":null,"to":"+14155552671"},{"field":"headquarters","from":null,"to":{"city":"Montréal","countryCode":"CA"}},` +
		`{"field":"contactEmails","from":[],"to":["ops@globex.test"]},{"field":"billingEmails","from":[],"to":["billing@globex.test"]},` +
		`{"field":"privacyPolicyUrl","from":null,"to":"https://globex.test/privacy"},{"field":"termsOfServiceUrl","from":null,"to":"https://globex.test/terms"},` +
		`{"field":"coupons","from":[],"to":["WELCOME"]},{"field":"regionTemplate","from":null,"to":"eu"},` +
		`{"field":"subscription","from":null,"to":{"billingCycle":"YEARLY","plan":"pro"}},{"field":"isPrivate","from":false,"to":true},` +
		`{"field":"isDefault","from":false,"to":true},{"field":"primaryDomain","from":"plain.orgs.test","to":"fancy.orgs.test"}]`
	if got := changesOf(t, events[1]); got != want {
		t.Errorf("changes =\n%s\nwant\n%s", got, want)
	}
}

func TestUpdateOrganizationNullClears(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := a.createEveryField("Globex")["id"].(string)
	before := a.read(id)
	nullable := []string{"description", "avatarUrl", "countryCode", "languageCode", "locale", "timezone", "phone",
		"headquarters", "contactEmails", "billingEmails", "privacyPolicyUrl", "termsOfServiceUrl", "coupons",
		"regionTemplate", "subscription", "isPrivate", "isDefault"}
	input := map[string]any{"slug": nil} // null slug: unchanged
	for _, f := range nullable {
		input[f] = nil
	}
	o := a.updateOK(id, input)
	want := withoutChangeStamps(before)
	for _, f := range nullable {
		want[f] = nil
	}
	for _, f := range []string{"contactEmails", "billingEmails", "coupons"} {
		want[f] = []any{}
	}
	want["isPrivate"], want["isDefault"] = false, false
	if got := withoutChangeStamps(o); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after clearing:\n%v\nwant\n%v", got, want)
	}
	events := a.events(id)
	if len(events) != 2 {
		t.Fatalf("events = %v", events)
	}
	var fields []string
	for _, c := range events[1]["changes"].([]any) {
		fields = append(fields, c.(map[string]any)["field"].(string))
	}
	if strings.Join(fields, " ") != strings.Join(nullable, " ") {
		t.Errorf("changed fields = %v, want %v", fields, nullable)
	}
	// Cleared twice: nothing changes the second time.
	if o2 := a.updateOK(id, input); sequenceOf(o2) != 2 {
		t.Errorf("clearing cleared fields moved the sequence to %d", sequenceOf(o2))
	}
}

func TestUpdateOrganizationNameNullIsRequired(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := a.createOK(map[string]any{"name": "Acme"})["id"].(string)
	before := a.read(id)
	p := a.update(id, map[string]any{"name": nil, "description": "would change"})
	if errs := userErrors(p); len(errs) != 1 || errs[0].Field != "input.name" || errs[0].Code != "REQUIRED" || p["organization"] != nil {
		t.Fatalf("userErrors = %+v, organization %v; want REQUIRED at input.name alone", errs, p["organization"])
	}
	a.assertUnchanged(id, before)
}

// updatableFields are the fields of the create that the update has too.
var updatableFields = map[string]bool{"name": true, "slug": true, "description": true, "avatarUrl": true,
	"countryCode": true, "languageCode": true, "locale": true, "timezone": true, "phone": true, "headquarters": true,
	"contactEmails": true, "billingEmails": true, "privacyPolicyUrl": true, "termsOfServiceUrl": true,
	"coupons": true, "regionTemplate": true, "subscription": true, "isPrivate": true, "isDefault": true}

func TestUpdateOrganizationValidation(t *testing.T) {
	t.Parallel()
	tested := 0
	for _, tc := range append(createValidationCases(), fieldValidationCases()...) {
		updatable := true
		for k := range tc.input {
			updatable = updatable && updatableFields[k]
		}
		if !updatable {
			continue
		}
		tested++
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newAPI(t)
			id := a.createOK(map[string]any{"name": "Before"})["id"].(string)
			before := a.read(id)
			p := a.update(id, tc.input)
			errs := userErrors(p)
			if len(errs) != 1 || errs[0].Field != tc.field || errs[0].Code != tc.code || errs[0].Message == "" {
				t.Fatalf("userErrors = %+v, want one %s at %s, as the create", errs, tc.code, tc.field)
			}
			if p["organization"] != nil {
				t.Errorf("organization = %v, want null", p["organization"])
			}
			a.assertUnchanged(id, before)
			if n := a.count("audit_events"); n != 1 {
				t.Errorf("%d audit events, want the create's alone", n)
			}
		})
	}
	if tested < 30 {
		t.Errorf("only %d of the create's cases apply to the update", tested)
	}
}

func TestUpdateOrganizationReportsEveryViolation(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	a.createOK(map[string]any{"name": "Taken", "slug": "taken"})
	id := a.createOK(map[string]any{"name": "Mine", "slug": "mine"})["id"].(string)
	before := a.read(id)
	p := a.update(id, map[string]any{"name": "", "slug": "taken", "description": strings.Repeat("x", 2001),
		"avatarUrl": "nope", "countryCode": "usa", "regionTemplate": "mars", "coupons": []string{"ok", "OK"},
		"subscription": map[string]any{"plan": "", "billingCycle": "MONTHLY"}, "isDefault": true})
	got := map[string]string{}
	for _, e := range userErrors(p) {
		got[e.Field] = e.Code
	}
	want := map[string]string{
		"input.name": "BLANK", "input.slug": "TAKEN", "input.description": "TOO_LONG", "input.avatarUrl": "INVALID_FORMAT",
		"input.countryCode": "INVALID_FORMAT", "input.regionTemplate": "INVALID_VALUE", "input.coupons.0": "INVALID_FORMAT",
		"input.subscription.plan": "BLANK",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("userErrors = %v\nwant %v", got, want)
	}
	a.assertUnchanged(id, before)
	if n := a.count("audit_events"); n != 2 {
		t.Errorf("%d audit events, want the two creates'", n)
	}
}

func TestUpdateOrganizationSlug(t *testing.T) {
	t.Parallel()
	t.Run("ErrTakenWithSuggestions", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		a.createOK(map[string]any{"name": "Acme", "slug": "acme"})
		a.createOK(map[string]any{"name": "Acme 2", "slug": "acme-2"})
		id := a.createOK(map[string]any{"name": "Other", "slug": "other"})["id"].(string)
		before := a.read(id)
		p := a.update(id, map[string]any{"slug": "acme"})
		errs := userErrors(p)
		if len(errs) != 1 || errs[0].Field != "input.slug" || errs[0].Code != "TAKEN" || !strings.Contains(errs[0].Message, "acme") {
			t.Fatalf("userErrors = %+v, want TAKEN at input.slug", errs)
		}
		if want := "[acme-3 acme-4 acme-5]"; fmt.Sprint(errs[0].Suggestions) != want {
			t.Errorf("suggestions = %v, want %s", errs[0].Suggestions, want)
		}
		a.assertUnchanged(id, before)
		if o := a.updateOK(id, map[string]any{"slug": errs[0].Suggestions[0]}); o["slug"] != "acme-3" {
			t.Errorf("suggested slug not taken: %v", o["slug"])
		}
	})
	t.Run("OwnSlugIsNotTaken", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		id := a.createOK(map[string]any{"name": "Acme", "slug": "acme"})["id"].(string)
		if o := a.updateOK(id, map[string]any{"slug": "acme"}); sequenceOf(o) != 1 {
			t.Errorf("setting the slug it has changed the organization: sequence %d", sequenceOf(o))
		}
	})
	t.Run("NewSlugFreesTheOldAndRenamesTheGeneratedDomain", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		id := a.createOK(map[string]any{"name": "Acme", "slug": "acme"})["id"].(string)
		o := a.updateOK(id, map[string]any{"slug": "acme-corp"})
		if o["slug"] != "acme-corp" || o["primaryDomain"] != "acme-corp.orgs.test" ||
			fmt.Sprint(o["domains"]) != "[map[domain:acme-corp.orgs.test isGenerated:true isPrimary:true isVerified:true]]" {
			t.Errorf("slug %v, primaryDomain %v, domains %v", o["slug"], o["primaryDomain"], o["domains"])
		}
		r := a.post(a.key, `{ organization(slug: "acme-corp") { id } }`, nil)
		if r.Data["organization"] == nil || r.Data["organization"].(map[string]any)["id"] != id {
			t.Errorf("organization(slug: acme-corp) = %s", r.Raw)
		}
		events := a.events(id)
		if got := changesOf(t, events[len(events)-1]); got != `[{"field":"slug","from":"acme","to":"acme-corp"},`+
			`{"field":"primaryDomain","from":"acme.orgs.test","to":"acme-corp.orgs.test"}]` {
			t.Errorf("changes = %s", got)
		}
		taker := a.createOK(map[string]any{"name": "Acme again", "slug": "acme"})
		if taker["primaryDomain"] != "acme.orgs.test" {
			t.Errorf("the new organization of the old slug has primaryDomain %v", taker["primaryDomain"])
		}
	})
	t.Run("GeneratedDomainFollowsWhenNotPrimary", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		id := a.createOK(map[string]any{"name": "Acme", "slug": "acme", "primaryDomain": "acme.example"})["id"].(string)
		o := a.updateOK(id, map[string]any{"slug": "acme-corp"})
		if o["primaryDomain"] != "acme.example" || fmt.Sprint(o["domains"]) != "[map[domain:acme.example isGenerated:false isPrimary:true isVerified:false] "+
			"map[domain:acme-corp.orgs.test isGenerated:true isPrimary:false isVerified:true]]" {
			t.Errorf("primaryDomain %v, domains %v", o["primaryDomain"], o["domains"])
		}
		events := a.events(id)
		if got := changesOf(t, events[len(events)-1]); got != `[{"field":"slug","from":"acme","to":"acme-corp"}]` {
			t.Errorf("changes = %s", got)
		}
	})
	t.Run("ConcurrentUpdatesToOneSlugHaveOneWinner", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		for round := range 5 {
			slug := fmt.Sprintf("race-%d", round)
			ids := []string{a.createOK(map[string]any{"name": "Left"})["id"].(string), a.createOK(map[string]any{"name": "Right"})["id"].(string)}
			got := outcomes(concurrently(t, 2, func(i int) (map[string]any, error) {
				return a.tryUpdate(a.key, map[string]any{"id": ids[i], "slug": slug})
			}))
			var holders int
			a.store.DB().Get(&holders, `SELECT count(*) FROM organizations WHERE tenant_id = $1 AND slug = $2`, a.actor.TenantID, slug)
			if want := map[string]int{"ok": 1, "input.slug TAKEN, 3 suggestions": 1}; fmt.Sprint(got) != fmt.Sprint(want) || holders != 1 {
				t.Errorf("round %d: outcomes %v with %d holders; want %v and 1", round, got, holders, want)
			}
		}
	})
	t.Run("RemovedOrganizationsSlugIsFree", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		gone := a.createOK(map[string]any{"name": "Gone", "slug": "gone"})["id"].(string)
		a.remove(gone)
		id := a.createOK(map[string]any{"name": "Here"})["id"].(string)
		if o := a.updateOK(id, map[string]any{"slug": "gone"}); o["slug"] != "gone" || o["primaryDomain"] != "gone.orgs.test" {
			t.Errorf("slug %v, primaryDomain %v; want the removed organization's", o["slug"], o["primaryDomain"])
		}
	})
}

// concurrently runs call(0), ..., call(n-1) at once and returns their payloads; a failed call is an
// error of the test and a nil payload.
func concurrently(t *testing.T, n int, call func(i int) (map[string]any, error)) []map[string]any {
	t.Helper()
	out := make([]map[string]any, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var err error
			if out[i], err = call(i); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	return out
}

// outcomes counts mutation payloads by outcome: "ok" (an organization, no userErrors), else the field and
// code of their userErrors with the number of suggestions, if any.
func outcomes(payloads []map[string]any) map[string]int {
	out := map[string]int{}
	for _, p := range payloads {
		if p == nil {
			continue
		}
		errs := userErrors(p)
		if p["organization"] != nil && len(errs) == 0 {
			out["ok"]++
			continue
		}
		var keys []string
		for _, e := range errs {
			k := e.Field + " " + e.Code
			if len(e.Suggestions) > 0 {
				k += fmt.Sprintf(", %d suggestions", len(e.Suggestions))
			}
			keys = append(keys, k)
		}
		out[strings.Join(keys, "; ")]++
	}
	return out
}

// remove marks the organization removed, as a delete leaves it: slug and domains free.
func (a *api) remove(id string) {
	a.t.Helper()
	for _, q := range []string{
		`UPDATE organizations SET status = 'REMOVED', removed_at = now() WHERE tenant_id = $1 AND id = $2`,
		`UPDATE organization_domains SET released = true WHERE tenant_id = $1 AND organization_id = $2`,
	} {
		if _, err := a.store.DB().Exec(q, a.actor.TenantID, id); err != nil {
			a.t.Fatal(err)
		}
	}
}

func TestUpdateOrganizationDefault(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	first := a.createOK(map[string]any{"name": "First", "isDefault": true})["id"].(string)
	second := a.createOK(map[string]any{"name": "Second"})["id"].(string)
	defaults := func() []string {
		var slugs []string
		a.store.DB().Select(&slugs, `SELECT slug FROM organizations WHERE tenant_id = $1 AND is_default ORDER BY slug`, a.actor.TenantID)
		return slugs
	}
	o := a.updateOK(second, map[string]any{"isDefault": true})
	if o["isDefault"] != true || fmt.Sprint(defaults()) != "[second]" {
		t.Errorf("isDefault %v, defaults %v; want second alone", o["isDefault"], defaults())
	}
	old := a.read(first)
	if old["isDefault"] != false || sequenceOf(old) != 2 {
		t.Errorf("old default: isDefault %v, sequence %d", old["isDefault"], sequenceOf(old))
	}
	events := a.events(first)
	if len(events) != 2 || events[1]["type"] != "organization.default_revoked" ||
		changesOf(t, events[1]) != `[{"field":"isDefault","from":true,"to":false}]` {
		t.Errorf("old default's events = %v", events)
	}
	if got := changesOf(t, a.events(second)[1]); got != `[{"field":"isDefault","from":false,"to":true}]` {
		t.Errorf("new default's changes = %s", got)
	}
	// true again: nothing changes, nobody is demoted.
	if o := a.updateOK(second, map[string]any{"isDefault": true}); sequenceOf(o) != 2 || len(a.events(first)) != 2 {
		t.Errorf("making the default default again wrote: sequence %d", sequenceOf(o))
	}
	for _, v := range []any{nil, false} {
		a.updateOK(second, map[string]any{"isDefault": true})
		if o := a.updateOK(second, map[string]any{"isDefault": v}); o["isDefault"] != false || len(defaults()) != 0 {
			t.Errorf("isDefault: %v left isDefault %v, defaults %v", v, o["isDefault"], defaults())
		}
	}
}

func TestUpdateOrganizationConcurrentSameSequence(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := a.createOK(map[string]any{"name": "Contested"})["id"].(string)
	for pair := range 10 {
		seq := pair + 1
		got := outcomes(concurrently(t, 2, func(i int) (map[string]any, error) {
			return a.tryUpdate(a.key, map[string]any{"id": id, "expectedSequence": seq, "description": fmt.Sprintf("pair %d writer %d", pair, i)})
		}))
		if want := map[string]int{"ok": 1, "input.expectedSequence STALE_OBJECT": 1}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("pair %d: outcomes %v, want %v", pair, got, want)
		}
	}
	if o := a.read(id); sequenceOf(o) != 11 || len(a.events(id)) != 11 {
		t.Errorf("sequence %d with %d events, want 11 and 11", sequenceOf(o), len(a.events(id)))
	}
}

func TestUpdateOrganizationStale(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := a.createOK(map[string]any{"name": "Acme"})["id"].(string)
	a.updateOK(id, map[string]any{"name": "Acme 2"})
	before := a.read(id)
	for _, seq := range []int{1, 3} {
		p := a.update(id, map[string]any{"name": "Acme 3", "expectedSequence": seq})
		errs := userErrors(p)
		if len(errs) != 1 || errs[0].Field != "input.expectedSequence" || errs[0].Code != "STALE_OBJECT" ||
			!strings.Contains(errs[0].Message, "2") || p["organization"] != nil {
			t.Errorf("expectedSequence %d: userErrors %+v, organization %v", seq, errs, p["organization"])
		}
	}
	a.assertUnchanged(id, before)
	if o := a.updateOK(id, map[string]any{"name": "Acme 3", "expectedSequence": 2}); sequenceOf(o) != 3 {
		t.Errorf("current expectedSequence: sequence %d, want 3", sequenceOf(o))
	}
}

func TestUpdateOrganizationNoChange(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := a.createEveryField("Same")["id"].(string)
	before := a.read(id)
	input := everyFieldInput(" Same ") // trimmed: the same name
	input["slug"] = before["slug"]
	input["expectedSequence"] = 1
	o := a.updateOK(id, input)
	if fmt.Sprint(o) != fmt.Sprint(before) {
		t.Errorf("an update that changes nothing changed:\n%v\nwas\n%v", o, before)
	}
	if o := a.updateOK(id, map[string]any{}); fmt.Sprint(o) != fmt.Sprint(before) {
		t.Errorf("an empty update changed the organization")
	}
	if n := a.count("audit_events"); n != 1 {
		t.Errorf("%d audit events, want the create's alone", n)
	}
}

func TestUpdateOrganizationValidateOnly(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	a.createOK(map[string]any{"name": "Taken", "slug": "taken", "isDefault": true})
	id := a.createOK(map[string]any{"name": "Dry"})["id"].(string)
	before := a.read(id)
	p := a.update(id, map[string]any{"name": "Wet", "slug": "wet", "isDefault": true, "validateOnly": true})
	if errs := userErrors(p); len(errs) != 0 || p["organization"] != nil {
		t.Fatalf("validateOnly: userErrors %+v, organization %v; want neither", errs, p["organization"])
	}
	a.assertUnchanged(id, before)
	var defaults []string
	a.store.DB().Select(&defaults, `SELECT slug FROM organizations WHERE tenant_id = $1 AND is_default`, a.actor.TenantID)
	if n := a.count("audit_events"); n != 2 || fmt.Sprint(defaults) != "[taken]" {
		t.Errorf("validateOnly wrote: %d audit events, defaults %v", n, defaults)
	}
	p = a.update(id, map[string]any{"slug": "taken", "validateOnly": true})
	if errs := userErrors(p); len(errs) != 1 || errs[0].Code != "TAKEN" || len(errs[0].Suggestions) != 3 {
		t.Errorf("validateOnly with a taken slug: %+v, want TAKEN with suggestions", errs)
	}
	p = a.update(id, map[string]any{"name": nil, "validateOnly": true})
	if errs := userErrors(p); len(errs) != 1 || errs[0].Code != "REQUIRED" {
		t.Errorf("validateOnly with a null name: %+v", errs)
	}
	a.assertUnchanged(id, before)
}

func TestUpdateOrganizationNotFound(t *testing.T) {
	t.Parallel()
	a, b := newAPI(t), newAPIInOtherTenant(t)
	theirs := b.createOK(map[string]any{"name": "Theirs"})["id"].(string)
	theirsBefore := b.read(theirs)
	removed := a.createOK(map[string]any{"name": "Removed"})["id"].(string)
	a.remove(removed)
	for _, id := range []string{theirs, removed, "00000000-0000-0000-0000-000000000000", "not-a-uuid"} {
		p := a.update(id, map[string]any{"name": "Mine now"})
		errs := userErrors(p)
		if len(errs) != 1 || errs[0].Field != "input.id" || errs[0].Code != "NOT_FOUND" || p["organization"] != nil {
			t.Errorf("update %s: userErrors %+v, organization %v; want NOT_FOUND at input.id", id, errs, p["organization"])
		}
	}
	b.assertUnchanged(theirs, theirsBefore)
	var name string
	a.store.DB().Get(&name, `SELECT name FROM organizations WHERE id = $1`, removed)
	if name != "Removed" {
		t.Errorf("the removed organization was renamed to %q", name)
	}
}

func TestUpdateOrganizationInactive(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := a.createOK(map[string]any{"name": "Sleeping", "status": "INACTIVE"})["id"].(string)
	if o := a.updateOK(id, map[string]any{"name": "Still sleeping"}); o["name"] != "Still sleeping" || o["status"] != "INACTIVE" {
		t.Errorf("name %v, status %v", o["name"], o["status"])
	}
}

func TestUpdateOrganizationForbidden(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := a.createOK(map[string]any{"name": "Guarded"})["id"].(string)
	before := a.read(id)
	key, _ := a.newKey("reader", domain.PermOrganizationRead, domain.PermOrganizationCreate)
	r := a.post(key, updateMutation, map[string]any{"input": map[string]any{"id": id, "name": "Taken over"}})
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" || r.Errors[0].Extensions["permission"] != "ORGANIZATION_UPDATE" {
		t.Errorf("without ORGANIZATION_UPDATE: %s, want FORBIDDEN", r.Raw)
	}
	a.assertUnchanged(id, before)
	if n := a.count("audit_events"); n != 1 {
		t.Errorf("%d audit events, want 1", n)
	}
}

func TestUpdateOrganizationConcurrentDefaultsLeaveOne(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	const n = 10
	ids := make([]string, n)
	for i := range ids {
		ids[i] = a.createOK(map[string]any{"name": fmt.Sprintf("Candidate %d", i)})["id"].(string)
	}
	got := outcomes(concurrently(t, n, func(i int) (map[string]any, error) {
		return a.tryUpdate(a.key, map[string]any{"id": ids[i], "isDefault": true})
	}))
	if got["ok"] != n {
		t.Errorf("outcomes %v, want %d ok", got, n)
	}
	var defaults, revoked int
	a.store.DB().Get(&defaults, `SELECT count(*) FROM organizations WHERE tenant_id = $1 AND is_default`, a.actor.TenantID)
	a.store.DB().Get(&revoked, `SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND type = 'organization.default_revoked'`, a.actor.TenantID)
	if defaults != 1 || revoked != n-1 {
		t.Errorf("%d defaults with %d demotions, want 1 with %d", defaults, revoked, n-1)
	}
}
