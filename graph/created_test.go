package graph_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"orgs/db"
	"orgs/db/dbtest"
)

// The answer to createOrganization comes from what the create wrote: no statement reads it back, and it
// is byte for byte what a read of the organization returns.

// everyRelation selects every field of an organization that a create writes, relations included.
const everyRelation = `id name slug description avatarUrl countryCode languageCode locale timezone phone
headquarters { countryCode city address1 } contactEmails billingEmails privacyPolicyUrl termsOfServiceUrl coupons
regionTemplate subscription { plan billingCycle } template { id name customAttributeDefinitions { key type required } createdAt }
customAttributes { key type value }
primaryAdministrator { id email status }
primaryDomain domains { id domain isPrimary isVerified isGenerated status verifiedAt
  verification { dnsRecordName dnsRecordValue httpUrl httpBody expiresAt } lastFailure }
isPrivate isDefault isSystem status statusChangedAt isActive
defaultProject { id organizationId name slug type mode status isDefault isActive isTest contactEmails
  sendFromEmail { email name } settings { trackers { deepScan realTimeScan lastRealTimeScan } } createdAt updatedAt }
projects { id name slug type mode isDefault contactEmails sendFromEmail { email name } createdAt organization { id slug } }
owners { id userId email name role status joinedAt emailVerified user { id email name firstName lastName mfa { enabled } } }
members { id userId email name role status joinedAt emailVerified }
membersConnection(first: 5) { totalCount edges { cursor node { id email } } pageInfo { hasNextPage endCursor } }
projectsConnection { totalCount nodes { id name } }
totalMembers createdBy createdAt updatedAt details { sequence creationDate changeDate resourceOwner } removedAt`

const createEveryRelation = `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) {
  organization { ` + everyRelation + ` } userErrors { field code message } } }`

const readEveryRelation = `query($id: ID!) { organization(id: $id) { ` + everyRelation + ` } }`

// fullInput is a create with every relation: projects, attributes of every kind, a primary domain.
func fullInput(name string, template any) map[string]any {
	in := map[string]any{
		"name": name, "description": "Everything", "countryCode": "FR", "languageCode": "fr", "locale": "fr-FR",
		"timezone": "Europe/Paris", "phone": "+33123456789", "contactEmails": []string{"b@x.example", "a@x.example"},
		"headquarters": map[string]any{"countryCode": "FR", "city": "Paris", "address1": "1 rue"},
		"coupons":      []string{"WELCOME"}, "subscription": map[string]any{"plan": "pro", "billingCycle": "YEARLY"},
		"primaryDomain": fmt.Sprintf("%s.written.example", time.Now().Format("150405.000000000")),
		"defaultProject": map[string]any{"name": "Main", "contactEmails": []string{"ops@x.example"},
			"sendFromEmail": map[string]any{"email": "no-reply@x.example", "name": "X"}},
		"projects": []map[string]any{{"name": "Second", "mode": "TEST"}, {"name": "Third"}},
		"customAttributes": []map[string]any{
			{"key": "z", "value": "last"}, {"key": "n", "value": json.Number("1e2")}, {"key": "big", "value": json.Number("123456789012345678901234567890.10")},
			{"key": "obj", "value": map[string]any{"bb": []any{1.50, true, nil}, "a": map[string]any{"y": 1, "x": "é"}}},
			{"key": "flag", "value": false},
		},
	}
	if template != nil {
		in["templateId"] = template
	}
	return in
}

// organizationJSON returns the organization of an answer as the server wrote it.
func organizationJSON(t *testing.T, raw string, path ...string) string {
	t.Helper()
	var v struct {
		Data   map[string]json.RawMessage `json:"data"`
		Errors []any                      `json:"errors"`
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil || len(v.Errors) > 0 {
		t.Fatalf("answer %.500s: %v", raw, err)
	}
	cur := v.Data[path[0]]
	for _, p := range path[1:] {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(cur, &m); err != nil {
			t.Fatalf("answer %.500s: %v", raw, err)
		}
		cur = m[p]
	}
	return string(cur)
}

// createdAndRead creates input with every relation selected, then reads the organization back with the
// same selection, and fails unless both answers are the same bytes. It returns the created answer.
func createdAndRead(t *testing.T, a *api, key string, input map[string]any) string {
	t.Helper()
	r := a.post(key, createEveryRelation, map[string]any{"input": input})
	if p, _ := r.Data["createOrganization"].(map[string]any); p == nil || len(userErrors(p)) > 0 {
		t.Fatalf("create: %.1000s", r.Raw)
	}
	created := organizationJSON(t, r.Raw, "createOrganization", "organization")
	var o struct{ ID string }
	if err := json.Unmarshal([]byte(created), &o); err != nil {
		t.Fatal(err)
	}
	read := organizationJSON(t, a.post(key, readEveryRelation, map[string]any{"id": o.ID}).Raw, "organization")
	if created != read {
		t.Errorf("the create answered\n%s\na read answers\n%s", created, read)
	}
	return created
}

func TestCreatedAnswerIsWhatAReadReturns(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tpl := a.createTemplate(a.key, map[string]any{"name": "Written", "countryCode": "FR",
		"customAttributeDefinitions": []map[string]any{{"key": "n", "type": "NUMBER", "required": true},
			{"key": "z", "type": "STRING"}, {"key": "big", "type": "NUMBER"}, {"key": "obj", "type": "JSON"}, {"key": "flag", "type": "BOOLEAN"}}})["template"].(map[string]any)["id"]
	for _, tc := range []struct {
		name  string
		input map[string]any
	}{
		{"minimal", map[string]any{"name": "Just a name"}},
		{"every relation", fullInput("Everything", tpl)},
		{"default, in a transaction", map[string]any{"name": "The default", "isDefault": true, "projects": []map[string]any{{"name": "P"}}}},
		{"with an administrator", map[string]any{"name": "Administered", "emailConfirmationLandingPage": "https://app.example.com/c",
			"primaryAdministrator": map[string]any{"firstName": "Ada", "lastName": "L", "email": "ada@written.example"}}},
		{"with an idempotency key", map[string]any{"name": "Keyed", "idempotencyKey": "written-1", "customAttributes": []map[string]any{{"key": "k", "value": []any{1, 2}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			createdAndRead(t, a, a.key, tc.input)
		})
	}
}

// countedCreate is a create whose statements a test counts, and how many it sends.
type countedCreate struct {
	name  string
	input map[string]any
	want  int64
}

// countedCreates are the creates both answering paths are counted on, their names prefixed: a create
// whose answer selects every relation and a minimal one send the create's one statement; with an
// idempotency key, besides: the key's advisory lock and its release (held on a connection of its own,
// so that it dies with a crashed request), the key's claim, and its mark in the create's transaction.
func countedCreates(prefix string) []countedCreate {
	return []countedCreate{
		{"every relation", fullInput(prefix+" counted", nil), 1},
		{"minimal", map[string]any{"name": prefix + " counted minimal"}, 1},
		{"with an idempotency key", map[string]any{"name": prefix + " counted keyed", "idempotencyKey": prefix + "-counted"}, 5},
	}
}

// countingStore is a store of the package's database whose statements dbtest.Statements counts, and
// which looks up no key between counts, however slow the run.
func countingStore(t *testing.T) *db.Store {
	return dbtest.Open(t, packageURL, db.Options{Driver: dbtest.CountingDriver, AuthCacheTTL: time.Hour, LastUsedFlushInterval: time.Hour})
}

// TestCreatedAnswerReadsNothingBack counts the statements of gqlgen's answer to a create (countedCreates).
func TestCreatedAnswerReadsNothingBack(t *testing.T) {
	a := newAPIFor(t, countingStore(t), "written")
	for _, tc := range countedCreates("Written") {
		t.Run(tc.name, func(t *testing.T) {
			a.createOK(map[string]any{"name": "Warm " + tc.name}) // the key authenticated and remembered
			before := dbtest.Statements.Load()
			created := createdAndRead(t, a, a.key, tc.input)
			if n := dbtest.Statements.Load() - before - readStatements(t, a); n != tc.want {
				t.Errorf("%d statements for the create, want %d: %.300s", n, tc.want, created)
			}
		})
	}
}

// readStatements counts the statements of the read createdAndRead makes, by making it again.
func readStatements(t *testing.T, a *api) int64 {
	t.Helper()
	var id string
	if err := a.store.DB().Get(&id, `SELECT id FROM organizations WHERE tenant_id = $1 ORDER BY created_at DESC LIMIT 1`, a.actor.TenantID); err != nil {
		t.Fatal(err)
	}
	before := dbtest.Statements.Load()
	if r := a.post(a.key, readEveryRelation, map[string]any{"id": id}); len(r.Errors) > 0 {
		t.Fatalf("read: %s", r.Raw)
	}
	return dbtest.Statements.Load() - before
}
