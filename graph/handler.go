package graph

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"orgs/db"
	"orgs/domain"
	"orgs/graph/model"
	"orgs/httpapi"
)

// HandlerOptions tune the GraphQL handler.
type HandlerOptions struct {
	// Introspection allows __schema and __type queries (the playground needs them).
	Introspection bool
	// ComplexityLimit caps the cost of one operation: every field costs 1, and a list field multiplies
	// the cost of its selection by its page size (10 when it has none).
	ComplexityLimit int
	// TokenLimit caps the lexical tokens of a document gqlgen parses (0: no limit).
	TokenLimit int
	// Metrics, when set, records every operation.
	Metrics *Metrics
	// APQCache holds automatic persisted queries; nil keeps them in process.
	APQCache graphql.Cache[string]
	// GqlgenOnly turns the direct path of organization lists (direct.go) and of the create's answer
	// (created.go) off: every operation is then executed by gqlgen field by field.
	GqlgenOnly bool
	// WebSocket tunes the WebSocket transport, served when the Resolver has Events (subscriptions).
	WebSocket WebSocketOptions
}

// DefaultHandlerOptions are the options the server starts with unless configured otherwise.
var DefaultHandlerOptions = HandlerOptions{
	// 25000 lets a page of 100 organizations carry all their relations, and stops a page of 100 whose
	// elements page 100 more.
	Introspection: true, ComplexityLimit: 25000, TokenLimit: httpapi.DefaultQueryLimits.MaxTokens,
	WebSocket: DefaultWebSocketOptions,
}

// NewHandler returns the GraphQL handler of /query: gqlgen with its own transports (POST JSON, and GET
// for queries only; no multipart; transport.go), WebSockets for subscriptions when the Resolver has
// Events (websocket.go), a parsed-query cache, automatic
// persisted queries, a complexity limit, the direct path of organization lists, the error presenter and
// panic recovery, and the loaders of each request. It serves the requests httpapi.Endpoint let through:
// it reads their parameters and response media type from the context (httpapi.GraphQLRequestFrom), and
// the actor from domain.ActorFrom.
func NewHandler(r *Resolver, opt HandlerOptions) http.Handler {
	cfg := Config{Resolvers: r, Directives: DirectiveRoot{HasPermission: hasPermission}}
	listCosts(&cfg.Complexity)
	es := NewExecutableSchema(cfg)
	srv := handler.New(lazyExec{es, opt.Metrics})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(getJSON{})
	srv.AddTransport(postJSON{})
	ss := &sockets{m: map[*socket]struct{}{}}
	if r.Events != nil {
		ws := opt.WebSocket
		if ws.Authenticator == nil && r.Store != nil {
			ws.Authenticator = r.Store
		}
		srv.AddTransport(websocketTransport(ws))
		r.Events.OnShutdown(func() { ss.closeAll(CloseGoingAway, "server shutting down") })
		srv.AroundOperations(announceMutations(r.Events))
		srv.AroundOperations(socketLoaders(r.Store))
	}
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	if opt.TokenLimit > 0 {
		srv.SetParserTokenLimit(opt.TokenLimit)
	}
	if opt.Introspection {
		srv.Use(extension.Introspection{})
	}
	apq := opt.APQCache
	if apq == nil {
		apq = lru.New[string](1000)
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: apq})
	srv.Use(socketLimits{limits: opt.WebSocket.Limits})
	if opt.ComplexityLimit > 0 {
		srv.Use(newComplexityLimit(opt.ComplexityLimit))
	}
	if opt.Metrics != nil {
		srv.Use(metricsExtension{opt.Metrics})
	}
	if rep := r.Store.ReadReplica(); rep != nil {
		srv.Use(readRouting{rep}) // lists may read from the replica (replica.go)
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
	return withSockets(ss, withLoaders(r.Store, srv))
}

// lazyExec is the executable schema whose execution of a query or mutation starts when its first
// response is asked for, not when the operation is dispatched: the direct path (direct.go, created.go)
// answers most lists and creates before that, and gqlgen's Exec builds for every operation an execution
// context and, by reflection, a map of the unmarshalers of every input type of the schema. A
// subscription starts at once, as gqlgen starts it.
type lazyExec struct {
	graphql.ExecutableSchema
	metrics *Metrics // counts the executions started (orgs_graphql_gqlgen_executions_total)
}

func (l lazyExec) Exec(ctx context.Context) graphql.ResponseHandler {
	if op := graphql.GetOperationContext(ctx); op.Operation == nil || op.Operation.Operation == ast.Subscription {
		return l.ExecutableSchema.Exec(ctx)
	}
	var responses graphql.ResponseHandler
	return func(rctx context.Context) *graphql.Response {
		if responses == nil {
			l.metrics.countGqlgenExecution()
			responses = l.ExecutableSchema.Exec(ctx)
		}
		return responses(rctx)
	}
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
	c.Organization.Events = func(child int, first *int, _ *string, _ []string) int {
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

// socketLoaders gives each query and mutation sent over a WebSocket the loaders withLoaders gives an
// HTTP request: a socket's operations have no request of their own, and the caller is known only once
// the connection is initialised. Without them, a relation of an organization (its projects, owners...)
// failed over a socket. Subscriptions get none: a loader's cache would outlive the data of the events.
func socketLoaders(store *db.Store) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		if loadersFrom(ctx) == nil {
			op := graphql.GetOperationContext(ctx).Operation
			if a := domain.ActorFrom(ctx); a != nil && op != nil && op.Operation != ast.Subscription {
				ctx = context.WithValue(ctx, loadersKey{}, newLoaders(store, a.TenantID))
			}
		}
		return next(ctx)
	}
}

// announceMutations tells the hub, after each mutation, that events may have been committed, so that the
// subscriptions of every replica read them now (realtime.Hub.Announce) rather than at their next poll.
func announceMutations(hub interface{ Announce() }) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		respond := next(ctx)
		if op := graphql.GetOperationContext(ctx).Operation; op == nil || op.Operation != ast.Mutation {
			return respond
		}
		return func(ctx context.Context) *graphql.Response {
			resp := respond(ctx)
			hub.Announce()
			return resp
		}
	}
}
