package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"orgs/db"
	"orgs/domain"
)

// Reads that may lag go to the read replica (db/replica.go), decided once per operation: a query
// whose root fields are all `organizations` (lists and searches, with the relations of their
// organizations, whether gqlgen or the direct path answers it) reads from the replica while it is in
// use. Everything else reads from the primary: every mutation, with the reads of its payload (a
// request's own writes), a single organization by id or slug (so that a client reads an organization
// it has just created), the viewer, templates and API keys, and any query that mixes those with a
// list. One operation reads from one server, so its parts agree with each other. The authentication
// of the key, before the operation, always uses the primary (httpapi).

// readRouting is the gqlgen extension that routes an operation's reads: an OperationInterceptor.
type readRouting struct{ replica *db.Replica }

func (readRouting) ExtensionName() string { return "ReadRouting" }

func (readRouting) Validate(graphql.ExecutableSchema) error { return nil }

type readStoreKey struct{}

func (rr readRouting) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if !graphql.HasOperationContext(ctx) || !mayLag(graphql.GetOperationContext(ctx)) {
		return next(ctx)
	}
	s, onReplica := rr.replica.Reads()
	if !onReplica {
		return next(ctx)
	}
	ctx = context.WithValue(ctx, readStoreKey{}, s)
	if a := domain.ActorFrom(ctx); a != nil {
		// The operation's own loaders, on the replica: the relations of the lists come from there too.
		ctx = context.WithValue(ctx, loadersKey{}, newLoaders(s, a.TenantID))
	}
	return next(ctx)
}

// mayLag tells whether an operation may read from the replica: a query whose root fields are all
// `organizations` (or __typename), at least one.
func mayLag(op *graphql.OperationContext) bool {
	if op == nil || op.Operation == nil || op.Operation.Operation != ast.Query {
		return false
	}
	lists := 0
	for _, f := range graphql.CollectFields(op, op.Operation.SelectionSet, []string{"Query"}) {
		switch f.Name {
		case "organizations":
			lists++
		case "__typename":
		default:
			return false
		}
	}
	return lists > 0
}

// readStore returns the store the operation of ctx reads from: the replica's when readRouting chose it,
// primary otherwise.
func readStore(ctx context.Context, primary *db.Store) *db.Store {
	if s, ok := ctx.Value(readStoreKey{}).(*db.Store); ok {
		return s
	}
	return primary
}

// reads returns the store the operation of ctx reads from (readStore).
func (r *Resolver) reads(ctx context.Context) *db.Store { return readStore(ctx, r.Store) }
