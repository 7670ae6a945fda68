// Package graph is the GraphQL layer: gqlgen's generated executor, thin resolvers that convert between
// the API's types and the domain's, the directives, the loaders, the direct path of organization lists,
// the GraphQL operation metrics, the one error presenter, and the transports that answer over HTTP the
// requests the front door (package httpapi) read.
package graph

import (
	"log/slog"

	"orgs/db"
	"orgs/realtime"
	"orgs/service"
)

// Resolver holds the dependencies of the resolvers. gqlgen never regenerates this file. Mutations go
// through the Service (the write use cases); reads go to the Store.
type Resolver struct {
	Store   *db.Store
	Service *service.Service
	Logger  *slog.Logger
	// Events delivers the subscriptions' events; nil serves no WebSockets.
	Events *realtime.Hub
}
