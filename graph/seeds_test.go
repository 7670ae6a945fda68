package graph_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"orgs/domain"
)

// One test per seed API (the public "create organization" APIs createOrganization replaces, see
// CONTRACT.md): each sends the seed's example request as one createOrganization mutation, checks that
// every field of the seed's response has its counterpart with the right value, and that every error the
// seed documents has its counterpart, as an HTTP status or a code.

// postAs sends a GraphQL request with exactly the given headers: unlike post and postWithHeaders it adds
// no Authorization header, so that a key can travel in X-API-Key, or not at all.
func (a *api) postAs(headers map[string]string, query string, vars map[string]any) response {
	a.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, a.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return a.do(req)
}

// createdOrganization returns the organization of a createOrganization answer, failing the test on any
// error or userError.
func createdOrganization(t *testing.T, r response) map[string]any {
	t.Helper()
	if r.Status != http.StatusOK || len(r.Errors) != 0 {
		t.Fatalf("createOrganization: status %d, %s", r.Status, r.Raw)
	}
	payload := r.Data["createOrganization"].(map[string]any)
	if errs := userErrors(payload); len(errs) != 0 {
		t.Fatalf("createOrganization: userErrors %+v", errs)
	}
	return payload["organization"].(map[string]any)
}

// userErrorCodes maps the payload's userErrors by field path ("input.slug") to code, failing the test
// on an error without a message or when the payload also carries an organization.
func userErrorCodes(t *testing.T, payload map[string]any) map[string]string {
	t.Helper()
	if payload["organization"] != nil {
		t.Errorf("organization = %v alongside userErrors, want null", payload["organization"])
	}
	got := map[string]string{}
	for _, e := range userErrors(payload) {
		if e.Message == "" {
			t.Errorf("userError at %s has no message", e.Field)
		}
		got[e.Field] = e.Code
	}
	return got
}

// assertForbidden checks the counterpart of a seed's 403: one FORBIDDEN error naming ORGANIZATION_CREATE,
// no data, and nothing written.
func assertForbidden(t *testing.T, a *api, r response) {
	t.Helper()
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" ||
		r.Errors[0].Extensions["permission"] != "ORGANIZATION_CREATE" || r.Data["createOrganization"] != nil {
		t.Errorf("without ORGANIZATION_CREATE: status %d, %s; want one FORBIDDEN error naming ORGANIZATION_CREATE", r.Status, r.Raw)
	}
	a.assertNothingWritten()
}

// assertHTTP401 checks the counterpart of a missing or unknown key: HTTP 401 with
// WWW-Authenticate: Bearer and one UNAUTHENTICATED error, no data, nothing written.
func assertHTTP401(t *testing.T, a *api, r response) {
	t.Helper()
	if r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") ||
		len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "UNAUTHENTICATED" || r.Data != nil {
		t.Errorf("status %d, WWW-Authenticate %q, body %s; want 401, Bearer and one UNAUTHENTICATED error",
			r.Status, r.Header.Get("WWW-Authenticate"), r.Raw)
	}
	a.assertNothingWritten()
}

// acceptGraphQLResponse asks for the GraphQL-over-HTTP media type, under which a request that cannot be
// parsed or validated is HTTP 400 (under application/json the specification allows 200 for them).
var acceptGraphQLResponse = map[string]string{"Accept": "application/graphql-response+json"}

// assertInvalidRequest checks the counterpart of a seed's 400 for a request GraphQL itself refuses (a
// missing required field, a value outside an enum): HTTP 400, GRAPHQL_VALIDATION_FAILED, no data,
// nothing written.
func assertInvalidRequest(t *testing.T, a *api, r response) {
	t.Helper()
	if r.Status != http.StatusBadRequest || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" || r.Data != nil {
		t.Errorf("status %d, %s; want 400 with one GRAPHQL_VALIDATION_FAILED error", r.Status, r.Raw)
	}
	a.assertNothingWritten()
}

// assertRFC3339 checks that each of o's keys holds an RFC 3339 timestamp in UTC of the last minute.
func assertRFC3339(t *testing.T, o map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		s, _ := o[k].(string)
		ts, err := time.Parse(time.RFC3339Nano, s)
		if !rfc3339UTC.MatchString(s) || err != nil || time.Since(ts) < 0 || time.Since(ts) > time.Minute {
			t.Errorf("%s = %#v, want an RFC 3339 timestamp in UTC of now", k, o[k])
		}
	}
}

// checkFields compares o's keys with want, printing both with %v.
func checkFields(t *testing.T, what string, o map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if fmt.Sprint(o[k]) != fmt.Sprint(v) {
			t.Errorf("%s.%s = %v, want %v", what, k, o[k], v)
		}
	}
}

// Seed 000, Concord privacy API: POST /organizations with an x-api-key header.
const seed000Mutation = `mutation Seed000($input: CreateOrganizationInput!) {
  createOrganization(input: $input) {
    organization {
      id name slug primaryDomain domains { domain isPrimary isGenerated }
      privacyPolicyUrl termsOfServiceUrl contactEmails coupons regionTemplate
      createdAt updatedAt          # createdAt, updatedAt, dateCreated, dateUpdated
      billingEmails subscription { plan billingCycle }
      status statusChangedAt isActive   # status, statusDate, statusFlags.isActive
      defaultProject { id }             # defaultProjectId
      projects {
        id organizationId name slug type mode status isDefault isActive isTest contactEmails
        sendFromEmail { id email name }
        settings { trackers { deepScan realTimeScan lastRealTimeScan } }
        createdAt updatedAt
        organization { id name slug status }
      }
    }
    userErrors { field message code suggestions }
  }
}`

func TestSeed000_a1ed657da724d694(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	xAPIKey := map[string]string{"X-API-Key": a.key} // x-api-key: <token>

	// 403 Forbidden: a key without ORGANIZATION_CREATE.
	reader, _ := a.newKey("reader", domain.PermOrganizationRead)
	assertForbidden(t, a, a.postAs(map[string]string{"X-API-Key": reader}, seed000Mutation,
		map[string]any{"input": map[string]any{"name": "Concord", "primaryDomain": "localhost"}}))

	// 404 Not Found, including the seed's 404 whose message is "Forbidden" (what the caller may not see
	// reads as not found): a template of another tenant is NOT_FOUND at input.templateId.
	b := newAPIInOtherTenant(t)
	foreign := b.createTemplate(b.key, map[string]any{"name": "Elsewhere"})["template"].(map[string]any)["id"]
	if got := userErrorCodes(t, a.create(a.key, map[string]any{"name": "Concord", "templateId": foreign})); fmt.Sprint(got) !=
		"map[input.templateId:NOT_FOUND]" {
		t.Errorf("another tenant's template: userErrors %v, want NOT_FOUND at input.templateId", got)
	}
	a.assertNothingWritten()

	// 422 Unprocessable Entity ({statusCode, error, message}): every violation at once, as userErrors with
	// the path into the input and a code. The seed's own example sends privacyPolicyUrl "string", which
	// is not a URL; its limits are looser than ours (name <= 1024, organizationSlug <= 256), and its name
	// minimum of 2 is stricter (ours accepts 1 character, as the other seeds do).
	r := a.postAs(xAPIKey, seed000Mutation, map[string]any{"input": map[string]any{
		"name":              strings.Repeat("n", 1025),
		"slug":              strings.Repeat("s", 257),
		"primaryDomain":     "local host",
		"privacyPolicyUrl":  "string",
		"termsOfServiceUrl": "string",
		"contactEmails":     []string{"user@example.com", "not an email"},
		"coupons":           []string{"welcome"},
		"regionTemplate":    "mars",
		"subscription":      map[string]any{"plan": " ", "billingCycle": "MONTHLY"},
	}})
	if r.Status != http.StatusOK || len(r.Errors) != 0 {
		t.Fatalf("invalid input: status %d, %s", r.Status, r.Raw)
	}
	want := map[string]string{
		"input.name": "TOO_LONG", "input.slug": "TOO_LONG", "input.primaryDomain": "INVALID_FORMAT",
		"input.privacyPolicyUrl": "INVALID_FORMAT", "input.termsOfServiceUrl": "INVALID_FORMAT",
		"input.contactEmails.1": "INVALID_FORMAT", "input.coupons.0": "INVALID_FORMAT",
		"input.regionTemplate": "INVALID_VALUE", "input.subscription.plan": "BLANK",
	}
	if got := userErrorCodes(t, r.Data["createOrganization"].(map[string]any)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("userErrors = %v\nwant %v", got, want)
	}
	a.assertNothingWritten()

	// 500 Internal Server Error: INTERNAL_SERVER_ERROR without detail, see TestInternalErrorsAreNotLeaked.

	// The example request, {"name", "primaryDomain": "localhost", "privacyPolicyUrl"}, with every optional
	// field of the seed. "localhost", "127.0.0.1" and "::1" are the seed's only primary domains; ours takes
	// any host name or IP literal (the IP literals: TestPrimaryDomainTaken).
	//   name -> name; organizationSlug -> slug; primaryDomain -> primaryDomain;
	//   privacyPolicyUrl, termsOfServiceUrl, contactEmails, coupons, regionTemplate -> the same names;
	//   subscription -> subscription {plan, billingCycle}; billingEmails (response only there) -> billingEmails;
	//   the default project the response shows (type, mode, sendFromEmail, settings.trackers) -> defaultProject.
	o := createdOrganization(t, a.postAs(xAPIKey, seed000Mutation, map[string]any{"input": map[string]any{
		"name":              "Concord Privacy",
		"slug":              "concord-privacy",
		"primaryDomain":     "localhost",
		"privacyPolicyUrl":  "https://concord.example/privacy",
		"termsOfServiceUrl": "https://concord.example/terms",
		"contactEmails":     []string{"user@example.com", "dpo@concord.example"},
		"billingEmails":     []string{"billing@concord.example"},
		"coupons":           []string{"LAUNCH_2024"},
		"regionTemplate":    "eu",
		"subscription":      map[string]any{"plan": "business", "billingCycle": "MONTHLY"},
		"defaultProject": map[string]any{"name": "Website", "type": "WEBSITE", "mode": "TEST",
			"sendFromEmail": map[string]any{"email": "user@example.com", "name": "Concord"},
			"settings":      map[string]any{"trackers": map[string]any{"deepScan": true, "realTimeScan": false}}},
	}}))

	// The response, field by field.
	//   id (a UUID), name, slug, primaryDomain -> the same names.
	//   createdAt/updatedAt and dateCreated/dateUpdated (epoch) -> createdAt/updatedAt, RFC 3339.
	//   status "active" -> ACTIVE; statusDate -> statusChangedAt; statusFlags.isActive -> isActive.
	//   defaultProjectId -> defaultProject.id; billingEmails, subscription -> the same names.
	//   billingPhoneNumber, billingAddress, features and stripe {customerId, subscriptionId, clientSecret}
	//   have no counterpart: no payment provider is called (CONTRACT.md); phone and headquarters are the
	//   organization's, not billing ones.
	if id, _ := o["id"].(string); len(id) != 36 || strings.Count(id, "-") != 4 {
		t.Errorf("id = %v, want a UUID", o["id"])
	}
	checkFields(t, "organization", o, map[string]any{
		"name": "Concord Privacy", "slug": "concord-privacy", "primaryDomain": "localhost",
		"domains":          "[map[domain:localhost isGenerated:false isPrimary:true] map[domain:concord-privacy.orgs.test isGenerated:true isPrimary:false]]",
		"privacyPolicyUrl": "https://concord.example/privacy", "termsOfServiceUrl": "https://concord.example/terms",
		"contactEmails": "[user@example.com dpo@concord.example]", "coupons": "[LAUNCH_2024]", "regionTemplate": "eu",
		"billingEmails": "[billing@concord.example]", "subscription": "map[billingCycle:MONTHLY plan:business]",
		"status": "ACTIVE", "isActive": true,
	})
	assertRFC3339(t, o, "createdAt", "updatedAt", "statusChangedAt")
	if o["statusChangedAt"] != o["createdAt"] {
		t.Errorf("statusChangedAt = %v, want the creation time %v", o["statusChangedAt"], o["createdAt"])
	}

	// projects[]: the default project alone.
	//   id, name, slug, organizationId, contactEmails -> the same names; contactEmail -> contactEmails[0]
	//   (the organization's by default); default -> isDefault; type "website" -> WEBSITE; mode -> mode;
	//   status "active" -> ACTIVE; statusFlags {isActive, isTest} -> isActive, isTest;
	//   sendFromEmailId, sendFromEmail {id, email, name} -> sendFromEmail {id (the address), email, name};
	//   settings.trackers {deepScan, realTimeScan, lastRealTimeScan} -> the same (null before any scan);
	//   dateCreated/dateUpdated -> createdAt/updatedAt.
	//   organization {id, name, slug, status} -> organization {id, name, slug, status}.
	projects := o["projects"].([]any)
	if len(projects) != 1 {
		t.Fatalf("projects = %v, want the default project alone", projects)
	}
	p := projects[0].(map[string]any)
	if p["id"] != o["defaultProject"].(map[string]any)["id"] {
		t.Errorf("defaultProject.id = %v, want the project's id %v", o["defaultProject"], p["id"])
	}
	checkFields(t, "project", p, map[string]any{
		"organizationId": o["id"], "name": "Website", "slug": "website", "type": "WEBSITE", "mode": "TEST",
		"status": "ACTIVE", "isDefault": true, "isActive": true, "isTest": true,
		"contactEmails": "[user@example.com dpo@concord.example]",
		"sendFromEmail": "map[email:user@example.com id:user@example.com name:Concord]",
		"settings":      "map[trackers:map[deepScan:true lastRealTimeScan:<nil> realTimeScan:false]]",
	})
	assertRFC3339(t, p, "createdAt", "updatedAt")
	back := fmt.Sprint(p["organization"])
	if want := fmt.Sprintf("map[id:%s name:%s slug:%s status:ACTIVE]", o["id"], o["name"], o["slug"]); back != want {
		t.Errorf("project.organization = %s, want %s", back, want)
	}
}

// Seed 001, Partner API (JSON-LD): POST /api/organizations with a bearer token.
const seed001Mutation = `mutation Seed001($input: CreateOrganizationInput!) {
  createOrganization(input: $input) {
    organization {
      __typename id name createdAt updatedAt
      owners { __typename id userId email name role status joinedAt }
      members { __typename id userId email name role status joinedAt }
    }
    userErrors { field message code suggestions }
  }
}`

func TestSeed001_625711ce922319fa(t *testing.T) {
	t.Parallel()
	a := newAPI(t)

	// 403 Forbidden: a bearer token without ORGANIZATION_CREATE.
	reader, _ := a.newKey("reader", domain.PermOrganizationRead)
	assertForbidden(t, a, a.post(reader, seed001Mutation, map[string]any{"input": map[string]any{"name": "Partner Org"}}))

	// 400 Invalid input: a request GraphQL cannot validate (no name) is HTTP 400 with a
	// GRAPHQL_VALIDATION_FAILED error and no data.
	assertInvalidRequest(t, a, a.postWithHeaders(a.key, acceptGraphQLResponse, seed001Mutation, map[string]any{"input": map[string]any{}}))

	// 422 with violations[{propertyPath, message, code, hint}] -> userErrors[{field, message, code,
	// suggestions}]: propertyPath is field joined with dots, hint is suggestions (free slugs, with TAKEN).
	// Every violation comes at once. The seed's body has name alone; a slug is added to show a hint.
	a.create(a.key, map[string]any{"name": "Taken", "slug": "taken"})
	payload := a.create(a.key, map[string]any{"name": " ", "slug": "taken"})
	if got := userErrorCodes(t, payload); fmt.Sprint(got) != "map[input.name:BLANK input.slug:TAKEN]" {
		t.Errorf("userErrors = %v, want BLANK at input.name and TAKEN at input.slug", got)
	}
	for _, e := range userErrors(payload) {
		if e.Code == "TAKEN" && (len(e.Suggestions) == 0 || e.Suggestions[0] != "taken-2") {
			t.Errorf("TAKEN slug: suggestions %v, want taken-2 first", e.Suggestions)
		}
	}
	if n := a.count("organizations"); n != 1 {
		t.Errorf("%d organizations, want only the first", n)
	}

	// The example request: {"name"} with Authorization: Bearer <token>.
	o := createdOrganization(t, a.post(a.key, seed001Mutation, map[string]any{"input": map[string]any{"name": "Partner Org"}}))

	// The 201 response: @type -> __typename; @id and id -> id; name; created_at/updated_at ->
	// createdAt/updatedAt. @context has no counterpart (GraphQL's schema is the context).
	checkFields(t, "organization", o, map[string]any{"__typename": "Organization", "name": "Partner Org"})
	assertRFC3339(t, o, "createdAt", "updatedAt")
	if o["id"] == "" || o["id"] == nil {
		t.Errorf("id = %v", o["id"])
	}
	// owners[] and members[]: the authenticated partner (the key's principal) is the sole owner and member.
	// @type -> __typename "Member"; id -> id (the membership; userId is the partner's user id);
	// email, name -> the same; role -> role OWNER; joined_at -> joinedAt, the creation time.
	for _, list := range []string{"owners", "members"} {
		ms := o[list].([]any)
		if len(ms) != 1 {
			t.Fatalf("%s = %v, want the partner alone", list, ms)
		}
		checkFields(t, list+"[0]", ms[0].(map[string]any), map[string]any{
			"__typename": "Member", "userId": a.actor.UserID, "email": a.actor.Email, "name": a.actor.Name,
			"role": "OWNER", "status": "ACTIVE", "joinedAt": o["createdAt"],
		})
		if id, _ := ms[0].(map[string]any)["id"].(string); id == "" {
			t.Errorf("%s[0].id is empty", list)
		}
	}
	if o["owners"].([]any)[0].(map[string]any)["id"] != o["members"].([]any)[0].(map[string]any)["id"] {
		t.Errorf("the owner and the member differ: %v / %v", o["owners"], o["members"])
	}
}

// Seed 002, organization service v1: POST /organization/v1/organizations, with a primary administrator,
// a template and custom attributes; permission ORGANIZATION_CREATE_ORGANIZATION -> ORGANIZATION_CREATE.
const seed002Mutation = `mutation Seed002($input: CreateOrganizationInput!) {
  createOrganization(input: $input) {
    organization {
      id name description phone timezone locale countryCode languageCode isPrivate regionTemplate
      headquarters { countryCode state city zipCode address1 address2 }
      template { id name }
      customAttributes { key type value }
      primaryAdministrator { id userId email name role status joinedAt emailVerified
        user { firstName lastName description phone locale gender dateOfBirth address { countryCode city } mfa { enabled expirationInMinutes } } }
      owners { userId role status }
      members { userId email role status }
      totalMembers
      details { sequence }
    }
    userErrors { field message code suggestions }
  }
}`

func TestSeed002_7f4a688dd954f5ba(t *testing.T) {
	t.Parallel()
	a, smtpServer := newAPIWithMail(t)
	// _templateId: "an Organization template configured in the settings service" -> a template of the
	// tenant, made with createOrganizationTemplate; its definitions type the custom attributes.
	tpl := a.createTemplate(a.key, map[string]any{
		"name": "Seed 002", "countryCode": "US", "languageCode": "en", "isPrivate": true, "regionTemplate": "us",
		"customAttributeDefinitions": []map[string]any{
			{"key": "employeeCount", "type": "NUMBER", "required": true},
			{"key": "vatId", "type": "STRING"},
			{"key": "onboarded", "type": "BOOLEAN", "defaultValue": false},
			{"key": "contractStart", "type": "DATE"},
		},
	})["template"].(map[string]any)
	templateID := tpl["id"].(string)
	creator, creatorActor := a.newKey("creator", domain.PermOrganizationCreate) // ORGANIZATION_CREATE_ORGANIZATION
	reader, _ := a.newKey("reader", domain.PermOrganizationRead)
	landing := "https://app.example.com/welcome?brand=seed002"

	// The permission: without ORGANIZATION_CREATE, FORBIDDEN, and no administrator nor email.
	assertForbidden(t, a, a.post(reader, seed002Mutation, map[string]any{"input": map[string]any{
		"name": "Initrode", "templateId": templateID, "emailConfirmationLandingPage": landing,
		"primaryAdministrator": map[string]any{"firstName": "Ada", "lastName": "Lovelace", "email": "ada@initrode.test"}}}))

	// An unknown _templateId: NOT_FOUND at input.templateId.
	if got := userErrorCodes(t, a.create(creator, map[string]any{"name": "Initrode", "templateId": "5f2b8c1e-0000-4000-8000-000000000000"})); fmt.Sprint(got) !=
		"map[input.templateId:NOT_FOUND]" {
		t.Errorf("unknown template: userErrors %v", got)
	}

	// The documented rules, every violation at once: emailConfirmationLandingPage mandatory, E.164
	// phones, ISO 3166 country codes, RFC 5322 email, ISO 8601 date of birth, a Java (IANA) time zone, the
	// MFA expiration, and custom attributes typed and required as the template defines.
	payload := a.create(creator, map[string]any{
		"name": "Initrode", "templateId": templateID, "phone": "555-0100", "timezone": "Mars/Olympus",
		"headquarters": map[string]any{"countryCode": "USA"},
		"primaryAdministrator": map[string]any{"firstName": "Ada", "lastName": "Lovelace", "email": "ada@",
			"phone": "0612345678", "dateOfBirth": "12/04/1985", "address": map[string]any{"countryCode": "ZZ"},
			"mfa": map[string]any{"enabled": true, "expirationInMinutes": 0}},
		"customAttributes": []map[string]any{{"key": "vatId", "value": 42}},
	})
	want := map[string]string{
		"input.emailConfirmationLandingPage":                 "REQUIRED",
		"input.phone":                                        "INVALID_FORMAT",
		"input.timezone":                                     "INVALID_VALUE",
		"input.headquarters.countryCode":                     "INVALID_FORMAT",
		"input.primaryAdministrator.email":                   "INVALID_FORMAT",
		"input.primaryAdministrator.phone":                   "INVALID_FORMAT",
		"input.primaryAdministrator.dateOfBirth":             "INVALID_FORMAT",
		"input.primaryAdministrator.address.countryCode":     "INVALID_VALUE",
		"input.primaryAdministrator.mfa.expirationInMinutes": "INVALID_VALUE",
		"input.customAttributes.0.value":                     "INVALID_VALUE",
		"input.customAttributes":                             "REQUIRED",
	}
	if got := userErrorCodes(t, payload); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("userErrors = %v\nwant %v", got, want)
	}
	// _gender outside MALE, FEMALE, UNDISCLOSED is refused by GraphQL itself: HTTP 400, no data.
	assertInvalidRequest(t, a, a.postWithHeaders(creator, acceptGraphQLResponse, seed002Mutation, map[string]any{"input": map[string]any{
		"name": "Initrode", "emailConfirmationLandingPage": landing,
		"primaryAdministrator": map[string]any{"firstName": "Ada", "lastName": "Lovelace", "email": "ada@initrode.test", "gender": "OTHER"}}}))

	// The request, field by field:
	//   _name (documented as an object of first and last name: a slip of the seed, it is the organization's
	//   name) -> name; _description -> description; _headquarters.{countryCode, state, city, zipCode,
	//   address1, address2} -> headquarters {...}; _phone -> phone; _timezone (a Java zone id, which is an
	//   IANA name) -> timezone; _locale -> locale; emailConfirmationLandingPage -> the same;
	//   _primaryAdministrator._name.firstName/lastName -> primaryAdministrator.firstName/lastName;
	//   _description, _email, _phone, _locale, _gender, _dateOfBirth -> primaryAdministrator.{description,
	//   email, phone, locale, gender, dateOfBirth}; _address.* -> primaryAdministrator.address {...};
	//   _mfa.enabled/expirationInMinutes -> primaryAdministrator.mfa {enabled, expirationInMinutes};
	//   _templateId (mandatory there, optional here) -> templateId;
	//   <customAttributes1..N> (typed values beside the other fields) -> customAttributes [{key, value}].
	o := createdOrganization(t, a.post(creator, seed002Mutation, map[string]any{"input": map[string]any{
		"name":        "Initrode",
		"description": "Parent of Initech",
		"headquarters": map[string]any{"countryCode": "US", "state": "TX", "city": "Austin", "zipCode": "78701",
			"address1": "100 Congress Ave", "address2": "Suite 400"},
		"phone":                        "+15125550100",
		"timezone":                     "America/Chicago",
		"locale":                       "en-US",
		"emailConfirmationLandingPage": landing,
		"primaryAdministrator": map[string]any{
			"firstName": "Ada", "lastName": "Lovelace", "description": "Chief technology officer",
			"email": "ada@initrode.test", "phone": "+15125550111", "locale": "en-GB", "gender": "FEMALE",
			"dateOfBirth": "1985-04-12",
			"address": map[string]any{"countryCode": "GB", "state": "England", "city": "London", "zipCode": "W1A 1AA",
				"address1": "1 Baker Street", "address2": "Flat B"},
			"mfa": map[string]any{"enabled": true, "expirationInMinutes": 30},
		},
		"templateId": templateID,
		"customAttributes": []map[string]any{{"key": "employeeCount", "value": 250}, {"key": "vatId", "value": "US-99"},
			{"key": "contractStart", "value": "2026-01-01"}},
	}}))

	checkFields(t, "organization", o, map[string]any{
		"name": "Initrode", "description": "Parent of Initech", "phone": "+15125550100",
		"timezone": "America/Chicago", "locale": "en-US",
		"headquarters": "map[address1:100 Congress Ave address2:Suite 400 city:Austin countryCode:US state:TX zipCode:78701]",
		// The template fills what the request leaves out.
		"countryCode": "US", "languageCode": "en", "isPrivate": true, "regionTemplate": "us",
		"template": fmt.Sprintf("map[id:%s name:Seed 002]", templateID),
		"customAttributes": "[map[key:contractStart type:DATE value:2026-01-01] map[key:employeeCount type:NUMBER value:250] " +
			"map[key:onboarded type:BOOLEAN value:false] map[key:vatId type:STRING value:US-99]]",
		"totalMembers": 2, "details": "map[sequence:1]",
	})
	// "Organization admin will be created and set as the admin for the created organization": an ADMIN
	// member, INVITED until the confirmation; the caller is the OWNER.
	admin := o["primaryAdministrator"].(map[string]any)
	checkFields(t, "primaryAdministrator", admin, map[string]any{"email": "ada@initrode.test", "name": "Ada Lovelace",
		"role": "ADMIN", "status": "INVITED", "joinedAt": nil, "emailVerified": false})
	if got := fmt.Sprint(o["owners"]); got != fmt.Sprintf("[map[role:OWNER status:ACTIVE userId:%s]]", creatorActor.UserID) {
		t.Errorf("owners = %s, want the caller", got)
	}
	if got := fmt.Sprint(o["members"]); !strings.Contains(got, "email:ada@initrode.test role:ADMIN status:INVITED") {
		t.Errorf("members = %s, want the administrator among them", got)
	}
	// The administrator's other fields (_name, _description, _phone, _locale, _gender, _dateOfBirth,
	// _address, _mfa) read back on the member's user.
	u := admin["user"].(map[string]any)
	if got, want := fmt.Sprint(u), "map[address:map[city:London countryCode:GB] dateOfBirth:1985-04-12 "+
		"description:Chief technology officer firstName:Ada gender:FEMALE lastName:Lovelace locale:en-GB "+
		"mfa:map[enabled:true expirationInMinutes:30] phone:+15125550111]"; got != want {
		t.Errorf("administrator's user =\n%s\nwant\n%s", got, want)
	}

	// "Confirmation email with provided landing page will be sent": one email to the administrator, with
	// a link to the landing page carrying a one-time token; confirmEmail(token) makes the member ACTIVE.
	msgs := smtpServer.WaitForMessages(t, 1, 10*time.Second)
	msg, body := textBody(t, msgs[0].Data)
	if len(msgs[0].To) != 1 || msgs[0].To[0] != "ada@initrode.test" || !strings.Contains(msg.Header.Get("Subject"), "Initrode") {
		t.Errorf("email to %v, subject %q", msgs[0].To, msg.Header.Get("Subject"))
	}
	link := tokenInLink.FindString(body)
	token := ""
	if u, err := url.Parse(link); err == nil && u.Query().Get("brand") == "seed002" {
		token = u.Query().Get("token")
	}
	if token == "" {
		t.Fatalf("no link to the landing page with a token in:\n%s", body)
	}
	bare, _ := a.newKey("landing-page-backend") // no permission: the token is the proof
	r := a.post(bare, `mutation($token: String!) { confirmEmail(token: $token) {
  member { id role status joinedAt emailVerified } userErrors { field code } } }`, map[string]any{"token": token})
	m, _ := r.Data["confirmEmail"].(map[string]any)["member"].(map[string]any)
	if m == nil || m["id"] != admin["id"] || m["role"] != "ADMIN" || m["status"] != "ACTIVE" || m["emailVerified"] != true || m["joinedAt"] == nil {
		t.Errorf("confirmEmail = %s", r.Raw)
	}
	if n := len(smtpServer.Messages()); n != 1 {
		t.Errorf("%d emails, want 1 (none for the refused requests)", n)
	}
}

// Seed 003, jframework: POST /api/v1/organizations with Brand-URL and Auth-Key headers.
// Auth-Key -> X-API-Key. Brand-URL has no counterpart: a key belongs to one tenant, which is what the
// brand identifies there, so it is not sent.
const seed003Mutation = `mutation Seed003($input: CreateOrganizationInput!) {
  createOrganization(input: $input) {
    organization {
      id slug name languageCode countryCode avatarUrl isDefault isPrivate isSystem description
      status isActive totalMembers createdBy
      owners { userId name status joinedAt }
    }
    userErrors { field message code suggestions }
  }
}`

func TestSeed003_eedafec9c9ed7aca(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	// The example body: countryCode, languageCode, name, description -> the same names; avatar ->
	// avatarUrl; isPrivate, isDefault -> the same; status "0 - Inactive" -> INACTIVE.
	// description is required there (min 1) and optional here.
	input := map[string]any{
		"countryCode": "US", "languageCode": "en", "name": "Organization Name",
		"description": "Organization Description", "avatarUrl": "https://example.com/avatar.png",
		"isPrivate": true, "isDefault": true, "status": "INACTIVE",
	}

	// 401: no Auth-Key, or an unknown one.
	assertHTTP401(t, a, a.postAs(nil, seed003Mutation, map[string]any{"input": input}))
	assertHTTP401(t, a, a.postAs(map[string]string{"X-API-Key": domain.APIKeyPrefix + "unknown"}, seed003Mutation,
		map[string]any{"input": input}))
	// 403: the key may not create organizations.
	reader, _ := a.newKey("reader", domain.PermOrganizationRead)
	assertForbidden(t, a, a.postAs(map[string]string{"X-API-Key": reader}, seed003Mutation, map[string]any{"input": input}))
	// 429, rate limit exceeded: HTTP 429 with Retry-After and RATE_LIMITED, with and without Redis, is
	// TestRateLimit's (graph/limits_test.go).

	// The body's own rules (name min 1, avatar a URI, the codes), all at once; the seed's status label
	// "0 - Inactive" is not one of ours, GraphQL refuses it: HTTP 400.
	payload := a.create(a.key, map[string]any{"name": "", "avatarUrl": "avatar.png", "countryCode": "us", "languageCode": "english"})
	if got := userErrorCodes(t, payload); fmt.Sprint(got) !=
		"map[input.avatarUrl:INVALID_FORMAT input.countryCode:INVALID_FORMAT input.languageCode:INVALID_FORMAT input.name:BLANK]" {
		t.Errorf("userErrors = %v", got)
	}
	assertInvalidRequest(t, a, a.postAs(map[string]string{"X-API-Key": a.key, "Accept": acceptGraphQLResponse["Accept"]}, seed003Mutation,
		map[string]any{"input": map[string]any{"name": "Organization Name", "status": "0 - Inactive"}}))

	o := createdOrganization(t, a.postAs(map[string]string{"X-API-Key": a.key}, seed003Mutation, map[string]any{"input": input}))

	// The response's data, field by field ({success, statusCode, message, errors} is GraphQL's HTTP 200
	// with data and errors):
	//   id, name, languageCode, countryCode, isDefault, isPrivate, description -> the same names;
	//   avatar -> avatarUrl; isSystem -> isSystem, false for organizations made through the API;
	//   status -> status (the example answers "Active" to a request for "0 - Inactive"; ours keeps what was
	//   asked: INACTIVE, isActive false); totalMembers -> totalMembers, the caller alone;
	//   createdBy ("admin", a user name there) -> createdBy, the caller's user id (their name is
	//   owners[0].name); statusUser "Joined" -> the caller's membership: owners[0].status ACTIVE with
	//   joinedAt set (an invited member is INVITED, without joinedAt).
	//   code -> slug: the organization's second unique key in the tenant, by which it is looked up
	//   (organization(slug:)); ours is derived from the name rather than a 32-digit hex code.
	checkFields(t, "organization", o, map[string]any{
		"name": "Organization Name", "slug": "organization-name", "languageCode": "en", "countryCode": "US",
		"avatarUrl": "https://example.com/avatar.png", "isDefault": true, "isPrivate": true, "isSystem": false,
		"description": "Organization Description", "status": "INACTIVE", "isActive": false, "totalMembers": 1,
		"createdBy": a.actor.UserID,
	})
	owners := o["owners"].([]any)
	if len(owners) != 1 {
		t.Fatalf("owners = %v, want the caller", owners)
	}
	checkFields(t, "owners[0]", owners[0].(map[string]any), map[string]any{"userId": a.actor.UserID, "name": a.actor.Name, "status": "ACTIVE"})
	if owners[0].(map[string]any)["joinedAt"] == nil {
		t.Errorf("owners[0].joinedAt is null, want the creation time")
	}
	r := a.post(a.key, `query($code: String!) { organization(slug: $code) { id } }`, map[string]any{"code": o["slug"]})
	if got, _ := r.Data["organization"].(map[string]any); got == nil || got["id"] != o["id"] {
		t.Errorf("organization(slug: code) = %s, want %v", r.Raw, o["id"])
	}
}

// Seed 004, ZITADEL management API AddOrg: {name} with the x-zitadel-orgid header picking the acting
// organization; the answer is {id, details {sequence, creationDate, changeDate, resourceOwner}}, errors
// are {code, message, details} (gRPC codes) -> GraphQL errors {message, extensions {code, ...}} or userErrors.
const seed004Mutation = `mutation Seed004($input: CreateOrganizationInput!) {
  createOrganization(input: $input) {
    organization {
      id slug createdAt updatedAt primaryDomain
      domains { domain isPrimary isVerified isGenerated }
      details { sequence creationDate changeDate resourceOwner }
    }
    userErrors { field message code suggestions }
  }
}`

func TestSeed004_2ffb6774b606fb4c(t *testing.T) {
	t.Parallel()
	a := newAPI(t)

	// Without the header the resource owner is the caller's tenant (ZITADEL: the caller's organization).
	acting := createdOrganization(t, a.post(a.key, seed004Mutation, map[string]any{"input": map[string]any{"name": "Acting Org"}}))
	if got := acting["details"].(map[string]any)["resourceOwner"]; got != a.actor.TenantID {
		t.Errorf("resourceOwner without X-Organization-ID = %v, want the tenant %s", got, a.actor.TenantID)
	}
	actingID := acting["id"].(string)
	headers := map[string]string{"X-Organization-ID": actingID} // x-zitadel-orgid

	// name "non-empty and <= 200 characters" (InvalidArgument): BLANK, TOO_LONG at input.name.
	for name, code := range map[string]string{"": "BLANK", strings.Repeat("z", 201): "TOO_LONG"} {
		r := a.postWithHeaders(a.key, headers, seed004Mutation, map[string]any{"input": map[string]any{"name": name}})
		if got := userErrorCodes(t, r.Data["createOrganization"].(map[string]any)); fmt.Sprint(got) != "map[input.name:"+code+"]" {
			t.Errorf("name of %d characters: userErrors %v, want %s", len(name), got, code)
		}
	}
	// An acting organization the caller may not act for (PermissionDenied): FORBIDDEN, nothing written.
	outsider, _ := a.newKey("outsider", domain.AllPermissions...)
	r := a.postWithHeaders(outsider, headers, seed004Mutation, map[string]any{"input": map[string]any{"name": "ZITADEL"}})
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" || r.Errors[0].Message == "" || r.Data["createOrganization"] != nil {
		t.Errorf("outsider's x-zitadel-orgid: %s, want one FORBIDDEN error", r.Raw)
	}
	// Unauthenticated: HTTP 401.
	r = a.postAs(map[string]string{"X-Organization-ID": actingID}, seed004Mutation, map[string]any{"input": map[string]any{"name": "ZITADEL"}})
	if r.Status != http.StatusUnauthorized || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "UNAUTHENTICATED" {
		t.Errorf("without a key: status %d, %s", r.Status, r.Raw)
	}
	if n := a.count("organizations"); n != 1 {
		t.Errorf("%d organizations, want the acting one alone", n)
	}

	// The example request: {"name"} with x-zitadel-orgid -> X-Organization-ID.
	o := createdOrganization(t, a.postWithHeaders(a.key, headers, seed004Mutation, map[string]any{"input": map[string]any{"name": "ZITADEL"}}))
	// id -> id. details: sequence -> sequence, the number of events of the organization (1 after the
	// create; the seed's example shows "2", a sequence of its own event store); creationDate ->
	// creationDate, the createdAt; changeDate -> changeDate, the updatedAt (RFC 3339 where the example shows
	// a date); resourceOwner -> resourceOwner, the acting organization.
	if o["id"] == actingID || o["id"] == "" {
		t.Errorf("id = %v", o["id"])
	}
	d := o["details"].(map[string]any)
	checkFields(t, "details", d, map[string]any{"sequence": 1, "creationDate": o["createdAt"], "changeDate": o["updatedAt"],
		"resourceOwner": actingID})
	assertRFC3339(t, d, "creationDate", "changeDate")
	// "Based on the given name a domain will be generated": <slug>.<ORG_DOMAIN_SUFFIX>, primary and
	// verified, as no primaryDomain was given.
	checkFields(t, "organization", o, map[string]any{"slug": "zitadel", "primaryDomain": "zitadel.orgs.test",
		"domains": "[map[domain:zitadel.orgs.test isGenerated:true isPrimary:true isVerified:true]]"})
}
