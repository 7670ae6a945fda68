package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"orgs/db"
	"orgs/domain"
	"orgs/httpapi"
)

// errorPresenter is the one place where errors become GraphQL errors. Domain errors keep their safe
// message and get extensions.code; gqlgen's own parse, validation and coercion errors pass unchanged;
// errors that say the database cannot be reached (db.Unavailable) are UNAVAILABLE, not logged;
// anything else is logged once, with the request id, and answered as INTERNAL_SERVER_ERROR without detail.
func errorPresenter(logger *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		var de *domain.Error
		switch {
		case errors.As(err, &de):
			gqlErr.Message = de.Message
			gqlErr.Extensions = map[string]any{"code": string(de.Code)}
			if de.Permission != "" {
				gqlErr.Extensions["permission"] = string(de.Permission)
			}
			return gqlErr
		case isGraphQLError(err):
			return gqlErr
		case db.Unavailable(err):
			// Not a defect: the transport answers the whole request 503 with Retry-After; the request's
			// own log line is enough, and the store logs the outage once.
			gqlErr.Message = httpapi.UnavailableMessage
			gqlErr.Extensions = map[string]any{"code": string(domain.EUNAVAILABLE), "requestId": httpapi.RequestIDFrom(ctx)}
			return gqlErr
		}
		var logged *loggedError
		if !errors.As(err, &logged) {
			logger.ErrorContext(ctx, "internal error", "error", err.Error(), "path", gqlErr.Path.String())
		}
		gqlErr.Message = "internal server error"
		gqlErr.Extensions = map[string]any{"code": string(domain.EINTERNAL), "requestId": httpapi.RequestIDFrom(ctx)}
		return gqlErr
	}
}

// isGraphQLError reports whether err is one of gqlgen's own errors: parse, validation and variable
// coercion errors, whose messages are about the request and safe to show. gqlgen wraps what resolvers
// return in a *gqlerror.Error too, but with the resolver's error as its cause: those are not safe.
func isGraphQLError(err error) bool {
	gqlErr, ok := err.(*gqlerror.Error)
	return ok && gqlErr.Err == nil
}

// loggedError is an internal error whose detail has been logged already (a recovered panic).
type loggedError struct{ msg string }

func (e *loggedError) Error() string { return e.msg }

// recoverFunc turns a panic in a resolver into an internal error, logging its stack once.
func recoverFunc(logger *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		logger.ErrorContext(ctx, "panic in resolver", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return &loggedError{msg: "panic"}
	}
}
