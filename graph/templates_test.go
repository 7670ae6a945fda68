package graph_test

import (
	"fmt"
	"strings"
	"testing"

	"orgs/domain"
)

const createTemplateMutation = `mutation($input: CreateOrganizationTemplateInput!) {
  createOrganizationTemplate(input: $input) {
    clientMutationId
    template { id name description countryCode languageCode locale timezone isPrivate regionTemplate
      defaultProject { name type mode contactEmails }
      customAttributeDefinitions { key type required defaultValue } createdAt }
    userErrors { field message code }
  }
}`

func (a *api) createTemplate(key string, input map[string]any) map[string]any {
	a.t.Helper()
	r := a.post(key, createTemplateMutation, map[string]any{"input": input})
	if len(r.Errors) > 0 {
		a.t.Fatalf("createOrganizationTemplate: %s\n%s", r.Raw, a.logs.String())
	}
	return r.Data["createOrganizationTemplate"].(map[string]any)
}

func TestTemplates(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	payload := a.createTemplate(a.key, map[string]any{
		"clientMutationId": "t1", "name": "EU customers", "description": "Our European defaults",
		"countryCode": "DE", "languageCode": "de", "locale": "de-DE", "timezone": "Europe/Berlin",
		"isPrivate": true, "regionTemplate": "eu",
		"defaultProject": map[string]any{"name": "Webshop", "type": "WEBSITE", "mode": "TEST"},
		"customAttributeDefinitions": []map[string]any{
			{"key": "vatId", "type": "STRING", "required": true},
			{"key": "seats", "type": "NUMBER", "defaultValue": 5},
			{"key": "gdprSigned", "type": "BOOLEAN", "required": true, "defaultValue": false},
			{"key": "contractEnd", "type": "DATE"},
		},
	})
	if errs := userErrors(payload); len(errs) != 0 {
		t.Fatalf("userErrors: %+v", errs)
	}
	tpl := payload["template"].(map[string]any)
	id := tpl["id"].(string)
	if tpl["name"] != "EU customers" || tpl["regionTemplate"] != "eu" || tpl["isPrivate"] != true ||
		fmt.Sprint(tpl["defaultProject"]) != "map[contactEmails:<nil> mode:TEST name:Webshop type:WEBSITE]" ||
		fmt.Sprint(tpl["customAttributeDefinitions"]) != "[map[defaultValue:<nil> key:vatId required:true type:STRING] "+
			"map[defaultValue:5 key:seats required:false type:NUMBER] map[defaultValue:false key:gdprSigned required:true type:BOOLEAN] "+
			"map[defaultValue:<nil> key:contractEnd required:false type:DATE]]" {
		t.Errorf("template = %v", tpl)
	}
	r := a.post(a.key, `{ organizationTemplates { id name customAttributeDefinitions { key } } }`, nil)
	if list := r.Data["organizationTemplates"].([]any); len(list) != 1 || list[0].(map[string]any)["id"] != id {
		t.Errorf("organizationTemplates = %v", r.Raw)
	}

	t.Run("AppliesDefaultsAndDefinitions", func(t *testing.T) {
		payload := a.createFull(a.key, map[string]any{"name": "Müller GmbH", "templateId": id, "languageCode": "en",
			"customAttributes": []map[string]any{{"key": "vatId", "value": "DE123456789"}, {"key": "contractEnd", "value": "2027-12-31"}}})
		if errs := userErrors(payload); len(errs) != 0 {
			t.Fatalf("userErrors: %+v", errs)
		}
		o := payload["organization"].(map[string]any)
		for k, v := range map[string]any{"countryCode": "DE", "languageCode": "en", "locale": "de-DE",
			"timezone": "Europe/Berlin", "isPrivate": true, "regionTemplate": "eu"} {
			if o[k] != v {
				t.Errorf("%s = %v, want %v", k, o[k], v)
			}
		}
		if got := o["template"].(map[string]any)["id"]; got != id {
			t.Errorf("template = %v", got)
		}
		if dp := o["defaultProject"].(map[string]any); dp["name"] != "Webshop" || dp["mode"] != "TEST" {
			t.Errorf("defaultProject = %v, want the template's", dp)
		}
		want := "[map[key:contractEnd type:DATE value:2027-12-31] map[key:gdprSigned type:BOOLEAN value:false] " +
			"map[key:seats type:NUMBER value:5] map[key:vatId type:STRING value:DE123456789]]"
		if got := fmt.Sprint(o["customAttributes"]); got != want {
			t.Errorf("customAttributes = %s\nwant %s", got, want)
		}
	})
	t.Run("ErrAttributesAgainstDefinitions", func(t *testing.T) {
		payload := a.create(a.key, map[string]any{"name": "Wrong Attributes", "templateId": id, "customAttributes": []map[string]any{
			{"key": "seats", "value": "many"}, {"key": "contractEnd", "value": "31/12/2027"}, {"key": "color", "value": "red"}}})
		got := map[string]string{}
		for _, e := range userErrors(payload) {
			got[e.Field] = e.Code + ":" + e.Message
		}
		if len(got) != 4 || !strings.HasPrefix(got["input.customAttributes.0.value"], "INVALID_VALUE") ||
			!strings.HasPrefix(got["input.customAttributes.1.value"], "INVALID_VALUE") ||
			!strings.HasPrefix(got["input.customAttributes.2.key"], "INVALID_VALUE") ||
			!strings.Contains(got["input.customAttributes"], "vatId") || !strings.HasPrefix(got["input.customAttributes"], "REQUIRED") {
			t.Errorf("userErrors = %v", got)
		}
	})
	t.Run("ErrTemplateOfAnotherTenant", func(t *testing.T) {
		b := newAPIInOtherTenant(t)
		errs := userErrors(b.create(b.key, map[string]any{"name": "Thief", "templateId": id}))
		if len(errs) != 1 || errs[0].Field != "input.templateId" || errs[0].Code != "NOT_FOUND" {
			t.Errorf("userErrors = %+v", errs)
		}
	})
	t.Run("ErrNameTaken", func(t *testing.T) {
		errs := userErrors(a.createTemplate(a.key, map[string]any{"name": "EU customers"}))
		if len(errs) != 1 || errs[0].Field != "input.name" || errs[0].Code != "TAKEN" {
			t.Errorf("userErrors = %+v", errs)
		}
	})
	t.Run("ErrInvalidTemplate", func(t *testing.T) {
		errs := userErrors(a.createTemplate(a.key, map[string]any{"name": " ", "timezone": "Nowhere/City", "regionTemplate": "moon",
			"customAttributeDefinitions": []map[string]any{{"key": "a", "type": "NUMBER", "defaultValue": "x"}, {"key": "a", "type": "STRING"}}}))
		got := map[string]string{}
		for _, e := range errs {
			got[e.Field] = e.Code
		}
		want := "map[input.customAttributeDefinitions.0.defaultValue:INVALID_VALUE input.customAttributeDefinitions.1.key:TAKEN " +
			"input.name:BLANK input.regionTemplate:INVALID_VALUE input.timezone:INVALID_VALUE]"
		if fmt.Sprint(got) != want {
			t.Errorf("userErrors = %v\nwant %s", got, want)
		}
	})
	t.Run("ErrNeedsTemplateManage", func(t *testing.T) {
		key, _ := a.newKey("creator", domain.PermOrganizationCreate, domain.PermOrganizationRead)
		r := a.post(key, createTemplateMutation, map[string]any{"input": map[string]any{"name": "Sneaky"}})
		if len(r.Errors) != 1 || r.Errors[0].Extensions["permission"] != "TEMPLATE_MANAGE" {
			t.Errorf("createOrganizationTemplate without TEMPLATE_MANAGE: %s", r.Raw)
		}
	})
}

func TestAttributesWithoutTemplateAreInferred(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	o := a.createFull(a.key, map[string]any{"name": "Inferred", "customAttributes": []map[string]any{
		{"key": "n", "value": 1.5}, {"key": "b", "value": false}, {"key": "d", "value": "2026-02-28"},
		{"key": "s", "value": "2026-02-30"}}})["organization"].(map[string]any)
	want := "[map[key:b type:BOOLEAN value:false] map[key:d type:DATE value:2026-02-28] map[key:n type:NUMBER value:1.5] map[key:s type:STRING value:2026-02-30]]"
	if got := fmt.Sprint(o["customAttributes"]); got != want {
		t.Errorf("customAttributes = %s\nwant %s", got, want)
	}
}
