package graph

import (
	"context"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"orgs/domain"
	"orgs/graph/model"
)

// HandlerOptions tune the GraphQL endpoint.
type HandlerOptions struct {
	// Introspection allows __schema and __type queries (the playground needs them).
	Introspection bool
	// ComplexityLimit caps the cost of one operation (every field costs 1, nested lists multiply).
	ComplexityLimit int
	// MaxBodyBytes caps a request body.
	MaxBodyBytes int64
}

// DefaultHandlerOptions are the options the server starts with unless configured otherwise.
var DefaultHandlerOptions = HandlerOptions{Introspection: true, ComplexityLimit: 1000, MaxBodyBytes: 1 << 20}

// NewHandler returns the /query endpoint: authentication, then gqlgen with explicit transports (POST
// JSON, and GET for queries only; no multipart, no websockets), a parsed-query cache, automatic
// persisted queries, a complexity limit, the error presenter and panic recovery.
func NewHandler(r *Resolver, opt HandlerOptions) http.Handler {
	srv := handler.New(NewExecutableSchema(Config{
		Resolvers:  r,
		Directives: DirectiveRoot{HasPermission: hasPermission},
	}))
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	if opt.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](1000)})
	if opt.ComplexityLimit > 0 {
		srv.Use(extension.FixedComplexityLimit(opt.ComplexityLimit))
	}
	srv.SetErrorPresenter(errorPresenter(r.Logger))
	srv.SetRecoverFunc(recoverFunc(r.Logger))

	var h http.Handler = srv
	h = Authenticate(r.Store, r.Logger, opt.MaxBodyBytes, h)
	return limitBody(opt.MaxBodyBytes, h)
}

// limitBody caps the request body; gqlgen answers a larger one with an error.
func limitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if max > 0 {
			r.Body = http.MaxBytesReader(w, r.Body, max)
		}
		next.ServeHTTP(w, r)
	})
}

// hasPermission implements @hasPermission: the field resolves only for an actor holding the permission.
func hasPermission(ctx context.Context, _ any, next graphql.Resolver, permission model.Permission) (any, error) {
	actor := domain.ActorFrom(ctx)
	if actor == nil {
		return nil, domain.Errorf(domain.EUNAUTHENTICATED, "an API key is required")
	}
	if err := actor.Require(domain.Permission(permission)); err != nil {
		return nil, err
	}
	return next(ctx)
}
