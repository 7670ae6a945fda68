package graph_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Operations are counted by outcome: a mutation whose payload carries userErrors is a user_error, one
// with GraphQL errors an error.
func TestOperationMetricsOutcomes(t *testing.T) {
	t.Parallel()
	a, reg := newMeteredAPI(t, store, "metrics")
	a.createOK(map[string]any{"name": "Metrics Org"})
	if errs := userErrors(a.create(a.key, map[string]any{"name": ""})); len(errs) == 0 {
		t.Fatal("an empty name has no userErrors")
	}
	reader, _ := a.newKey("reader")
	if r := a.post(reader, createMutation, map[string]any{"input": map[string]any{"name": "Forbidden"}}); len(r.Errors) == 0 {
		t.Fatalf("create without permission: %s", r.Raw)
	}
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{
		`orgs_graphql_operations_total{operation="mutation createOrganization",outcome="ok"} 1`,
		`orgs_graphql_operations_total{operation="mutation createOrganization",outcome="user_error"} 1`,
		`orgs_graphql_operations_total{operation="mutation createOrganization",outcome="error"} 1`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, rec.Body.String())
		}
	}
}

// gqlgen executes, field by field, only the operations the direct path leaves to it: a list and a
// create it answers start no execution, a read of one organization does.
func TestGqlgenExecutesWhatTheDirectPathLeaves(t *testing.T) {
	t.Parallel()
	a, reg := newMeteredAPI(t, store, "gqlgen-executions")
	executions := func() float64 { return counterValue(reg, "orgs_graphql_gqlgen_executions_total") }
	r := a.post(a.key, `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) {
		organization { id name projects { name } owners { role } } userErrors { code } } }`,
		map[string]any{"input": map[string]any{"name": "Executed Org"}})
	if len(r.Errors) > 0 {
		t.Fatalf("create: %s", r.Raw)
	}
	id := r.Data["createOrganization"].(map[string]any)["organization"].(map[string]any)["id"].(string)
	if r := a.post(a.key, `{ organizations(first: 5) { nodes { id name projects { name } owners { role } } } }`, nil); len(r.Errors) > 0 {
		t.Fatalf("list: %s", r.Raw)
	}
	if n := executions(); n != 0 {
		t.Fatalf("a create and a list the direct path answered: %v executions by gqlgen, want 0", n)
	}
	if r := a.post(a.key, `query($id: ID!) { organization(id: $id) { name } }`, map[string]any{"id": id}); len(r.Errors) > 0 {
		t.Fatalf("read: %s", r.Raw)
	}
	if n := executions(); n != 1 {
		t.Fatalf("a read of one organization: %v executions by gqlgen, want 1", n)
	}
}
