package graph_test

import (
	"fmt"
	"strings"
	"testing"

	"orgs/domain"
)

const setAttributesMutation = `mutation($input: SetCustomAttributesInput!) {
  setCustomAttributes(input: $input) {
    clientMutationId organization { id details { sequence } customAttributes { key type value } }
    userErrors { field message code }
  }
}`

const removeAttributesMutation = `mutation($input: RemoveCustomAttributesInput!) {
  removeCustomAttributes(input: $input) {
    clientMutationId organization { id details { sequence } customAttributes { key type value } }
    userErrors { field message code }
  }
}`

// attributesOf reads the organization's custom attributes as "key:type:value" strings.
func (a *api) attributesOf(id string) string {
	a.t.Helper()
	r := a.post(a.key, `query($id: ID!) { organization(id: $id) { customAttributes { key type value } } }`, map[string]any{"id": id})
	if len(r.Errors) > 0 {
		a.t.Fatalf("read attributes: %s", r.Raw)
	}
	return attributesString(r.Data["organization"].(map[string]any)["customAttributes"])
}

func attributesString(v any) string {
	var out []string
	for _, x := range v.([]any) {
		m := x.(map[string]any)
		out = append(out, fmt.Sprintf("%v:%v:%v", m["key"], m["type"], m["value"]))
	}
	return strings.Join(out, " ")
}

func (a *api) setAttributes(input map[string]any) map[string]any {
	a.t.Helper()
	return a.changeCall(a.key, "setCustomAttributes", setAttributesMutation, input)
}

func (a *api) removeAttributes(input map[string]any) map[string]any {
	a.t.Helper()
	return a.changeCall(a.key, "removeCustomAttributes", removeAttributesMutation, input)
}

// attrs builds an attributes list from key, value pairs.
func attrs(kv ...any) []map[string]any {
	var out []map[string]any
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, map[string]any{"key": kv[i], "value": kv[i+1]})
	}
	return out
}

func TestCreateWithJSONAttributes(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	o := a.createFull(a.key, map[string]any{"name": "Structured", "customAttributes": attrs(
		"billing", map[string]any{"iban": "FR76", "contacts": []any{"a@x.test", "b@x.test"}, "vat": 20.5},
		"tags", []any{"b2b", 3, true}, "empty", map[string]any{}, "seats", 5)})
	if errs := userErrors(o); len(errs) != 0 {
		t.Fatalf("userErrors: %+v", errs)
	}
	want := "billing:JSON:map[contacts:[a@x.test b@x.test] iban:FR76 vat:20.5] empty:JSON:map[] seats:NUMBER:5 tags:JSON:[b2b 3 true]"
	if got := attributesString(o["organization"].(map[string]any)["customAttributes"]); got != want {
		t.Errorf("customAttributes = %s\nwant %s", got, want)
	}
	// The 8 KiB limit holds on create too.
	p := a.create(a.key, map[string]any{"name": "Too big", "customAttributes": attrs("blob", []any{strings.Repeat("x", 8190)})})
	if got := fmt.Sprint(codesOf(p)); got != "map[input.customAttributes.0.value:TOO_LONG]" {
		t.Errorf("userErrors = %s", got)
	}
}

// A JSON value is written compact, escaped as encoding/json escapes, with nothing after it, on every
// path that writes one: the create's answer, a read of the organization, and a list.
func TestJSONValuesAreCompact(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	created := a.post(a.key, createFullMutation, map[string]any{"input": map[string]any{"name": "Compact",
		"customAttributes": attrs("seats", 5, "billing", map[string]any{"note": "<b> & co"})}})
	if len(created.Errors) > 0 {
		t.Fatalf("createOrganization: %s", created.Raw)
	}
	id := created.Data["createOrganization"].(map[string]any)["organization"].(map[string]any)["id"]
	for what, r := range map[string]response{
		"create": created,
		"read":   a.post(a.key, `query($id: ID!) { organization(id: $id) { customAttributes { key value } } }`, map[string]any{"id": id}),
		"list":   a.post(a.key, `{ organizations(first: 10) { nodes { customAttributes { key value } } } }`, nil),
	} {
		if len(r.Errors) > 0 {
			t.Fatalf("%s: %s", what, r.Raw)
		}
		for _, want := range []string{`"value":5}`, `"value":{"note":"\u003cb\u003e \u0026 co"}}`} {
			if !strings.Contains(r.Raw, want) {
				t.Errorf("%s: the answer does not hold %s:\n%s", what, want, r.Raw)
			}
		}
		if strings.Contains(r.Raw, "\n") {
			t.Errorf("%s: the answer holds a newline:\n%q", what, r.Raw)
		}
	}
}

// Seed 002 (organization service v1) takes custom attributes of any type beside the other fields; a
// template may type one as JSON, and an organization without template takes objects as they come.
func TestSeed002ObjectAttributes(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tpl := a.createTemplate(a.key, map[string]any{"name": "Seed 002 with objects", "customAttributeDefinitions": []map[string]any{
		{"key": "employeeCount", "type": "NUMBER", "required": true},
		{"key": "contract", "type": "JSON", "defaultValue": map[string]any{"kind": "standard"}},
	}})
	if errs := userErrors(tpl); len(errs) != 0 {
		t.Fatalf("template: %+v", errs)
	}
	templateID := tpl["template"].(map[string]any)["id"]
	o := createdOrganization(t, a.post(a.key, seed002Mutation, map[string]any{"input": map[string]any{
		"name": "Initrode Objects", "templateId": templateID,
		"customAttributes": attrs("employeeCount", 250, "contract", map[string]any{"start": "2026-01-01", "terms": []any{"net30"}}),
	}}))
	want := "contract:JSON:map[start:2026-01-01 terms:[net30]] employeeCount:NUMBER:250"
	if got := attributesString(o["customAttributes"]); got != want {
		t.Errorf("customAttributes = %s\nwant %s", got, want)
	}
	// The template's default JSON value fills an attribute left out; a scalar where it wants JSON is refused.
	o = createdOrganization(t, a.post(a.key, seed002Mutation, map[string]any{"input": map[string]any{
		"name": "Initrode Defaults", "templateId": templateID, "customAttributes": attrs("employeeCount", 3)}}))
	if got := attributesString(o["customAttributes"]); got != "contract:JSON:map[kind:standard] employeeCount:NUMBER:3" {
		t.Errorf("customAttributes = %s", got)
	}
	r := a.post(a.key, seed002Mutation, map[string]any{"input": map[string]any{"name": "Initrode Wrong", "templateId": templateID,
		"customAttributes": attrs("employeeCount", map[string]any{"n": 3}, "contract", "standard")}})
	if got := userErrorCodes(t, r.Data["createOrganization"].(map[string]any)); fmt.Sprint(got) !=
		"map[input.customAttributes.0.value:INVALID_VALUE input.customAttributes.1.value:INVALID_VALUE]" {
		t.Errorf("userErrors = %v", got)
	}
	// Without a template: the seed's free-form attributes, objects included.
	o = createdOrganization(t, a.post(a.key, seed002Mutation, map[string]any{"input": map[string]any{
		"name": "Initrode Free", "customAttributes": attrs("profile", map[string]any{"segment": "smb", "since": 2019})}}))
	if got := attributesString(o["customAttributes"]); got != "profile:JSON:map[segment:smb since:2019]" {
		t.Errorf("customAttributes = %s", got)
	}
}

func TestSetCustomAttributes(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := a.createOK(map[string]any{"name": "Attributed", "customAttributes": attrs("tier", "gold", "seats", 10)})["id"].(string)

	p := a.setAttributes(map[string]any{"clientMutationId": "s-1", "organizationId": id, "expectedSequence": 1, "attributes": attrs(
		"seats", 12, "profile", map[string]any{"segment": "smb"}, "regions", []any{"eu", "us"}, "renewal", "2027-01-31")})
	if errs := userErrors(p); len(errs) != 0 || p["clientMutationId"] != "s-1" {
		t.Fatalf("setCustomAttributes = %v", p)
	}
	want := "profile:JSON:map[segment:smb] regions:JSON:[eu us] renewal:DATE:2027-01-31 seats:NUMBER:12 tier:STRING:gold"
	org := p["organization"].(map[string]any)
	if got := attributesString(org["customAttributes"]); got != want || fmt.Sprint(org["details"]) != "map[sequence:2]" {
		t.Errorf("organization = %v\nwant %s", org, want)
	}
	if got := a.attributesOf(id); got != want {
		t.Errorf("read back %s", got)
	}
	_, events := a.orgEventLog(id)
	if last := events[len(events)-1]; last.Type != "organization.attributes_changed" || last.Changes !=
		"customAttributes.seats:10->12 customAttributes.profile:<nil>->map[segment:smb] customAttributes.regions:<nil>->[eu us] customAttributes.renewal:<nil>->2027-01-31" {
		t.Errorf("event = %+v", last)
	}

	t.Run("SameValuesWriteNothing", func(t *testing.T) {
		seq := a.assertSequenceIsEventCount(id)
		p := a.setAttributes(map[string]any{"organizationId": id, "attributes": attrs("seats", 12, "profile", map[string]any{"segment": "smb"}, "tier", "gold")})
		if len(userErrors(p)) != 0 || a.assertSequenceIsEventCount(id) != seq {
			t.Errorf("setCustomAttributes = %v; sequence %d, want %d", p, a.assertSequenceIsEventCount(id), seq)
		}
	})
	t.Run("UpsertReplacesOnlyChanges", func(t *testing.T) {
		p := a.setAttributes(map[string]any{"organizationId": id, "attributes": attrs("tier", "gold", "profile", []any{"smb"})})
		if len(userErrors(p)) != 0 || !strings.Contains(a.attributesOf(id), "profile:JSON:[smb]") {
			t.Fatalf("setCustomAttributes = %v", p)
		}
		_, events := a.orgEventLog(id)
		if last := events[len(events)-1]; last.Changes != "customAttributes.profile:map[segment:smb]->[smb]" {
			t.Errorf("changes = %s", last.Changes)
		}
	})
	t.Run("Rules", func(t *testing.T) {
		seq := a.assertSequenceIsEventCount(id)
		before := a.attributesOf(id)
		for _, tc := range []struct {
			attributes []map[string]any
			want       string
		}{
			{attrs("ok", 1, "1bad", 2), "map[input.attributes.1.key:INVALID_FORMAT]"},
			{attrs("dup", 1, "dup", 2), "map[input.attributes.1.key:INVALID_VALUE]"},
			{attrs("ok", 1, "nothing", nil), "map[input.attributes.1.value:INVALID_VALUE]"},
			{attrs("long", strings.Repeat("s", 2001)), "map[input.attributes.0.value:TOO_LONG]"},
			{attrs("ok", 1, "blob", []any{strings.Repeat("x", domain.AttributeValueMaxBytes-3)}), "map[input.attributes.1.value:TOO_LONG]"},
			{attrs("blob", map[string]any{"k": strings.Repeat("<", domain.AttributeValueMaxBytes-7)}), "map[input.attributes.0.value:TOO_LONG]"},
		} {
			p := a.setAttributes(map[string]any{"organizationId": id, "attributes": tc.attributes})
			if got := fmt.Sprint(codesOf(p)); got != tc.want || p["organization"] != nil {
				t.Errorf("%.80v: %s, want %s", tc.attributes, got, tc.want)
			}
		}
		p := a.setAttributes(map[string]any{"organizationId": id, "expectedSequence": seq - 1, "attributes": attrs("late", 1)})
		if got := fmt.Sprint(codesOf(p)); got != "map[input.expectedSequence:STALE_OBJECT]" {
			t.Errorf("stale: %s", got)
		}
		if a.assertSequenceIsEventCount(id) != seq || a.attributesOf(id) != before {
			t.Errorf("something was written: %s", a.attributesOf(id))
		}
	})
	t.Run("SizeLimit", func(t *testing.T) {
		// ["xxx..."] is the string's length plus 4 bytes of JSON; "<" is not escaped in the count.
		p := a.setAttributes(map[string]any{"organizationId": id, "attributes": attrs(
			"blob", []any{strings.Repeat("x", domain.AttributeValueMaxBytes-4)},
			"html", map[string]any{"k": strings.Repeat("<", domain.AttributeValueMaxBytes-8)})})
		if errs := userErrors(p); len(errs) != 0 {
			t.Errorf("8 KiB exactly: %+v", errs)
		}
	})
}

func TestAttributeCountLimit(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	var kv []any
	for i := 0; i < domain.MaxAttributes-1; i++ {
		kv = append(kv, fmt.Sprintf("k%02d", i), i)
	}
	id := a.createOK(map[string]any{"name": "Crowded", "customAttributes": attrs(kv...)})["id"].(string)
	p := a.setAttributes(map[string]any{"organizationId": id, "attributes": attrs("k00", "replaced", "new1", 1, "new2", 2)})
	if got := fmt.Sprint(codesOf(p)); got != "map[input.attributes:TOO_MANY]" {
		t.Errorf("51 attributes: %s", got)
	}
	if n := a.count("organization_attributes"); n != domain.MaxAttributes-1 {
		t.Errorf("%d attributes stored, want %d", n, domain.MaxAttributes-1)
	}
	p = a.setAttributes(map[string]any{"organizationId": id, "attributes": attrs("k00", "replaced", "new1", 1)})
	if errs := userErrors(p); len(errs) != 0 || a.count("organization_attributes") != domain.MaxAttributes {
		t.Errorf("50 attributes: %+v", errs)
	}
	// Replacing at the limit is fine; removing makes room.
	p = a.setAttributes(map[string]any{"organizationId": id, "attributes": attrs("k01", "replaced")})
	if errs := userErrors(p); len(errs) != 0 {
		t.Errorf("replace at the limit: %+v", errs)
	}
	var many []any
	for i := 0; i <= domain.MaxAttributes; i++ {
		many = append(many, fmt.Sprintf("m%02d", i), i)
	}
	if got := fmt.Sprint(codesOf(a.setAttributes(map[string]any{"organizationId": id, "attributes": attrs(many...)}))); got != "map[input.attributes:TOO_MANY]" {
		t.Errorf("51 given: %s", got)
	}
	a.removeAttributes(map[string]any{"organizationId": id, "keys": []string{"k02"}})
	if errs := userErrors(a.setAttributes(map[string]any{"organizationId": id, "attributes": attrs("new2", 2)})); len(errs) != 0 {
		t.Errorf("after a removal: %+v", errs)
	}
}

func TestRemoveCustomAttributes(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := a.createOK(map[string]any{"name": "Shrinking", "customAttributes": attrs("a", 1, "b", map[string]any{"x": 1}, "c", "keep")})["id"].(string)
	p := a.removeAttributes(map[string]any{"clientMutationId": "r-1", "organizationId": id, "keys": []string{"b", "absent", "a"}})
	if errs := userErrors(p); len(errs) != 0 || p["clientMutationId"] != "r-1" ||
		attributesString(p["organization"].(map[string]any)["customAttributes"]) != "c:STRING:keep" {
		t.Fatalf("removeCustomAttributes = %v", p)
	}
	_, events := a.orgEventLog(id)
	if last := events[len(events)-1]; last.Type != "organization.attributes_changed" ||
		last.Changes != "customAttributes.b:map[x:1]-><nil> customAttributes.a:1-><nil>" {
		t.Errorf("event = %+v", last)
	}
	// Keys that are not set are ignored: nothing to do, nothing written.
	seq := a.assertSequenceIsEventCount(id)
	p = a.removeAttributes(map[string]any{"organizationId": id, "keys": []string{"absent", "a"}})
	if len(userErrors(p)) != 0 || a.assertSequenceIsEventCount(id) != seq {
		t.Errorf("removing absent keys: %v", p)
	}
	for _, tc := range []struct {
		keys []string
		want string
	}{
		{[]string{"c", "c"}, "map[input.keys.1:INVALID_VALUE]"},
		{[]string{"c", "1bad"}, "map[input.keys.1:INVALID_FORMAT]"},
	} {
		if got := fmt.Sprint(codesOf(a.removeAttributes(map[string]any{"organizationId": id, "keys": tc.keys}))); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.keys, got, tc.want)
		}
	}
	if a.attributesOf(id) != "c:STRING:keep" || a.assertSequenceIsEventCount(id) != seq {
		t.Errorf("something was written: %s", a.attributesOf(id))
	}
}

func TestAttributesAgainstTemplate(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tpl := a.createTemplate(a.key, map[string]any{"name": "Typed", "customAttributeDefinitions": []map[string]any{
		{"key": "vatId", "type": "STRING", "required": true},
		{"key": "seats", "type": "NUMBER"},
		{"key": "meta", "type": "JSON"},
	}})["template"].(map[string]any)
	id := a.createOK(map[string]any{"name": "Templated", "templateId": tpl["id"], "customAttributes": attrs("vatId", "FR1", "seats", 3)})["id"].(string)
	seq := a.assertSequenceIsEventCount(id)
	p := a.setAttributes(map[string]any{"organizationId": id, "attributes": attrs("seats", "three", "meta", "flat", "color", "red", "vatId", 7)})
	want := "map[input.attributes.0.value:INVALID_VALUE input.attributes.1.value:INVALID_VALUE input.attributes.2.key:INVALID_VALUE input.attributes.3.value:INVALID_VALUE]"
	if got := fmt.Sprint(codesOf(p)); got != want {
		t.Errorf("userErrors = %s\nwant %s", got, want)
	}
	p = a.removeAttributes(map[string]any{"organizationId": id, "keys": []string{"seats", "vatId"}})
	if got := fmt.Sprint(codesOf(p)); got != "map[input.keys.1:REQUIRED]" {
		t.Errorf("remove a required key: %s", got)
	}
	if a.assertSequenceIsEventCount(id) != seq || a.attributesOf(id) != "seats:NUMBER:3 vatId:STRING:FR1" {
		t.Errorf("something was written: %s", a.attributesOf(id))
	}
	p = a.setAttributes(map[string]any{"organizationId": id, "attributes": attrs("meta", map[string]any{"a": []any{1}}, "vatId", "FR2")})
	if errs := userErrors(p); len(errs) != 0 || a.attributesOf(id) != "meta:JSON:map[a:[1]] seats:NUMBER:3 vatId:STRING:FR2" {
		t.Errorf("setCustomAttributes = %v; %s", p, a.attributesOf(id))
	}
	if errs := userErrors(a.removeAttributes(map[string]any{"organizationId": id, "keys": []string{"seats", "meta"}})); len(errs) != 0 ||
		a.attributesOf(id) != "vatId:STRING:FR2" {
		t.Errorf("remove optional keys: %+v", errs)
	}
}

func TestAttributeFiltersAfterChanges(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := a.createOK(map[string]any{"name": "Filtered", "customAttributes": attrs("tier", "silver")})["id"].(string)
	a.createOK(map[string]any{"name": "Bystander", "customAttributes": attrs("tier", "bronze")})
	find := func(f map[string]any) string {
		t.Helper()
		p, r := a.list(map[string]any{"filter": map[string]any{"customAttributes": []map[string]any{f}}})
		if len(r.Errors) > 0 {
			t.Fatalf("list: %s", r.Raw)
		}
		return fmt.Sprint(p.names)
	}
	a.setAttributes(map[string]any{"organizationId": id, "attributes": attrs("tier", "gold", "seats", 40, "renewal", "2027-05-01", "meta", map[string]any{"a": 1})})
	for _, tc := range []struct {
		filter map[string]any
		want   string
	}{
		{map[string]any{"key": "tier", "eq": "gold"}, "[Filtered]"},
		{map[string]any{"key": "tier", "eq": "silver"}, "[]"},
		{map[string]any{"key": "seats", "gt": 30}, "[Filtered]"},
		{map[string]any{"key": "renewal", "lt": "2028-01-01"}, "[Filtered]"},
	} {
		if got := find(tc.filter); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.filter, got, tc.want)
		}
	}
	a.removeAttributes(map[string]any{"organizationId": id, "keys": []string{"seats", "tier"}})
	if got := find(map[string]any{"key": "seats", "gt": 30}); got != "[]" {
		t.Errorf("after removal: %s", got)
	}
	if got := find(map[string]any{"key": "renewal", "eq": "2027-05-01"}); got != "[Filtered]" {
		t.Errorf("kept attribute: %s", got)
	}
}

func TestAttributeAccess(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := a.createOK(map[string]any{"name": "Private Attributes", "customAttributes": attrs("a", 1)})["id"].(string)
	b := newAPIInOtherTenant(t)
	if got := fmt.Sprint(codesOf(b.changeCall(b.key, "setCustomAttributes", setAttributesMutation,
		map[string]any{"organizationId": id, "attributes": attrs("a", 2)}))); got != "map[input.organizationId:NOT_FOUND]" {
		t.Errorf("set in another tenant: %s", got)
	}
	if got := fmt.Sprint(codesOf(b.changeCall(b.key, "removeCustomAttributes", removeAttributesMutation,
		map[string]any{"organizationId": id, "keys": []string{"a"}}))); got != "map[input.organizationId:NOT_FOUND]" {
		t.Errorf("remove in another tenant: %s", got)
	}
	reader, _ := a.newKey("reader", domain.PermOrganizationRead)
	r := a.post(reader, setAttributesMutation, map[string]any{"input": map[string]any{"organizationId": id, "attributes": attrs("a", 2)}})
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
		t.Errorf("without ORGANIZATION_UPDATE: %s", r.Raw)
	}
	r = a.post(reader, removeAttributesMutation, map[string]any{"input": map[string]any{"organizationId": id, "keys": []string{"a"}}})
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
		t.Errorf("without ORGANIZATION_UPDATE: %s", r.Raw)
	}
	if a.attributesOf(id) != "a:NUMBER:1" || a.assertSequenceIsEventCount(id) != 1 {
		t.Errorf("something was written: %s", a.attributesOf(id))
	}
	if _, err := a.store.DB().Exec(`UPDATE organizations SET status = 'REMOVED', removed_at = now() WHERE tenant_id = $1 AND id = $2`,
		a.actor.TenantID, id); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(codesOf(a.setAttributes(map[string]any{"organizationId": id, "attributes": attrs("a", 2)}))); got != "map[input.organizationId:NOT_FOUND]" {
		t.Errorf("deleted organization: %s", got)
	}
}
