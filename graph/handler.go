package graph

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/rs/cors"
	"github.com/vektah/gqlparser/v2/ast"

	"orgs/domain"
	"orgs/graph/model"
)

// HandlerOptions tune the GraphQL endpoint.
type HandlerOptions struct {
	// Introspection allows __schema and __type queries (the playground needs them).
	Introspection bool
	// ComplexityLimit caps the cost of one operation: every field costs 1, and a list field multiplies
	// the cost of its selection by its page size (10 when it has none).
	ComplexityLimit int
	// MaxBodyBytes caps a request body (413 beyond).
	MaxBodyBytes int64
	// RequestTimeout bounds the work of one request.
	RequestTimeout time.Duration
	// Limits bound the size and shape of a document before it is validated.
	Limits QueryLimits
	// RateLimiter, when set, limits the requests per API key.
	RateLimiter *RateLimiter
	// Metrics, when set, records every operation.
	Metrics *Metrics
	// APQCache holds automatic persisted queries; nil keeps them in process.
	APQCache graphql.Cache[string]
	// CORSOrigins are the origins browsers may call the API from ("*" for any); none by default.
	CORSOrigins []string
	// GqlgenOnly turns the direct path of organization lists off (direct.go): every operation is then
	// executed by gqlgen field by field.
	GqlgenOnly bool
}

// DefaultHandlerOptions are the options the server starts with unless configured otherwise.
var DefaultHandlerOptions = HandlerOptions{
	// 25000 lets a page of 100 organizations carry all their relations, and stops a page of 100 whose
	// elements page 100 more.
	Introspection: true, ComplexityLimit: 25000, MaxBodyBytes: 1 << 20, RequestTimeout: 30 * time.Second,
	Limits: DefaultQueryLimits,
}

// NewHandler returns the /query endpoint. In the order a request meets them: CORS, the guard (method,
// content type, body size, UTF-8, batches, deadline), the document limits, authentication, the rate
// limit of the authenticated key, then gqlgen with explicit transports (POST JSON, and GET for queries only; no
// multipart, no websockets), a parsed-query cache, automatic persisted queries, a complexity limit, the
// direct path of organization lists, the error presenter and panic recovery.
func NewHandler(r *Resolver, opt HandlerOptions) http.Handler {
	cfg := Config{Resolvers: r, Directives: DirectiveRoot{HasPermission: hasPermission}}
	listCosts(&cfg.Complexity)
	es := NewExecutableSchema(cfg)
	srv := handler.New(es)
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(postJSON{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	if opt.Limits.MaxTokens > 0 {
		srv.SetParserTokenLimit(opt.Limits.MaxTokens)
	}
	if opt.Introspection {
		srv.Use(extension.Introspection{})
	}
	apq := opt.APQCache
	if apq == nil {
		apq = lru.New[string](1000)
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: apq})
	if opt.ComplexityLimit > 0 {
		srv.Use(extension.FixedComplexityLimit(opt.ComplexityLimit))
	}
	if opt.Metrics != nil {
		srv.Use(metricsExtension{opt.Metrics})
	}
	if !opt.GqlgenOnly { // after the metrics, which then count its answers
		logger := r.Logger
		if logger == nil {
			logger = slog.Default()
		}
		srv.Use(directReads{es: es.(*executableSchema), store: r.Store, metrics: opt.Metrics, logger: logger})
	}
	srv.SetErrorPresenter(errorPresenter(r.Logger))
	srv.SetRecoverFunc(recoverFunc(r.Logger))

	var h http.Handler = srv
	h = withLoaders(r.Store, h)
	h = GraphQLOverHTTP(h)
	if opt.RateLimiter != nil {
		h = opt.RateLimiter.Middleware(h)
	}
	h = Authenticate(r.Store, r.Logger, h)
	h = LimitQueries(opt.Limits, h)
	h = Guard(opt.MaxBodyBytes, opt.RequestTimeout, h)
	return cors.New(cors.Options{
		AllowedOrigins: opt.CORSOrigins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost},
		AllowedHeaders: []string{"Authorization", "X-API-Key", "Content-Type", "Accept", "Idempotency-Key",
			"X-Organization-ID", "X-Request-ID", "Apollo-Require-Preflight"},
		ExposedHeaders: []string{"X-Request-ID", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"},
		MaxAge:         600,
	}).Handler(h)
}

// listPageCost is what a list field without paging arguments multiplies the cost of its selection by:
// the size of a typical list.
const listPageCost = 10

// listCosts makes every list field cost its selection times listPageCost, so that nested lists add up
// as the rows they would fetch.
func listCosts(c *ComplexityRoot) {
	perItem := func(child int) int { return 1 + listPageCost*child }
	c.Organization.Projects = perItem
	c.Organization.Owners = perItem
	c.Organization.Members = perItem
	c.Organization.Domains = perItem
	c.Organization.CustomAttributes = perItem
	c.Query.OrganizationTemplates = perItem
	c.OrganizationTemplate.CustomAttributeDefinitions = perItem
	// Connections cost their selection times the page they ask for.
	page := func(first, last *int) int {
		for _, n := range []*int{first, last} {
			if n != nil && *n > 0 {
				return *n
			}
		}
		return domain.DefaultPageSize
	}
	c.Query.Organizations = func(child int, first *int, _ *string, last *int, _ *string, _ *model.OrganizationFilter, _ *model.OrganizationOrder) int {
		return 1 + page(first, last)*child
	}
	c.Organization.MembersConnection = func(child int, _ *model.MemberRole, _ *model.MemberStatus, first *int, _ *string) int {
		return 1 + page(first, nil)*child
	}
	c.Organization.ProjectsConnection = func(child int, first *int, _ *string) int {
		return 1 + page(first, nil)*child
	}
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
