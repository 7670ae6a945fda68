package graph

import (
	"context"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// complexityLimit is gqlgen's extension.FixedComplexityLimit, with the complexity of an operation that
// declares no variables kept by its text and name: nothing else can change it (the costs of listCosts
// read only the arguments, and without variables they are literals in the text), and walking the
// selection of a list of 50 organizations with their relations took 4 % of the server's CPU per read.
// Operations with variables are walked each time, as their variables may change their cost. Its
// errors, status and statistics (extension.GetComplexityStats) are gqlgen's.
type complexityLimit struct {
	limit int
	es    graphql.ExecutableSchema
	known *lru.Cache[complexityKey, int]
	// calculate is complexity.Calculate (tests count its calls).
	calculate func(context.Context, graphql.ExecutableSchema, *graphql.OperationContext) int
}

type complexityKey struct{ query, operation string }

// complexityCacheSize bounds the operations whose complexity is kept, as the query cache bounds the
// parsed documents, and maxKeptQuery the length of their text: the texts kept take at most 16 MiB.
const (
	complexityCacheSize = 1000
	maxKeptQuery        = 16 << 10
)

func newComplexityLimit(limit int) *complexityLimit {
	known, err := lru.New[complexityKey, int](complexityCacheSize)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return &complexityLimit{limit: limit, known: known, calculate: func(ctx context.Context, es graphql.ExecutableSchema, op *graphql.OperationContext) int {
		return complexity.Calculate(ctx, es, op.Operation, op.Variables)
	}}
}

var _ interface {
	graphql.OperationContextMutator
	graphql.HandlerExtension
} = &complexityLimit{}

// ExtensionName is gqlgen's, so that extension.GetComplexityStats reads what this one records.
func (c *complexityLimit) ExtensionName() string { return "ComplexityLimit" }

func (c *complexityLimit) Validate(es graphql.ExecutableSchema) error {
	c.es = es
	return nil
}

func (c *complexityLimit) MutateOperationContext(ctx context.Context, op *graphql.OperationContext) *gqlerror.Error {
	cost := c.cost(ctx, op)
	op.Stats.SetExtension(c.ExtensionName(), &extension.ComplexityStats{Complexity: cost, ComplexityLimit: c.limit})
	if cost > c.limit {
		err := gqlerror.Errorf("operation has complexity %d, which exceeds the limit of %d", cost, c.limit)
		errcode.Set(err, "COMPLEXITY_LIMIT_EXCEEDED")
		return err
	}
	return nil
}

// cost is the operation's complexity: kept from an earlier request when the operation declares no
// variables and its text is not longer than maxKeptQuery.
func (c *complexityLimit) cost(ctx context.Context, op *graphql.OperationContext) int {
	if op.Operation == nil || len(op.Operation.VariableDefinitions) > 0 || len(op.RawQuery) > maxKeptQuery {
		return c.calculate(ctx, c.es, op)
	}
	key := complexityKey{op.RawQuery, op.OperationName}
	if n, ok := c.known.Get(key); ok {
		return n
	}
	n := c.calculate(ctx, c.es, op)
	c.known.Add(key, n)
	return n
}
