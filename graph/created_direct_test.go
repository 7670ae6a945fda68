package graph_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"orgs/db/dbtest"
	"orgs/domain"
	"orgs/graph"
	"orgs/realtime"
)

// The direct path of createOrganization (graph/created.go) writes the answer from what the create wrote:
// byte for byte what a read of the organization returns, and what gqlgen writes for the payload.

// servedByDirectCreate is every field of an organization the direct create writes, relations included.
const servedByDirectCreate = `__typename id name slug description avatarUrl countryCode languageCode locale timezone phone
regionTemplate primaryDomain isPrivate isDefault isSystem status statusChangedAt isActive totalMembers createdBy createdAt updatedAt
details { sequence creationDate changeDate resourceOwner }
defaultProject { id organizationId name slug type mode status isDefault isActive isTest createdAt updatedAt }
projects { id name slug type mode isDefault createdAt }
owners { id userId email name role status joinedAt emailVerified }
members { id userId email role status joinedAt }
domains { id domain isPrimary isVerified isGenerated status verifiedAt verification { dnsRecordName dnsRecordValue httpUrl httpBody expiresAt } lastFailure }
customAttributes { key type value }
template { id name countryCode customAttributeDefinitions { key type required defaultValue } }
membersConnection(first: 5) { totalCount edges { cursor node { id email } } pageInfo { hasNextPage endCursor } }
projectsConnection(first: 2) { totalCount nodes { id name } pageInfo { hasNextPage } }`

const createServedByDirect = `mutation($input: CreateOrganizationInput!) { created: createOrganization(input: $input) {
  __typename clientMutationId organization { ` + servedByDirectCreate + ` } userErrors { __typename field code message suggestions } } }`

const readServedByDirect = `query($id: ID!) { organization(id: $id) { ` + servedByDirectCreate + ` } }`

// directCreates is the number of creates the direct path answered ("answered") or ran and left to gqlgen
// ("fallback").
func directCreates(reg *prometheus.Registry, outcome string) float64 {
	return outcomeCount(reg, "orgs_graphql_direct_creates_total", outcome)
}

func TestDirectCreateAnswersAsARead(t *testing.T) {
	t.Parallel()
	p := newDirectPair(t)
	a := p.direct
	tpl := a.createTemplate(a.key, map[string]any{"name": "Direct", "countryCode": "FR",
		"customAttributeDefinitions": []map[string]any{{"key": "n", "type": "NUMBER", "required": true},
			{"key": "z", "type": "STRING"}, {"key": "big", "type": "NUMBER"}, {"key": "obj", "type": "JSON"}, {"key": "flag", "type": "BOOLEAN"}}})["template"].(map[string]any)["id"]
	for _, tc := range []struct {
		name  string
		input map[string]any
	}{
		{"minimal", map[string]any{"name": "Direct minimal"}},
		{"every relation", fullInput("Direct everything", tpl)},
		{"strings to escape", map[string]any{"name": `Quote "Ünïcode" <b>&</b>`, "description": "Line one\nline\ttwo \\ \u2028 \x01",
			"clientMutationId": "mutation \"1\"", "projects": []map[string]any{{"name": `Tab\there`}}}},
		{"default", map[string]any{"name": "Direct default", "isDefault": true}},
		{"with an idempotency key", map[string]any{"name": "Direct keyed", "idempotencyKey": "direct-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := directCreates(p.reg, "answered")
			r := a.post(a.key, createServedByDirect, map[string]any{"input": tc.input})
			if got := directCreates(p.reg, "answered") - before; got != 1 {
				t.Fatalf("the direct path answered %v creates, want 1: %.500s", got, r.Raw)
			}
			created := organizationJSON(t, r.Raw, "created", "organization")
			var id string
			if o, _ := r.Data["created"].(map[string]any)["organization"].(map[string]any); o != nil {
				id, _ = o["id"].(string)
			}
			read := organizationJSON(t, a.post(a.key, readServedByDirect, map[string]any{"id": id}).Raw, "organization")
			if created != read {
				t.Errorf("the create answered\n%s\na read answers\n%s", created, read)
			}
			if cid := tc.input["clientMutationId"]; cid != nil && !strings.Contains(r.Raw, `"clientMutationId":"mutation \"1\""`) {
				t.Errorf("clientMutationId: %s", r.Raw)
			}
		})
	}
	// The key's replay: the create is not run again, and its answer (read back) is gqlgen's.
	before := directCreates(p.reg, "fallback")
	r := a.post(a.key, createServedByDirect, map[string]any{"input": map[string]any{"name": "Direct keyed", "idempotencyKey": "direct-1"}})
	if len(r.Errors) != 0 || directCreates(p.reg, "fallback")-before != 1 {
		t.Errorf("replay: fallbacks %v, %s", directCreates(p.reg, "fallback")-before, r.Raw)
	}
	if n := countOrganizations(t, a, "Direct keyed"); n != 1 {
		t.Errorf("%d organizations named Direct keyed, want 1", n)
	}
}

// countOrganizations counts a's organizations named name.
func countOrganizations(t *testing.T, a *api, name string) int {
	t.Helper()
	var n int
	if err := a.store.DB().Get(&n, `SELECT count(*) FROM organizations WHERE tenant_id = $1 AND name = $2`, a.actor.TenantID, name); err != nil {
		t.Fatal(err)
	}
	return n
}

// Payloads without an organization are the same bytes from both paths: violations, validateOnly, a
// taken slug with its suggestions.
func TestDirectCreatePayloadsAsGqlgen(t *testing.T) {
	t.Parallel()
	p := newDirectPair(t)
	p.direct.createOK(map[string]any{"name": "Taken", "slug": "direct-taken"})
	for _, input := range []map[string]any{
		{"name": "", "slug": "-bad-", "countryCode": "XX", "clientMutationId": "c1"},
		{"name": "Only validated", "validateOnly": true},
		{"name": "Taken", "slug": "direct-taken"},
	} {
		before := directCreates(p.reg, "answered")
		r := p.compare(t, createServedByDirect, map[string]any{"input": input})
		if directCreates(p.reg, "answered")-before != 1 {
			t.Errorf("%v: the direct path did not answer: %s", input, r.Raw)
		}
	}
	if n := directCreates(p.gqlgenReg, "answered") + directCreates(p.gqlgenReg, "fallback"); n != 0 {
		t.Errorf("the gqlgen-only handler ran %v creates directly", n)
	}
}

// What the direct path does not know is gqlgen's, before anything runs; what the create did not write
// (the members of an organization with a primary administrator) is gqlgen's to answer from the create the
// direct path ran, which runs once.
func TestDirectCreateLeavesTheRestToGqlgen(t *testing.T) {
	t.Parallel()
	p := newDirectPair(t)
	a := p.direct
	unknown := []string{
		`mutation { createOrganization(input: {name: "Direct hq"}) { organization { id headquarters { city } } } }`,
		`mutation { a: createOrganization(input: {name: "Direct a"}) { organization { id } } b: createOrganization(input: {name: "Direct b"}) { organization { id } } }`,
		`mutation { createOrganization(input: {name: "Direct p"}) { organization { id owners { user { id } } } } }`,
	}
	for _, q := range unknown {
		r := a.post(a.key, q, nil)
		if len(r.Errors) != 0 {
			t.Errorf("%s: %s", q, r.Raw)
		}
	}
	if n := directCreates(p.reg, "answered") + directCreates(p.reg, "fallback"); n != 0 {
		t.Errorf("the direct path ran %v of creates it does not know", n)
	}

	input := map[string]any{"name": "Direct administered", "emailConfirmationLandingPage": "https://app.example.com/c",
		"primaryAdministrator": map[string]any{"firstName": "Ada", "lastName": "L", "email": "ada@direct.example"}}
	r := a.post(a.key, createServedByDirect, map[string]any{"input": input})
	if directCreates(p.reg, "fallback") != 1 || directCreates(p.reg, "answered") != 0 {
		t.Errorf("administered: fallback %v, answered %v; want 1 and 0", directCreates(p.reg, "fallback"), directCreates(p.reg, "answered"))
	}
	created := organizationJSON(t, r.Raw, "created", "organization")
	id := r.Data["created"].(map[string]any)["organization"].(map[string]any)["id"]
	if read := organizationJSON(t, a.post(a.key, readServedByDirect, map[string]any{"id": id}).Raw, "organization"); created != read {
		t.Errorf("the create answered\n%s\na read answers\n%s", created, read)
	}
	if n := countOrganizations(t, a, "Direct administered"); n != 1 {
		t.Errorf("%d organizations, want 1", n)
	}
}

// A panic of the direct path after the create ran: gqlgen answers from that create, which is not run
// again.
func TestDirectCreatePanic(t *testing.T) {
	t.Parallel()
	p := newDirectPair(t)
	a := p.direct
	tenant := a.actor.TenantID
	graph.SetCreatedHook(t, func(ctx context.Context) {
		if ac := domain.ActorFrom(ctx); ac != nil && ac.TenantID == tenant {
			panic("the direct create's test hook")
		}
	})
	r := a.post(a.key, createServedByDirect, map[string]any{"input": map[string]any{"name": "Direct panic"}})
	if len(r.Errors) != 0 || r.Data["created"].(map[string]any)["organization"] == nil {
		t.Fatalf("after a panic: %s", r.Raw)
	}
	if directCreates(p.reg, "fallback") != 1 || directCreates(p.reg, "answered") != 0 {
		t.Errorf("fallback %v, answered %v; want 1 and 0", directCreates(p.reg, "fallback"), directCreates(p.reg, "answered"))
	}
	if n := countOrganizations(t, a, "Direct panic"); n != 1 {
		t.Errorf("%d organizations, want 1", n)
	}
	if !strings.Contains(a.logs.String(), "the direct create's test hook") {
		t.Errorf("the panic was not logged: %s", a.logs.String())
	}
}

// Over a WebSocket, the transport asks for the operation's responses until it gets none: the create the
// direct path ran, and left to gqlgen to answer, still runs once.
func TestDirectCreateOverWebSocket(t *testing.T) {
	t.Parallel()
	a, _ := newRealtimeAPI(t, realtime.Options{})
	w := connect(t, a.url, a.key)
	for i, input := range []map[string]any{
		{"name": "Socket direct"},
		{"name": "Socket administered", "emailConfirmationLandingPage": "https://app.example.com/c",
			"primaryAdministrator": map[string]any{"firstName": "Ada", "lastName": "L", "email": "ada@socket.example"}},
	} {
		id := fmt.Sprint(i)
		w.subscribeTo(id, createServedByDirect, map[string]any{"input": input})
		if m := w.read(); m.Type != "next" || m.ID != id || strings.Contains(string(m.Payload), `"errors"`) {
			t.Fatalf("%s: %s %s", input["name"], m.Type, m.Payload)
		}
		if m := w.read(); m.Type != "complete" || m.ID != id {
			t.Fatalf("%s: want complete, got %s %s", input["name"], m.Type, m.Payload)
		}
		if n := countOrganizations(t, a, input["name"].(string)); n != 1 {
			t.Errorf("%s: %d organizations, want 1", input["name"], n)
		}
	}
	// A query with relations, which gqlgen resolves through the loaders, over the same socket.
	var id string
	if err := a.store.DB().Get(&id, `SELECT id FROM organizations WHERE tenant_id = $1 AND name = 'Socket direct'`, a.actor.TenantID); err != nil {
		t.Fatal(err)
	}
	w.subscribeTo("q", `query($id: ID!) { organization(id: $id) { name projects { name } owners { role } } }`, map[string]any{"id": id})
	want := `{"data":{"organization":{"name":"Socket direct","projects":[{"name":"Default project"}],"owners":[{"role":"OWNER"}]}}}`
	if m := w.read(); m.Type != "next" || string(m.Payload) != want {
		t.Errorf("query over the socket: %s %s, want %s", m.Type, m.Payload, want)
	}
}

// A create the direct path answers sends as many statements as gqlgen's answer (countedCreates), and
// reads nothing back.
func TestDirectCreateReadsNothingBack(t *testing.T) {
	a, reg := newMeteredAPI(t, countingStore(t), "direct statements")
	for _, tc := range countedCreates("Direct") {
		t.Run(tc.name, func(t *testing.T) {
			a.createOK(map[string]any{"name": "Warm " + tc.name}) // the key authenticated and remembered
			answered, before := directCreates(reg, "answered"), dbtest.Statements.Load()
			r := a.post(a.key, createServedByDirect, map[string]any{"input": tc.input})
			if n := dbtest.Statements.Load() - before; n != tc.want {
				t.Errorf("%d statements, want %d: %.300s", n, tc.want, r.Raw)
			}
			if directCreates(reg, "answered") != answered+1 {
				t.Errorf("the direct path did not answer: %.300s", r.Raw)
			}
		})
	}
}
