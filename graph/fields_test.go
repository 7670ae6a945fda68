package graph_test

import (
	"fmt"
	"strings"
	"testing"
)

const fullOrganizationFields = organizationFields + `
locale timezone phone headquarters { countryCode state city zipCode address1 address2 }
contactEmails billingEmails privacyPolicyUrl termsOfServiceUrl coupons regionTemplate
subscription { plan billingCycle }
template { id name }
customAttributes { key type value }
primaryAdministrator { id userId email name role status joinedAt emailVerified
  user { firstName lastName description phone locale gender dateOfBirth address { countryCode city } mfa { enabled expirationInMinutes } emailVerified } }
allProjects: projects { id name slug type mode isDefault isTest contactEmails sendFromEmail { email name } settings { trackers { deepScan realTimeScan } } }`

const createFullMutation = `mutation($input: CreateOrganizationInput!) {
  createOrganization(input: $input) {
    clientMutationId
    organization {` + fullOrganizationFields + `}
    userErrors { field message code suggestions }
  }
}`

func (a *api) createFull(key string, input map[string]any) map[string]any {
	a.t.Helper()
	r := a.post(key, createFullMutation, map[string]any{"input": input})
	if len(r.Errors) > 0 {
		a.t.Fatalf("createOrganization: %s\n%s", r.Raw, a.logs.String())
	}
	return r.Data["createOrganization"].(map[string]any)
}

func TestEveryField(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	payload := a.createFull(a.key, map[string]any{
		"name": "Globex", "locale": "fr-CA", "timezone": "America/Montreal", "phone": "+14155552671",
		"headquarters": map[string]any{"countryCode": "CA", "state": "QC", "city": "Montréal", "zipCode": "H2X 1Y4",
			"address1": "1 Rue Sainte-Catherine", "address2": " "},
		"contactEmails":    []string{"ops@globex.test", "OPS@globex.test", "ceo@globex.test"},
		"billingEmails":    []string{"billing@globex.test"},
		"primaryDomain":    "Bücher.Example",
		"privacyPolicyUrl": "https://globex.test/privacy", "termsOfServiceUrl": "https://globex.test/terms",
		"coupons":        []string{"WELCOME_10", "BLACK-FRIDAY"},
		"regionTemplate": "eu",
		"subscription":   map[string]any{"plan": "pro", "billingCycle": "YEARLY"},
		"customAttributes": []map[string]any{{"key": "seats", "value": 25}, {"key": "vip", "value": true},
			{"key": "renewal", "value": "2027-01-31"}, {"key": "crm.id", "value": "A-17"}},
		"defaultProject": map[string]any{"name": "Main site", "type": "WEBSITE", "mode": "TEST",
			"sendFromEmail": map[string]any{"email": "noreply@globex.test", "name": "Globex"},
			"settings":      map[string]any{"trackers": map[string]any{"deepScan": true}}},
		"projects": []map[string]any{{"name": "iOS app", "type": "MOBILE_APP", "contactEmails": []string{"ios@globex.test"}},
			{"name": "API", "type": "BACKEND"}},
	})
	if errs := userErrors(payload); len(errs) != 0 {
		t.Fatalf("userErrors: %+v", errs)
	}
	o := payload["organization"].(map[string]any)
	want := map[string]string{
		"locale": "fr-CA", "timezone": "America/Montreal", "phone": "+14155552671",
		"headquarters":  "map[address1:1 Rue Sainte-Catherine address2:<nil> city:Montréal countryCode:CA state:QC zipCode:H2X 1Y4]",
		"contactEmails": "[ops@globex.test ceo@globex.test]", "billingEmails": "[billing@globex.test]",
		"primaryDomain": "xn--bcher-kva.example", "privacyPolicyUrl": "https://globex.test/privacy",
		"termsOfServiceUrl": "https://globex.test/terms", "coupons": "[WELCOME_10 BLACK-FRIDAY]",
		"regionTemplate": "eu", "subscription": "map[billingCycle:YEARLY plan:pro]", "template": "<nil>",
		"customAttributes": "[map[key:crm.id type:STRING value:A-17] map[key:renewal type:DATE value:2027-01-31] " +
			"map[key:seats type:NUMBER value:25] map[key:vip type:BOOLEAN value:true]]",
		"domains": "[map[domain:xn--bcher-kva.example isGenerated:false isPrimary:true isVerified:false] " +
			"map[domain:globex.orgs.test isGenerated:true isPrimary:false isVerified:true]]",
	}
	for k, v := range want {
		if got := fmt.Sprint(o[k]); got != v {
			t.Errorf("%s = %s\n want %s", k, got, v)
		}
	}
	projects := o["allProjects"].([]any)
	if len(projects) != 3 {
		t.Fatalf("projects = %v, want 3", projects)
	}
	dp := projects[0].(map[string]any)
	if dp["name"] != "Main site" || dp["isDefault"] != true || dp["mode"] != "TEST" || dp["isTest"] != true ||
		fmt.Sprint(dp["contactEmails"]) != "[ops@globex.test ceo@globex.test]" ||
		fmt.Sprint(dp["sendFromEmail"]) != "map[email:noreply@globex.test name:Globex]" ||
		fmt.Sprint(dp["settings"]) != "map[trackers:map[deepScan:true realTimeScan:false]]" {
		t.Errorf("default project = %v", dp)
	}
	ios := projects[1].(map[string]any)
	if ios["name"] != "iOS app" || ios["slug"] != "ios-app" || ios["type"] != "MOBILE_APP" || ios["isDefault"] != false ||
		fmt.Sprint(ios["contactEmails"]) != "[ios@globex.test]" {
		t.Errorf("second project = %v", ios)
	}
	if api := projects[2].(map[string]any); api["slug"] != "api" || fmt.Sprint(api["contactEmails"]) != "[ops@globex.test ceo@globex.test]" {
		t.Errorf("third project = %v (contact emails default to the organization's)", api)
	}
}

// fieldValidationCases are the checks of the create's other fields, one violation each; the update
// shares those of the fields it has.
func fieldValidationCases() []validationCase {
	admin := func(over map[string]any) map[string]any {
		m := map[string]any{"firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com"}
		for k, v := range over {
			m[k] = v
		}
		return m
	}
	landing := "https://app.example.com/confirm"
	return []validationCase{
		{"ErrLocale", map[string]any{"locale": "en_US"}, "input.locale", "INVALID_FORMAT"},
		{"ErrLocaleUnknown", map[string]any{"locale": "xx-US"}, "input.locale", "INVALID_VALUE"},
		{"ErrTimezone", map[string]any{"timezone": "Mars/Olympus"}, "input.timezone", "INVALID_VALUE"},
		{"ErrTimezoneLocal", map[string]any{"timezone": "Local"}, "input.timezone", "INVALID_VALUE"},
		{"ErrPhoneFormat", map[string]any{"phone": "415-555-2671"}, "input.phone", "INVALID_FORMAT"},
		{"ErrPhoneNumber", map[string]any{"phone": "+1555"}, "input.phone", "INVALID_VALUE"},
		{"ErrHeadquartersCountry", map[string]any{"headquarters": map[string]any{"countryCode": "Canada"}}, "input.headquarters.countryCode", "INVALID_FORMAT"},
		{"ErrHeadquartersCity", map[string]any{"headquarters": map[string]any{"city": strings.Repeat("c", 201)}}, "input.headquarters.city", "TOO_LONG"},
		{"ErrContactEmail", map[string]any{"contactEmails": []string{"ok@example.com", "not an email"}}, "input.contactEmails.1", "INVALID_FORMAT"},
		{"ErrContactEmailDisplayName", map[string]any{"contactEmails": []string{"Bob <bob@example.com>"}}, "input.contactEmails.0", "INVALID_FORMAT"},
		{"ErrTooManyBillingEmails", map[string]any{"billingEmails": manyEmails(21)}, "input.billingEmails", "TOO_MANY"},
		{"ErrPrimaryDomain", map[string]any{"primaryDomain": "exa mple.com"}, "input.primaryDomain", "INVALID_FORMAT"},
		{"ErrPrimaryDomainLabel", map[string]any{"primaryDomain": strings.Repeat("a", 64) + ".com"}, "input.primaryDomain", "INVALID_FORMAT"},
		{"ErrPrimaryDomainReserved", map[string]any{"primaryDomain": "mine.orgs.test"}, "input.primaryDomain", "INVALID_VALUE"},
		{"ErrPrivacyURL", map[string]any{"privacyPolicyUrl": "javascript:alert(1)"}, "input.privacyPolicyUrl", "INVALID_FORMAT"},
		{"ErrTermsURL", map[string]any{"termsOfServiceUrl": "example.com/terms"}, "input.termsOfServiceUrl", "INVALID_FORMAT"},
		{"ErrCoupon", map[string]any{"coupons": []string{"lower"}}, "input.coupons.0", "INVALID_FORMAT"},
		{"ErrCouponTooLong", map[string]any{"coupons": []string{strings.Repeat("C", 65)}}, "input.coupons.0", "TOO_LONG"},
		{"ErrTooManyCoupons", map[string]any{"coupons": strings.Split(strings.Repeat("C,", 21)[:41], ",")}, "input.coupons", "TOO_MANY"},
		{"ErrRegion", map[string]any{"regionTemplate": "mars"}, "input.regionTemplate", "INVALID_VALUE"},
		{"ErrSubscriptionPlan", map[string]any{"subscription": map[string]any{"plan": " ", "billingCycle": "MONTHLY"}}, "input.subscription.plan", "BLANK"},
		{"ErrTemplateMissing", map[string]any{"templateId": "00000000-0000-0000-0000-000000000000"}, "input.templateId", "NOT_FOUND"},
		{"ErrAttributeKey", map[string]any{"customAttributes": []map[string]any{{"key": "1st", "value": "x"}}}, "input.customAttributes.0.key", "INVALID_FORMAT"},
		{"ErrAttributeValue", map[string]any{"customAttributes": []map[string]any{{"key": "tags", "value": nil}}}, "input.customAttributes.0.value", "INVALID_VALUE"},
		{"ErrAttributeDuplicate", map[string]any{"customAttributes": []map[string]any{{"key": "a", "value": 1}, {"key": "a", "value": 2}}}, "input.customAttributes.1.key", "TAKEN"},
		{"ErrLandingPageRequired", map[string]any{"primaryAdministrator": admin(nil)}, "input.emailConfirmationLandingPage", "REQUIRED"},
		{"ErrLandingPage", map[string]any{"primaryAdministrator": admin(nil), "emailConfirmationLandingPage": "/confirm"}, "input.emailConfirmationLandingPage", "INVALID_FORMAT"},
		{"ErrAdminFirstName", map[string]any{"primaryAdministrator": admin(map[string]any{"firstName": " "}), "emailConfirmationLandingPage": landing}, "input.primaryAdministrator.firstName", "BLANK"},
		{"ErrAdminLastName", map[string]any{"primaryAdministrator": admin(map[string]any{"lastName": strings.Repeat("l", 101)}), "emailConfirmationLandingPage": landing}, "input.primaryAdministrator.lastName", "TOO_LONG"},
		{"ErrAdminEmail", map[string]any{"primaryAdministrator": admin(map[string]any{"email": "ada@"}), "emailConfirmationLandingPage": landing}, "input.primaryAdministrator.email", "INVALID_FORMAT"},
		{"ErrAdminIsCaller", map[string]any{"primaryAdministrator": admin(map[string]any{"email": "CALLER"}), "emailConfirmationLandingPage": landing}, "input.primaryAdministrator.email", "INVALID_VALUE"},
		{"ErrAdminPhone", map[string]any{"primaryAdministrator": admin(map[string]any{"phone": "0612345678"}), "emailConfirmationLandingPage": landing}, "input.primaryAdministrator.phone", "INVALID_FORMAT"},
		{"ErrAdminLocale", map[string]any{"primaryAdministrator": admin(map[string]any{"locale": "english!"}), "emailConfirmationLandingPage": landing}, "input.primaryAdministrator.locale", "INVALID_FORMAT"},
		{"ErrAdminBirthFormat", map[string]any{"primaryAdministrator": admin(map[string]any{"dateOfBirth": "25/04/1990"}), "emailConfirmationLandingPage": landing}, "input.primaryAdministrator.dateOfBirth", "INVALID_FORMAT"},
		{"ErrAdminBirthFuture", map[string]any{"primaryAdministrator": admin(map[string]any{"dateOfBirth": "2999-01-01"}), "emailConfirmationLandingPage": landing}, "input.primaryAdministrator.dateOfBirth", "INVALID_VALUE"},
		{"ErrAdminAddress", map[string]any{"primaryAdministrator": admin(map[string]any{"address": map[string]any{"countryCode": "ZZ"}}), "emailConfirmationLandingPage": landing}, "input.primaryAdministrator.address.countryCode", "INVALID_VALUE"},
		{"ErrAdminMfa", map[string]any{"primaryAdministrator": admin(map[string]any{"mfa": map[string]any{"enabled": true, "expirationInMinutes": 1441}}), "emailConfirmationLandingPage": landing}, "input.primaryAdministrator.mfa.expirationInMinutes", "INVALID_VALUE"},
		{"ErrAdminMfaZero", map[string]any{"primaryAdministrator": admin(map[string]any{"mfa": map[string]any{"enabled": true, "expirationInMinutes": 0}}), "emailConfirmationLandingPage": landing}, "input.primaryAdministrator.mfa.expirationInMinutes", "INVALID_VALUE"},
		{"ErrProjectNameRequired", map[string]any{"projects": []map[string]any{{"type": "BACKEND"}}}, "input.projects.0.name", "REQUIRED"},
		{"ErrProjectNameDuplicate", map[string]any{"projects": []map[string]any{{"name": "App"}, {"name": "app"}}}, "input.projects.1.name", "TAKEN"},
		{"ErrProjectNameIsDefaults", map[string]any{"projects": []map[string]any{{"name": "Default project"}}}, "input.projects.0.name", "TAKEN"},
		{"ErrProjectEmail", map[string]any{"projects": []map[string]any{{"name": "A"}, {"name": "B", "contactEmails": []string{"x"}}}}, "input.projects.1.contactEmails.0", "INVALID_FORMAT"},
		{"ErrProjectSender", map[string]any{"defaultProject": map[string]any{"sendFromEmail": map[string]any{"email": "nope"}}}, "input.defaultProject.sendFromEmail.email", "INVALID_FORMAT"},
		{"ErrTooManyProjects", map[string]any{"projects": manyProjects(21)}, "input.projects", "TOO_MANY"},
		{"ErrIdempotencyKey", map[string]any{"idempotencyKey": "tab\there"}, "input.idempotencyKey", "INVALID_FORMAT"},
		{"ErrIdempotencyKeyTooLong", map[string]any{"idempotencyKey": strings.Repeat("k", 256)}, "input.idempotencyKey", "TOO_LONG"},
	}
}

func TestFieldValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range fieldValidationCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newAPI(t)
			input := map[string]any{"name": "Acme"}
			for k, v := range tc.input {
				input[k] = v
			}
			if adm, ok := input["primaryAdministrator"].(map[string]any); ok && adm["email"] == "CALLER" {
				adm["email"] = strings.ToUpper(a.actor.Email)
			}
			payload := a.create(a.key, input)
			errs := userErrors(payload)
			if len(errs) != 1 || errs[0].Field != tc.field || errs[0].Code != tc.code {
				t.Fatalf("userErrors = %+v, want one %s at %s", errs, tc.code, tc.field)
			}
			a.assertNothingWritten()
			var users int
			a.store.DB().Get(&users, `SELECT count(*) FROM users WHERE tenant_id = $1`, a.actor.TenantID)
			if users != 1 {
				t.Errorf("%d users in the tenant, want only the caller", users)
			}
		})
	}
}

func manyEmails(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("u%d@example.com", i)
	}
	return out
}

func manyProjects(n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"name": fmt.Sprintf("P%d", i)}
	}
	return out
}

func TestPrimaryDomainTaken(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	a.create(a.key, map[string]any{"name": "One", "primaryDomain": "acme.example"})
	errs := userErrors(a.create(a.key, map[string]any{"name": "Two", "primaryDomain": "ACME.example."}))
	if len(errs) != 1 || errs[0].Field != "input.primaryDomain" || errs[0].Code != "TAKEN" {
		t.Errorf("userErrors = %+v, want TAKEN at input.primaryDomain", errs)
	}
	if n := a.count("organizations"); n != 1 {
		t.Errorf("%d organizations, want 1", n)
	}
	b := newAPIInOtherTenant(t)
	if errs := userErrors(b.create(b.key, map[string]any{"name": "Two", "primaryDomain": "acme.example"})); len(errs) != 0 {
		t.Errorf("another tenant cannot use the domain: %+v", errs)
	}
	for _, ip := range []string{"127.0.0.1", "::1", "[2001:db8::1]"} {
		if errs := userErrors(b.create(b.key, map[string]any{"name": "IP " + ip, "primaryDomain": ip})); len(errs) != 0 {
			t.Errorf("IP literal %s refused: %+v", ip, errs)
		}
	}
}
