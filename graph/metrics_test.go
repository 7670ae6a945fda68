package graph_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"orgs/graph"
)

// Operations are counted by outcome: a mutation whose payload carries userErrors is a user_error, one
// with GraphQL errors an error.
func TestOperationMetricsOutcomes(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	opt := graph.DefaultHandlerOptions
	opt.Metrics = graph.NewMetrics(reg)
	a := newAPIWith(t, store, "metrics", opt)
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
