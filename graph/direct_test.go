package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"

	"orgs/db"
	"orgs/db/dbtest"
	"orgs/domain"
	"orgs/graph"
)

// The direct path of organization lists (graph/direct.go) must answer exactly as gqlgen does. These tests
// send every query twice over HTTP, to the handler as the server builds it and to one that executes
// everything with gqlgen (GqlgenOnly), on the same tenant, and compare the bodies byte for byte; the
// metrics tell which path answered.

type directPair struct {
	direct, gqlgen *api
	reg            *prometheus.Registry
	// gqlgenReg is the metrics of the gqlgen-only handler: its direct path must never answer.
	gqlgenReg *prometheus.Registry
}

func newDirectPair(t *testing.T) *directPair {
	return newDirectPairOn(t, store, "tenant "+t.Name())
}

// newDirectPairOn serves the direct handler over s and the gqlgen one over the package's store, both for
// tenant.
func newDirectPairOn(t *testing.T, s *db.Store, tenant string) *directPair {
	t.Helper()
	reg := prometheus.NewRegistry()
	opt := graph.DefaultHandlerOptions
	opt.Metrics = graph.NewMetrics(reg)
	p := &directPair{direct: newAPIWith(t, s, tenant, opt), reg: reg, gqlgenReg: prometheus.NewRegistry()}
	opt.GqlgenOnly, opt.Metrics = true, graph.NewMetrics(p.gqlgenReg)
	p.gqlgen = newAPIWith(t, store, tenant, opt)
	return p
}

// directCount is the number of operations the direct path answered ("answered") or handed back after
// planning them ("fallback").
func (p *directPair) directCount(outcome string) float64 { return directCount(p.reg, outcome) }

func directCount(reg *prometheus.Registry, outcome string) float64 {
	return outcomeCount(reg, "orgs_graphql_direct_reads_total", outcome)
}

// outcomeCount is the value of the counter name with the label outcome in reg.
func outcomeCount(reg *prometheus.Registry, name, outcome string) float64 {
	return counterValue(reg, name, "outcome", outcome)
}

// counterValue is the value of the counter name in reg that has every label of labels (name, value
// pairs; none for a counter without labels), or 0 when there is none yet.
func counterValue(reg *prometheus.Registry, name string, labels ...string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			has := map[string]string{}
			for _, l := range m.GetLabel() {
				has[l.GetName()] = l.GetValue()
			}
			matches := true
			for i := 0; i+1 < len(labels); i += 2 {
				matches = matches && has[labels[i]] == labels[i+1]
			}
			if matches {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// compare sends query to both handlers with the key of each and fails unless the answers are the same
// bytes with the same status. It returns the direct handler's answer.
func (p *directPair) compare(t *testing.T, query string, vars map[string]any) response {
	t.Helper()
	d := p.direct.post(p.direct.key, query, vars)
	g := p.gqlgen.post(p.gqlgen.key, query, vars)
	if d.Status != g.Status || d.Raw != g.Raw {
		t.Fatalf("direct path and gqlgen differ for\n%s\ndirect (%d): %s\ngqlgen (%d): %s", query, d.Status, d.Raw, g.Status, g.Raw)
	}
	if n := directCount(p.gqlgenReg, "answered"); n != 0 {
		t.Fatalf("the gqlgen-only handler answered %v lists directly", n)
	}
	return d
}

// seedDirect creates organizations that exercise every field the direct path writes: optional fields
// set and not, strings to escape, several projects of every type and mode, invited administrators.
func seedDirect(t *testing.T, a *api) {
	t.Helper()
	a.createOK(map[string]any{"name": "Plain"})
	a.createOK(map[string]any{"name": `Back\slash`, "projects": []map[string]any{{"name": `Tab\there`}}, "primaryDomain": "verified.direct.example"})
	a.createOK(map[string]any{
		"name": `Quote "Ünïcode" <b>&</b>`, "description": "Line one\nline\ttwo \\ \"three\" \u2028 \x01 <script>",
		"avatarUrl": "https://cdn.example.com/a.png", "countryCode": "CH", "languageCode": "de", "locale": "de-CH",
		"timezone": "Europe/Zurich", "phone": "+41446681800", "regionTemplate": "eu", "isPrivate": true,
		"defaultProject": map[string]any{"name": "Main \"site\"", "type": "WEBSITE", "mode": "TEST"},
		"projects": []map[string]any{{"name": "iOS app", "type": "MOBILE_APP"}, {"name": "API", "type": "BACKEND", "mode": "LIVE"},
			{"name": "Other", "type": "OTHER"}},
		"emailConfirmationLandingPage": "https://app.example.com/confirm",
		"primaryAdministrator":         map[string]any{"email": "admin@direct.example", "firstName": "Ada", "lastName": "Lovelace"},
		"primaryDomain":                "quote.direct.example",
		"customAttributes": attrs("billing", map[string]any{"iban": "FR76", "vat": 20.5, "html": "<b>&</b>", "z": nil, "a": []any{1, true}},
			"seats", 5, "tier", "gold \"plus\"", "flag", true, "ratio", 0.1, "empty", map[string]any{}),
	})
	// A failed verification: a reason to write.
	if _, err := a.store.DB().ExecContext(context.Background(), `UPDATE organization_domains SET status = 'FAILED',
	  last_failure = 'no TXT record "found"' WHERE tenant_id = $1 AND domain = 'quote.direct.example'`, a.actor.TenantID); err != nil {
		t.Fatal(err)
	}
	// A verified domain: a time of verification, and nothing left to publish.
	if _, err := a.store.DB().ExecContext(context.Background(), `UPDATE organization_domains SET status = 'VERIFIED',
	  is_verified = true, verified_at = now(), token_expires_at = NULL WHERE tenant_id = $1 AND domain = 'verified.direct.example'`, a.actor.TenantID); err != nil {
		t.Fatal(err)
	}
	// Two of them made from templates: one with every field, one with a name alone.
	templates := []any{nil, nil}
	for i, input := range []map[string]any{{"name": "Full \"template\"", "description": "All <set>", "countryCode": "FR",
		"languageCode": "fr", "locale": "fr-FR", "timezone": "Europe/Paris", "isPrivate": false, "regionTemplate": "eu",
		"defaultProject": map[string]any{"name": "Shop", "type": "WEBSITE", "mode": "TEST", "contactEmails": []string{"a@direct.example"}},
		"customAttributeDefinitions": []map[string]any{{"key": "seats", "type": "NUMBER", "defaultValue": 5},
			{"key": "tags", "type": "JSON", "defaultValue": map[string]any{"b": []any{1, "<x>"}}}, {"key": "note", "type": "STRING"}}},
		{"name": "Bare"}} {
		payload := a.createTemplate(a.key, input)
		if errs := userErrors(payload); len(errs) != 0 {
			t.Fatalf("template: %+v", errs)
		}
		templates[i] = payload["template"].(map[string]any)["id"]
	}
	for i := range 7 {
		input := map[string]any{"name": fmt.Sprintf("Org %02d", i), "countryCode": []string{"FR", "DE"}[i%2],
			"projects": []map[string]any{{"name": "Extra"}}}
		if i < len(templates) {
			input["templateId"] = templates[i]
		}
		a.createOK(input)
	}
}

func TestDirectPathAnswersAsGqlgen(t *testing.T) {
	t.Parallel()
	p := newDirectPair(t)
	seedDirect(t, p.direct)

	first := p.compare(t, `{ organizations(first: 3) { pageInfo { endCursor } } }`, nil)
	after := first.Data["organizations"].(map[string]any)["pageInfo"].(map[string]any)["endCursor"].(string)

	cases := []struct {
		name, query string
		vars        map[string]any
	}{
		{"the benchmark's list", `{ organizations(first: 50) { edges { node { id name slug defaultProject { id name } projects { id name } owners { id email } } } } }`, nil},
		{"every field", `{ __typename organizations(first: 10) { ` + selectServed(graph.DirectFields(), "OrganizationConnection") + ` } }`, nil},
		{"aliases, duplicates and fragments", `query { a: organizations(first: 2) { edges { c: cursor node { ...O ... on Organization { slug n: name } } } }
  b: organizations(last: 2, orderBy: {field: NAME, direction: DESC}) { total: totalCount nodes { id ...O name } } }
fragment O on Organization { name id owners { e: email ... on Member { role } } }`, nil},
		{"directives with variables", `query($yes: Boolean!, $no: Boolean!) { organizations(first: 5) {
  totalCount @include(if: $no) pageInfo @skip(if: $no) { hasNextPage }
  nodes { id name @include(if: $yes) slug @skip(if: $yes) projects @include(if: $yes) { id } members @include(if: $no) { id } } } }`,
			map[string]any{"yes": true, "no": false}},
		{"after a cursor", `query($after: String) { organizations(first: 3, after: $after) { pageInfo { hasNextPage hasPreviousPage startCursor } edges { cursor node { name } } } }`,
			map[string]any{"after": after}},
		{"backward before a cursor", `query($before: String) { organizations(last: 2, before: $before) { pageInfo { hasNextPage hasPreviousPage } nodes { name } } }`,
			map[string]any{"before": after}},
		{"by name, descending", `{ organizations(first: 4, orderBy: {field: NAME, direction: DESC}) { edges { cursor node { name } } } }`, nil},
		{"by total members", `{ organizations(first: 4, orderBy: {field: TOTAL_MEMBERS, direction: DESC}) { edges { cursor node { name totalMembers } } } }`, nil},
		{"filters", `query($f: OrganizationFilter) { organizations(first: 10, filter: $f) { totalCount nodes { name countryCode } } }`,
			map[string]any{"f": map[string]any{"countryCode": "FR", "search": "org", "status": "ACTIVE", "isPrivate": false}}},
		{"nothing matches", `{ organizations(filter: {search: "no such organization"}) { totalCount pageInfo { startCursor endCursor hasNextPage } edges { cursor } nodes { id } } }`, nil},
		{"the default page", `{ organizations { nodes { name owners { email } } } }`, nil},
		{"connections of relations", `{ organizations(first: 50) { nodes { id
  membersConnection(first: 1) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { email role status } } }
  owners: membersConnection(role: OWNER) { totalCount nodes { id } }
  invited: membersConnection(status: INVITED, role: ADMIN) { totalCount nodes { id email } }
  projectsConnection(first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id name isDefault } } nodes { type } } } } }`, nil},
		{"a relation's cursors, no id selected", `{ organizations(first: 50) { nodes { name
  membersConnection(first: 1) { pageInfo { endCursor } edges { cursor node { email } } } } } }`, nil},
		{"domains and custom attributes", `{ organizations(first: 50) { nodes { id domains { domain isPrimary status verification { expiresAt } }
  customAttributes { key value } } } }`, nil},
		{"every field of domains", `{ organizations(first: 50) { nodes { domains { id domain isPrimary isVerified isGenerated status verifiedAt lastFailure
  verification { dnsRecordName dnsRecordValue httpUrl httpBody expiresAt } __typename } } } }`, nil},
		{"a domain's verification alone", `{ organizations(first: 50) { nodes { domains { verification { httpUrl } } } } }`, nil},
	}
	for _, c := range cases {
		before := p.directCount("answered")
		r := p.compare(t, c.query, c.vars)
		if len(r.Errors) != 0 || r.Data["organizations"] == nil && r.Data["a"] == nil {
			t.Errorf("%s: %s", c.name, r.Raw)
		}
		if got := p.directCount("answered") - before; got != 1 {
			t.Errorf("%s: the direct path answered %v times, want once", c.name, got)
		}
	}
	if n := p.directCount("fallback"); n != 0 {
		t.Errorf("%v fallbacks", n)
	}

	// The seeds reach what is written: a verification and its failure, JSON values compact as the scalar's
	// marshaler writes them.
	r := p.compare(t, `{ organizations(first: 50) { nodes { domains { lastFailure verification { httpBody } } customAttributes { key value }
  template { name defaultProject { contactEmails } customAttributeDefinitions { defaultValue } } } } }`, nil)
	for _, want := range []string{`"template":null`, `"template":{"name":"Bare","defaultProject":null,"customAttributeDefinitions":[]}`,
		`"defaultProject":{"contactEmails":["a@direct.example"]}`, `{"defaultValue":{"b":[1,"\u003cx\u003e"]}}`, `"lastFailure":"no TXT record \"found\"","verification":{"httpBody":"`, `"verification":null`,
		`"value":5}`, `"value":{"a":[1,true],"html":"\u003cb\u003e\u0026\u003c/b\u003e","iban":"FR76","vat":20.5,"z":null}}`} {
		if !strings.Contains(r.Raw, want) {
			t.Errorf("no %q in %s", want, r.Raw)
		}
	}
}

func TestDirectPathLeavesTheRestToGqlgen(t *testing.T) {
	t.Parallel()
	p := newDirectPair(t)
	seedDirect(t, p.direct)
	readOnly, _ := p.direct.newKey("reader", domain.PermOrganizationRead)
	noRead, _ := p.direct.newKey("no read", domain.PermOrganizationCreate)

	// Not for the direct path: answered by gqlgen alone, identically.
	for _, q := range []string{
		`{ organizations(first: 2) { nodes { id headquarters { city } } } }`,
		`{ organizations(first: 2) { nodes { id template { name } domains { domain } subscription { plan } } } }`,
		`{ organizations(first: 2) { nodes { projects { id organization { slug } } } } }`,
		`{ organizations(first: 2) { nodes { membersConnection(first: 1) { totalCount nodes { user { id } } } } } }`,
		`{ organizations(first: 1) { nodes { projectsConnection(first: 101) { totalCount } } } }`, // one error: gqlgen orders several as its goroutines end
		`{ organizations(first: 1) { nodes { membersConnection(after: "not a cursor") { totalCount } } } }`,
		`{ organizationTemplates { id } organizations(first: 1) { totalCount } }`,
		`{ organizations(first: 101) { totalCount } }`,
		`{ organizations(first: 1, after: "not a cursor") { totalCount } }`,
		`{ organizations(first: 1, last: 1) { totalCount } }`,
		`{ organizations(first: 1) { nodes { id ... @defer { name } } } }`,
		`{ __typename }`,
	} {
		before := p.directCount("answered")
		p.compare(t, q, nil)
		if p.directCount("answered") != before {
			t.Errorf("the direct path answered %s", q)
		}
	}

	// A key without ORGANIZATION_READ gets gqlgen's error; a key with it alone is answered directly.
	d := p.direct.post(noRead, `{ organizations { totalCount } }`, nil)
	if len(d.Errors) != 1 || d.Errors[0].Extensions["code"] != string(domain.EFORBIDDEN) {
		t.Errorf("without ORGANIZATION_READ: %s", d.Raw)
	}
	before := p.directCount("answered")
	if r := p.direct.post(readOnly, `{ organizations { totalCount } }`, nil); len(r.Errors) != 0 {
		t.Errorf("with ORGANIZATION_READ: %s", r.Raw)
	}
	if p.directCount("answered") != before+1 {
		t.Error("the direct path did not answer a key holding ORGANIZATION_READ")
	}

	// Data the direct path cannot write (an organization without a default project) is handed back to
	// gqlgen, which reports it as always.
	_, err := p.direct.store.DB().ExecContext(context.Background(),
		`UPDATE projects SET is_default = false WHERE tenant_id = $1 AND organization_id =
		   (SELECT id FROM organizations WHERE tenant_id = $1 AND name = 'Plain')`, p.direct.actor.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	r := p.direct.post(p.direct.key, `{ organizations(first: 50) { nodes { name defaultProject { id } } } }`, nil)
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != string(domain.EINTERNAL) || !strings.Contains(p.direct.logs.String(), "has no default project") {
		t.Errorf("organization without a default project: %s", r.Raw)
	}
	if p.directCount("fallback") != 1 {
		t.Errorf("%v fallbacks, want 1", p.directCount("fallback"))
	}
}

// notDirect are the fields of the types the direct path writes that it leaves to gqlgen: a query
// selecting one of them is executed by gqlgen. A field added to one of these types must be added either
// to the direct path's tables (direct.go) or here.
var notDirect = map[string][]string{
	"Organization": {"headquarters", "contactEmails", "billingEmails", "privacyPolicyUrl", "termsOfServiceUrl",
		"coupons", "subscription", "primaryAdministrator", "details",
		"removedAt", "events", "invitations"},
	"Project": {"organization", "contactEmails", "sendFromEmail", "settings"},
	"Member":  {"user"},
}

var schema = graph.NewExecutableSchema(graph.Config{}).Schema()

// selectServed selects every field of typ that the direct path writes, and __typename; those of an
// object type select the same of theirs.
func selectServed(served map[string][]string, typ string) string {
	sel := []string{"__typename"}
	for _, name := range served[typ] {
		f := schema.Types[typ].Fields.ForName(name)
		if f.Arguments.ForName("first") != nil { // a connection below the list: small pages, for the complexity limit
			name += "(first: 1)"
		}
		if sub := f.Type.Name(); schema.Types[sub].Kind == ast.Object {
			name += " { " + selectServed(served, sub) + " }"
		}
		sel = append(sel, name)
	}
	return strings.Join(sel, " ")
}

// TestDirectPathFieldsAreClassified holds every field of the types the direct path writes to be either
// in its tables, and then in the query of TestDirectPathAnswersAsGqlgen, or in notDirect, and then left
// to gqlgen.
func TestDirectPathFieldsAreClassified(t *testing.T) {
	t.Parallel()
	served := graph.DirectFields()
	for _, typ := range []string{"OrganizationConnection", "OrganizationEdge", "PageInfo", "Organization", "Project", "Member"} {
		if _, ok := served[typ]; !ok {
			t.Errorf("the direct path has no table for %s", typ)
		}
	}
	for typ := range notDirect {
		if _, ok := served[typ]; !ok {
			t.Errorf("notDirect names %s, which the direct path does not write", typ)
		}
	}
	for typ, names := range served {
		def := schema.Types[typ]
		if def == nil {
			t.Errorf("the direct path writes %s, which the schema does not have", typ)
			continue
		}
		for _, n := range names {
			if def.Fields.ForName(n) == nil {
				t.Errorf("the direct path writes %s.%s, which the schema does not have", typ, n)
			}
			if slices.Contains(notDirect[typ], n) {
				t.Errorf("%s.%s is both written by the direct path and in notDirect", typ, n)
			}
		}
		for _, n := range notDirect[typ] {
			if def.Fields.ForName(n) == nil {
				t.Errorf("notDirect names %s.%s, which the schema does not have", typ, n)
			}
		}
		for _, f := range def.Fields {
			if !slices.Contains(names, f.Name) && !slices.Contains(notDirect[typ], f.Name) {
				t.Errorf("%s.%s is neither written by the direct path (direct.go) nor in notDirect", typ, f.Name)
			}
		}
	}

	// The fields of notDirect are gqlgen's indeed.
	p := newDirectPair(t)
	seedDirect(t, p.direct)
	within := map[string]string{"Organization": "%s", "Project": "projects { id %s }", "Member": "members { id %s }"}
	for typ, names := range notDirect {
		for _, n := range names {
			f := schema.Types[typ].Fields.ForName(n)
			if slices.ContainsFunc(f.Arguments, func(a *ast.ArgumentDefinition) bool { return a.Type.NonNull && a.DefaultValue == nil }) {
				continue // needs arguments: not in a generated query
			}
			if schema.Types[f.Type.Name()].Kind == ast.Object {
				n += " { __typename }"
			}
			q := `{ organizations(first: 3) { nodes { id ` + fmt.Sprintf(within[typ], n) + ` } } }`
			before := p.directCount("answered")
			p.compare(t, q, nil)
			if p.directCount("answered") != before {
				t.Errorf("the direct path answered %s", q)
			}
		}
	}
}

// TestDirectPathPanic makes the direct path panic after its reads: gqlgen answers the request instead,
// as it would have without the direct path, and the panic is counted and logged once with its stack.
func TestDirectPathPanic(t *testing.T) {
	t.Parallel()
	p := newDirectPair(t)
	seedDirect(t, p.direct)
	tenant := p.direct.actor.TenantID
	graph.SetDirectHook(t, func(ctx context.Context) {
		if a := domain.ActorFrom(ctx); a != nil && a.TenantID == tenant { // this test's requests alone
			panic("the direct path's test hook")
		}
	})
	r := p.compare(t, `{ organizations(first: 50) { totalCount nodes { id name defaultProject { name } owners { email } } } }`, nil)
	if r.Status != 200 || len(r.Errors) != 0 || len(r.Data["organizations"].(map[string]any)["nodes"].([]any)) != 10 {
		t.Errorf("after a panic: %d %s", r.Status, r.Raw)
	}
	if directCount(p.reg, "panic") != 1 || directCount(p.reg, "answered") != 0 || directCount(p.reg, "fallback") != 0 {
		t.Errorf("panic %v, answered %v, fallback %v: want 1, 0 and 0", directCount(p.reg, "panic"),
			directCount(p.reg, "answered"), directCount(p.reg, "fallback"))
	}
	var logged []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(p.direct.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["panic"] != nil {
			logged = append(logged, rec)
		}
	}
	if len(logged) != 1 {
		t.Fatalf("%d panics logged, want 1: %s", len(logged), p.direct.logs.String())
	}
	rec := logged[0]
	if rec["level"] != "ERROR" || rec["panic"] != "the direct path's test hook" || rec["tenant"] != tenant ||
		rec["operation"] != "query organizations" || rec["request_id"] == nil || rec["request_id"] == "" ||
		!strings.Contains(fmt.Sprint(rec["stack"]), "graph/direct.go") {
		t.Errorf("the panic's log: %v", rec)
	}
}

// TestDirectPathStatements counts what a direct list costs PostgreSQL: one statement for the page and one
// per relation, whatever the page size, each prepared once per connection (and page size) and then only
// executed.
func TestDirectPathStatements(t *testing.T) {
	s := dbtest.Open(t, packageURL, db.Options{Driver: dbtest.CountingDriver,
		MaxOpenConns: 1, AuthCacheTTL: time.Minute}) // the key is looked up once
	p := newDirectPairOn(t, s, "direct statements")
	a := p.direct
	for i := range 50 {
		a.createOK(map[string]any{"name": fmt.Sprintf("Counted %02d", i), "projects": []map[string]any{{"name": "Extra"}}})
	}
	const q = `query($n: Int) { organizations(first: $n) { edges { node { id name slug defaultProject { id name } projects { id name } owners { id email } } } } }`
	count := func(n int) (statements, prepares int64) {
		s0, p0 := dbtest.Statements.Load(), dbtest.Prepares.Load()
		r := a.post(a.key, q, map[string]any{"n": n})
		if len(r.Errors) != 0 || len(r.Data["organizations"].(map[string]any)["edges"].([]any)) != n {
			t.Fatalf("list of %d: %.300s", n, r.Raw)
		}
		return dbtest.Statements.Load() - s0, dbtest.Prepares.Load() - p0
	}
	count(5) // prepares the statements on the pool's connection (a statement per page size)
	count(50)
	for _, n := range []int{5, 50} {
		if st, pr := count(n); st != 3 || pr != 0 {
			t.Errorf("%d organizations: %d statements and %d prepares, want 3 and 0", n, st, pr)
		}
	}
	if p.directCount("answered") != 4 {
		t.Errorf("the direct path answered %v of 4 lists", p.directCount("answered"))
	}
}

// TestDirectPathTakesTurns: with MaxReads 1, a direct list read waits while another holds the store's
// only turn of reads, and runs once it is free.
func TestDirectPathTakesTurns(t *testing.T) {
	t.Parallel()
	s := dbtest.Open(t, packageURL, db.Options{MaxReads: 1})
	a := newAPIFor(t, s, "read turns")
	a.createOK(map[string]any{"name": "Turns"})
	const q = `{ organizations { nodes { name owners { role } } } }`
	const want = `{"data":{"organizations":{"nodes":[{"name":"Turns","owners":[{"role":"OWNER"}]}]}}}`
	if r := a.post(a.key, q, nil); r.Raw != want {
		t.Fatalf("a read with the turn free: %s", r.Raw)
	}

	release, err := s.ReadTurn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() { done <- a.post(a.key, q, nil).Raw }()
	select {
	case got := <-done:
		release()
		t.Fatalf("a read answered while the only turn was held: %s", got)
	case <-time.After(300 * time.Millisecond):
	}
	release()
	select {
	case got := <-done:
		if got != want {
			t.Errorf("the read after its turn: %s", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the read never ran once the turn was free")
	}
}

// TestDirectPathTextParameters runs the direct path on a connection without lib/pq's binary_parameters,
// where the organization ids go to PostgreSQL as a text array.
func TestDirectPathTextParameters(t *testing.T) {
	t.Parallel()
	s := dbtest.Open(t, packageURL+"&binary_parameters=no", db.Options{})
	p := newDirectPairOn(t, s, "tenant "+t.Name())
	seedDirect(t, p.gqlgen)
	p.compare(t, `{ organizations(first: 50) { nodes { id name defaultProject { id } projects { name } members { email role } } } }`, nil)
	if p.directCount("answered") != 1 {
		t.Error("the direct path did not answer")
	}
}

// TestDirectPathSessionTimeZone reads through a connection whose TimeZone is not UTC: cursors and times
// must still be gqlgen's.
func TestDirectPathSessionTimeZone(t *testing.T) {
	t.Parallel()
	s := dbtest.Open(t, packageURL+"&timezone=Europe/Paris", db.Options{})
	p := newDirectPairOn(t, s, "tenant "+t.Name())
	seedDirect(t, p.gqlgen)
	for _, order := range []string{"CREATED_AT", "NAME", "TOTAL_MEMBERS"} {
		r := p.compare(t, `{ organizations(first: 5, orderBy: {field: `+order+`, direction: ASC}) { pageInfo { startCursor endCursor }
  edges { cursor node { createdAt updatedAt statusChangedAt projects { createdAt } members { joinedAt } } } } }`, nil)
		if len(r.Errors) != 0 {
			t.Fatalf("order %s: %s", order, r.Raw)
		}
	}
	if p.directCount("answered") != 3 {
		t.Errorf("the direct path answered %v of 3 lists", p.directCount("answered"))
	}
}

// newOwnDatabaseAPI serves the handler, with its metrics in reg, over a database of its own for tests
// that lock or change tables, opened with params added to its URL; url is the database's.
func newOwnDatabaseAPI(t *testing.T, tenant, params string, opt db.Options) (a *api, reg *prometheus.Registry, url string) {
	t.Helper()
	url, drop, err := dbtest.NewDatabase("direct " + tenant)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drop) // after the stores of the test are closed
	s := dbtest.Open(t, url+params, opt)
	reg = prometheus.NewRegistry()
	hopt := graph.DefaultHandlerOptions
	hopt.Metrics = graph.NewMetrics(reg)
	return newAPIWith(t, s, tenant, hopt), reg, url
}

// TestDirectPathReadFailure makes the read of projects fail (a lock held by another transaction, and a
// lock_timeout): the direct path answers with gqlgen's error, at the field's path and without data, and
// does not read again through gqlgen.
func TestDirectPathReadFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, reg, url := newOwnDatabaseAPI(t, "failure", "&options=-c%20lock_timeout%3D200", db.Options{})
	a.createOK(map[string]any{"name": "Locked out"})
	const q = `{ organizations { nodes { name projects { name } } } }`

	locker := dbtest.Open(t, url, db.Options{})
	tx, err := locker.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `LOCK TABLE projects IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	r := a.post(a.key, q, nil)
	tx.Rollback()
	if r.Data != nil || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != string(domain.EINTERNAL) ||
		fmt.Sprint(r.Errors[0].Path) != "[organizations]" || r.Errors[0].Extensions["requestId"] == "" {
		t.Errorf("failed read: %s", r.Raw)
	}
	if !strings.Contains(a.logs.String(), "lock timeout") {
		t.Errorf("the cause is not logged: %s", a.logs.String())
	}
	if directCount(reg, "failed") != 1 || directCount(reg, "fallback") != 0 {
		t.Errorf("failed %v, fallback %v: want 1 and 0", directCount(reg, "failed"), directCount(reg, "fallback"))
	}
	if r := a.post(a.key, q, nil); len(r.Errors) != 0 || directCount(reg, "answered") != 1 {
		t.Errorf("after the lock: %s", r.Raw)
	}
}

// TestDirectPathManyShapes reads more shapes of lists (page sizes) than statements are kept prepared,
// from several goroutines: statements closed to make room must not fail the reads that use them.
func TestDirectPathManyShapes(t *testing.T) {
	t.Parallel()
	s := dbtest.Open(t, packageURL, db.Options{MaxOpenConns: 4})
	p := newDirectPairOn(t, s, "tenant "+t.Name())
	for i := range 3 {
		p.direct.createOK(map[string]any{"name": fmt.Sprintf("Shape %d", i)})
	}
	const q = `query($n: Int) { organizations(first: $n) { nodes { name projects { name } owners { email } } } }`
	var wg sync.WaitGroup
	errs := make(chan string, 8*100)
	for g := range 8 {
		wg.Go(func() {
			for n := 1; n <= 100; n++ {
				size := (n+g*13)%100 + 1
				r := p.direct.post(p.direct.key, q, map[string]any{"n": size})
				if len(r.Errors) != 0 || len(r.Data["organizations"].(map[string]any)["nodes"].([]any)) != min(size, 3) {
					errs <- r.Raw
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("list: %s", e)
	}
	if n := p.directCount("answered"); n != 800 {
		t.Errorf("the direct path answered %v of 800 lists", n)
	}
}

// TestDirectPathStaleStatement changes the type of a column that a prepared statement reads, as a
// migration would: the next read fails with PostgreSQL's "cached plan must not change result type" and
// is answered as a failed read, not run a second time; the statement is dropped, so that the read after
// it prepares it afresh and succeeds.
func TestDirectPathStaleStatement(t *testing.T) {
	t.Parallel()
	// One connection: the read after the change meets the statement prepared on it before.
	a, reg, _ := newOwnDatabaseAPI(t, "stale", "", db.Options{MaxOpenConns: 1})
	s := a.store
	a.createOK(map[string]any{"name": "Stale", "projects": []map[string]any{{"name": "Extra"}}})
	const q = `{ organizations { nodes { name projects { name } } } }`
	const want = `{"data":{"organizations":{"nodes":[{"name":"Stale","projects":[{"name":"Default project"},{"name":"Extra"}]}]}}}`

	if r := a.post(a.key, q, nil); r.Raw != want {
		t.Fatalf("before the change: %s", r.Raw)
	}
	if _, err := s.DB().ExecContext(context.Background(), `ALTER TABLE projects ALTER COLUMN name TYPE varchar(300)`); err != nil {
		t.Fatal(err)
	}
	r := a.post(a.key, q, nil)
	if r.Data != nil || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != string(domain.EINTERNAL) ||
		fmt.Sprint(r.Errors[0].Path) != "[organizations]" {
		t.Errorf("the read after the change: %s", r.Raw)
	}
	if !strings.Contains(a.logs.String(), "cached plan must not change result type") {
		t.Errorf("the cause is not logged: %s", a.logs.String())
	}
	if directCount(reg, "failed") != 1 {
		t.Errorf("failed %v, want 1", directCount(reg, "failed"))
	}
	if r := a.post(a.key, q, nil); r.Raw != want {
		t.Errorf("the read after the failed one: %s", r.Raw)
	}
	if directCount(reg, "answered") != 2 || directCount(reg, "failed") != 1 {
		t.Errorf("answered %v, failed %v: want 2 and 1", directCount(reg, "answered"), directCount(reg, "failed"))
	}
}

// TestDirectPathGoneCursor pages a relation after a cursor whose row is not in it: the direct path
// hands the operation to gqlgen, which reports it.
func TestDirectPathGoneCursor(t *testing.T) {
	t.Parallel()
	p := newDirectPair(t)
	p.direct.createOK(map[string]any{"name": "Gone"})
	gone := domain.Cursor{ID: "00000000-0000-4000-8000-000000000000"}.Encode()
	r := p.compare(t, `query($c: String) { organizations(first: 1) { nodes { projectsConnection(after: $c) { totalCount } } } }`,
		map[string]any{"c": gone})
	if len(r.Errors) != 1 || r.Data != nil || p.directCount("fallback") != 1 || p.directCount("answered") != 0 {
		t.Errorf("fallback %v, answered %v: %s", p.directCount("fallback"), p.directCount("answered"), r.Raw)
	}
}
