package graph

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/validator"
)

// operation is the operation context gqlgen builds for query, name and vars, before its mutators run.
func operation(t *testing.T, es graphql.ExecutableSchema, query, name string, vars map[string]any) *graphql.OperationContext {
	t.Helper()
	doc, errs := gqlparser.LoadQueryWithRules(es.Schema(), query, nil)
	if errs != nil {
		t.Fatalf("parse %q: %v", query, errs)
	}
	op := doc.Operations.ForName(name)
	values, err := validator.VariableValues(es.Schema(), op, vars)
	if err != nil {
		t.Fatalf("variables: %v", err)
	}
	return &graphql.OperationContext{RawQuery: query, OperationName: name, Doc: doc, Operation: op, Variables: values}
}

// The complexity of an operation without variables is computed once for its text and name; one with
// variables, or with a text longer than maxKeptQuery, is computed for each request, and the limit holds
// either way.
func TestComplexityIsKeptForOperationsWithoutVariables(t *testing.T) {
	cfg := Config{}
	listCosts(&cfg.Complexity)
	es := NewExecutableSchema(cfg)
	c := newComplexityLimit(600)
	if err := c.Validate(es); err != nil {
		t.Fatal(err)
	}
	calculations := 0
	calculate := c.calculate
	c.calculate = func(ctx context.Context, es graphql.ExecutableSchema, op *graphql.OperationContext) int {
		calculations++
		return calculate(ctx, es, op)
	}
	gqlgens := extension.FixedComplexityLimit(600) // what this extension must answer as
	if err := gqlgens.Validate(es); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	check := func(query, name string, vars map[string]any, wantCost int, wantRejected bool, wantCalculations int) {
		t.Helper()
		op, same := operation(t, es, query, name, vars), operation(t, es, query, name, vars)
		want := gqlgens.MutateOperationContext(ctx, same)
		err := c.MutateOperationContext(ctx, op)
		if !reflect.DeepEqual(err, want) ||
			!reflect.DeepEqual(op.Stats.GetExtension("ComplexityLimit"), same.Stats.GetExtension("ComplexityLimit")) {
			t.Fatalf("%s (%v): error %#v and stats %+v, gqlgen's %#v and %+v", op.RawQuery, op.Variables,
				err, op.Stats.GetExtension("ComplexityLimit"), want, same.Stats.GetExtension("ComplexityLimit"))
		}
		if (err != nil) != wantRejected {
			t.Fatalf("%s (%v): error %v, want rejected %v", op.RawQuery, op.Variables, err, wantRejected)
		}
		if err != nil && err.Extensions["code"] != "COMPLEXITY_LIMIT_EXCEEDED" {
			t.Fatalf("error %v: extensions %v", err, err.Extensions)
		}
		// As gqlgen's extension records them.
		stats := extension.GetComplexityStats(graphql.WithOperationContext(ctx, op))
		if stats == nil || stats.Complexity != wantCost || stats.ComplexityLimit != 600 {
			t.Fatalf("%s (%v): stats %+v, want complexity %d of 600", op.RawQuery, op.Variables, stats, wantCost)
		}
		if calculations != wantCalculations {
			t.Fatalf("%s (%v): %d calculations, want %d", op.RawQuery, op.Variables, calculations, wantCalculations)
		}
	}

	// 1 + 50 × (1 + 1 + (1 + 10 × 1)) = 651 for a page of 50 with its projects' ids.
	const two = `query Small { organizations(first: 5) { nodes { id } } } query Big { organizations(first: 50) { nodes { id projects { id } } } }`
	check(two, "Small", nil, 1+5*(1+1), false, 1)
	check(two, "Small", nil, 11, false, 1)
	check(two, "Big", nil, 1+50*(1+1+(1+10)), true, 2)
	check(two, "Big", nil, 651, true, 2)

	long := `{ organization(slug: "` + strings.Repeat("x", maxKeptQuery) + `") { id } }`
	check(long, "", nil, 1+1, false, 3)
	check(long, "", nil, 2, false, 4)

	const vars = `query List($n: Int) { organizations(first: $n) { nodes { id } } }`
	check(vars, "List", map[string]any{"n": 5}, 11, false, 5)
	check(vars, "List", map[string]any{"n": 500}, 1+500*2, true, 6)
	check(vars, "List", map[string]any{"n": 5}, 11, false, 7)
}
